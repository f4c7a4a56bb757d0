package protocol

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The hot messages (a task, its result, the ack, the request for the next
// one) go through a hand-written encoder and decoder: with encoding/json
// they cost the dispatcher about a fifth of its CPU per task, most of it
// reflection and scanning every body twice (once inside the envelope, once
// on its own).
//
// Both are exact stand-ins for encoding/json, not a dialect of it:
//   - the encoder writes byte for byte what json.Marshal writes (the tests
//     compare them), falling back to json.Marshal for any value it does
//     not spell itself (a string needing escapes, limits);
//   - the decoder accepts only the plain form the encoder writes; at the
//     first thing it does not expect (escapes, unknown or re-cased keys,
//     null, spaces, fractions) it gives up and the frame goes through
//     encoding/json as before, so what is accepted and what is refused, and
//     why, are unchanged (a fuzz test holds the two paths to agreement).

// appendFrame appends m's frame, length prefix included, to b.
func appendFrame(b []byte, m Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	typ := string(m.Type())
	if plainString(typ) {
		b = append(append(append(b, `{"type":"`...), typ...), `","body":`...)
	} else {
		b = append(b, `{"type":`...)
		b = appendMarshal(b, typ)
		b = append(b, `,"body":`...)
	}
	b, err := appendBody(b, m)
	if err != nil {
		return b[:start], fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	b = append(b, '}')
	n := len(b) - start - 4
	if n > MaxFrame {
		return b[:start], errFrameSize(m.Type(), n)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// appendBody appends m's JSON, as json.Marshal(m) would write it.
func appendBody(b []byte, m Message) ([]byte, error) {
	switch m := m.(type) {
	case *Request:
		return append(strconv.AppendInt(append(b, `{"slots":`...), int64(m.Slots), 10), '}'), nil
	case *ResultAck:
		return append(appendRefFields(append(b, '{'), m.TaskRef), '}'), nil
	case *Task:
		if m.Limits == (Limits{}) {
			return appendTask(b, m), nil
		}
	case *Result:
		return appendResult(b, m)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return b, err
	}
	return append(b, body...), nil
}

func appendRefFields(b []byte, r TaskRef) []byte {
	b = strconv.AppendUint(append(b, `"id":`...), r.ID, 10)
	return strconv.AppendInt(append(b, `,"attempt":`...), int64(r.Attempt), 10)
}

// appendTask writes a task without limits (omitzero leaves them out).
func appendTask(b []byte, t *Task) []byte {
	b = appendRefFields(append(b, '{'), t.TaskRef)
	b = appendString(append(b, `,"command":`...), t.Command)
	if t.Timeout != 0 {
		b = strconv.AppendInt(append(b, `,"timeout":`...), time.Duration(t.Timeout).Milliseconds(), 10)
	}
	return append(b, '}')
}

func appendResult(b []byte, r *Result) ([]byte, error) {
	b = appendRefFields(append(b, '{'), r.TaskRef)
	b = strconv.AppendInt(append(b, `,"exit_code":`...), int64(r.ExitCode), 10)
	if r.Error != "" {
		b = appendString(append(b, `,"error":`...), r.Error)
	}
	if len(r.Stdout) > 0 {
		b = append(base64.StdEncoding.AppendEncode(append(b, `,"stdout":"`...), r.Stdout), '"')
	}
	if len(r.Stderr) > 0 {
		b = append(base64.StdEncoding.AppendEncode(append(b, `,"stderr":"`...), r.Stderr), '"')
	}
	b = append(b, `,"started":`...)
	started, err := r.Started.MarshalJSON()
	if err != nil {
		return b, err
	}
	b = append(b, started...)
	b = strconv.AppendInt(append(b, `,"duration":`...), time.Duration(r.Duration).Milliseconds(), 10)
	return append(b, '}'), nil
}

// appendString appends s as a JSON string, as json.Marshal would.
func appendString(b []byte, s string) []byte {
	if plainString(s) {
		return append(append(append(b, '"'), s...), '"')
	}
	return appendMarshal(b, s)
}

func appendMarshal(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// plainString reports whether s is printable ASCII that JSON (with
// encoding/json's HTML escaping) writes unchanged between quotes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}

func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// decodeFast decodes a frame body of the plain form appendFrame writes for
// the hot messages. ok is false when the body is of any other form; the
// caller then decodes it with encoding/json.
func decodeFast(body []byte) (m Message, ok bool) {
	const prefix, infix = `{"type":"`, `","body":`
	s := scanner{b: body}
	if !s.literal(prefix) {
		return nil, false
	}
	typ, ok := s.plainBytes()
	if !ok || !s.literal(infix[1:]) || len(body) == 0 || body[len(body)-1] != '}' {
		return nil, false
	}
	s.b = body[:len(body)-1] // the body object ends one before the envelope
	// Converted in the switch, the bytes are compared without a copy.
	switch Type(typ) {
	case TypeRequest:
		r := &Request{}
		ok = s.object(func(key []byte) bool {
			if string(key) == "slots" {
				return s.int(&r.Slots)
			}
			return false
		})
		m = r
	case TypeResultAck:
		a := &ResultAck{}
		ok = s.object(func(key []byte) bool { return s.refField(key, &a.TaskRef) })
		m = a
	case TypeTask:
		t := &Task{}
		ok = s.object(func(key []byte) bool {
			switch string(key) {
			case "command":
				return s.string(&t.Command)
			case "timeout":
				return s.millis(&t.Timeout)
			}
			return s.refField(key, &t.TaskRef)
		})
		m = t
	case TypeResult:
		r := &Result{}
		ok = s.object(func(key []byte) bool {
			switch string(key) {
			case "exit_code":
				return s.int(&r.ExitCode)
			case "error":
				return s.string(&r.Error)
			case "stdout":
				return s.base64(&r.Stdout)
			case "stderr":
				return s.base64(&r.Stderr)
			case "started":
				return s.time(&r.Started)
			case "duration":
				return s.millis(&r.Duration)
			}
			return s.refField(key, &r.TaskRef)
		})
		m = r
	case TypeHeartbeat:
		// Decoded only: a dispatcher reads one per node per period, ten
		// thousand a second in a large cluster; an agent sends one.
		h := &Heartbeat{}
		ok = s.object(func(key []byte) bool {
			switch string(key) {
			case "load1":
				return s.float(&h.Load1)
			case "mem_available_bytes":
				return s.uint(&h.MemAvailableBytes)
			case "running":
				return s.refs(&h.Running)
			}
			return false
		})
		m = h
	default:
		return nil, false
	}
	if !ok || s.i != len(s.b) {
		return nil, false
	}
	if v, isV := m.(validator); isV && v.validate() != nil {
		return nil, false // the slow path says why
	}
	return m, true
}

// scanner reads the plain JSON that decodeFast accepts. Each method
// reports false at anything else.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// plainBytes reads the rest of a string whose opening quote has been
// read: plain bytes up to the closing quote. The bytes are the scanner's.
func (s *scanner) plainBytes() ([]byte, bool) {
	start := s.i
	for s.i < len(s.b) && plainByte(s.b[s.i]) {
		s.i++
	}
	if s.i == len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	s.i++
	return s.b[start : s.i-1], true
}

// quoted reads a whole string of plain bytes, quotes included.
func (s *scanner) quoted() ([]byte, bool) {
	if !s.literal(`"`) {
		return nil, false
	}
	return s.plainBytes()
}

// object reads a non-empty object, calling field for each key with the
// scanner at the key's value.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.literal(`{"`) {
		return false
	}
	for {
		key, ok := s.plainBytes()
		if !ok || !s.literal(":") || !field(key) {
			return false
		}
		if s.literal("}") {
			return true
		}
		if !s.literal(`,"`) {
			return false
		}
	}
}

func (s *scanner) refField(key []byte, r *TaskRef) bool {
	switch string(key) {
	case "id":
		return s.uint(&r.ID)
	case "attempt":
		return s.int(&r.Attempt)
	}
	return false
}

// number reads an integer as JSON writes it: an optional minus, then 0 or
// digits without a leading zero. Fractions, exponents and values beyond
// 64 bits are refused.
func (s *scanner) number() (magnitude uint64, negative, ok bool) {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		negative = true
		s.i++
	}
	digits := s.i
	for ; s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9'; s.i++ {
		d := uint64(s.b[s.i] - '0')
		if magnitude > (math.MaxUint64-d)/10 {
			return 0, false, false
		}
		magnitude = magnitude*10 + d
	}
	n := s.i - digits
	return magnitude, negative, n > 0 && (n == 1 || s.b[digits] != '0')
}

// float reads a number as JSON writes it (-?int, optional fraction and
// exponent) into a float64, as encoding/json does, with strconv. Out of
// range is left to encoding/json, which says why.
func (s *scanner) float(v *float64) bool {
	start := s.i
	if _, _, ok := s.number(); !ok {
		return false
	}
	if s.literal(".") && !s.digits() {
		return false
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	*v = f
	return err == nil
}

// digits reads one or more decimal digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// refs reads a non-empty array of task references; an empty one is left to
// encoding/json (it decodes to an empty, non-nil slice).
func (s *scanner) refs(v *[]TaskRef) bool {
	if !s.literal("[") {
		return false
	}
	*v = nil
	for {
		var r TaskRef
		if !s.object(func(key []byte) bool { return s.refField(key, &r) }) {
			return false
		}
		*v = append(*v, r)
		if s.literal("]") {
			return true
		}
		if !s.literal(",") {
			return false
		}
	}
}

// int64 reads a signed integer within [min, max].
func (s *scanner) int64(min, max int64) (int64, bool) {
	m, neg, ok := s.number()
	switch {
	case !ok:
		return 0, false
	case neg && m <= uint64(-(min+1))+1:
		return -int64(m-1) - 1, true
	case !neg && m <= uint64(max):
		return int64(m), true
	}
	return 0, false
}

func (s *scanner) int(v *int) bool {
	n, ok := s.int64(math.MinInt, math.MaxInt)
	*v = int(n)
	return ok
}

func (s *scanner) uint(v *uint64) bool {
	m, neg, ok := s.number()
	*v = m
	return ok && !neg // encoding/json refuses even -0 for an unsigned field
}

// millis reads a Duration as Duration.UnmarshalJSON does.
func (s *scanner) millis(d *Duration) bool {
	ms, ok := s.int64(math.MinInt64, math.MaxInt64)
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return ok
}

func (s *scanner) string(v *string) bool {
	b, ok := s.quoted()
	*v = string(b)
	return ok
}

// base64 reads a []byte as encoding/json does; empty strings are left to
// it (it decodes them to an empty, non-nil slice).
func (s *scanner) base64(v *[]byte) bool {
	b, ok := s.quoted()
	if !ok || len(b) == 0 {
		return false
	}
	out, err := base64.StdEncoding.AppendDecode(nil, b)
	*v = out
	return err == nil
}

func (s *scanner) time(t *time.Time) bool {
	b, ok := s.quoted()
	return ok && t.UnmarshalText(b) == nil
}
