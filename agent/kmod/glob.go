package kmod

// match reports whether name matches the shell glob pattern, the way
// modprobe matches modaliases against modules.alias: fnmatch(3) without
// FNM_PATHNAME, so '*' also matches '/' (path.Match would stop there).
// Supported: '*', '?', and bracket classes with ranges and '!' or '^'
// negation. An unterminated '[' is a literal.
func match(pattern, name string) bool {
	p, n := 0, 0
	// Where to resume after the last '*': the pattern just past it, and
	// the next name position that '*' has not yet swallowed.
	star, starName := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; {
			case c == '*':
				star, starName = p, n
				p++
				continue
			case c == '?':
				p++
				n++
				continue
			case c == '[':
				if matched, width := matchClass(pattern[p:], name[n]); width > 0 {
					if matched {
						p += width
						n++
						continue
					}
				} else if name[n] == '[' {
					p++
					n++
					continue
				}
			case c == name[n]:
				p++
				n++
				continue
			}
		}
		if star < 0 {
			return false
		}
		starName++
		p, n = star+1, starName
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the bracket class at the start of class
// (which begins with '['). width is the length of the class in the pattern,
// or 0 if it has no closing ']'.
func matchClass(class string, c byte) (matched bool, width int) {
	i := 1
	negate := i < len(class) && (class[i] == '!' || class[i] == '^')
	if negate {
		i++
	}
	// A ']' right after the opening bracket is a member, not the end.
	for first := true; i < len(class); first = false {
		lo := class[i]
		if lo == ']' && !first {
			return matched != negate, i + 1
		}
		hi := lo
		if i+2 < len(class) && class[i+1] == '-' && class[i+2] != ']' {
			hi = class[i+2]
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
		i++
	}
	return false, 0
}
