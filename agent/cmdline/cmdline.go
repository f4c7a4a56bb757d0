// Package cmdline reads the kernel command line, where PXE boot passes the
// node its parameters (BOOTIF from iPXE, ramfarm.* from the dispatcher).
package cmdline

import (
	"os"
	"strings"
)

// Parse splits a kernel command line into key=value pairs. A parameter
// without '=' maps to "". Double quotes group words, as the kernel does:
// `msg="a b"` and `"msg=a b"` both give msg -> "a b". When a key repeats,
// the last value wins, which is how the kernel treats most parameters.
// Everything after a lone "--" is init's argv, not kernel parameters, and
// is left out.
func Parse(s string) map[string]string {
	params := make(map[string]string)
	for _, word := range words(s) {
		if word == "--" {
			break
		}
		key, value, _ := strings.Cut(word, "=")
		params[key] = value
	}
	return params
}

// Read parses /proc/cmdline.
func Read() (map[string]string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, err
	}
	return Parse(string(b)), nil
}

// words splits s at whitespace outside double quotes and drops the quotes.
func words(s string) []string {
	var (
		out     []string
		word    strings.Builder
		inWord  bool
		inQuote bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case isSpace(r) && !inQuote:
			if inWord {
				out = append(out, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, word.String())
	}
	return out
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r'
}
