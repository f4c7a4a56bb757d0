package protocol

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// MaxFrame bounds one message on the wire. A result carries at most
// MaxOutput bytes of stdout and of stderr; JSON encodes those bytes as
// base64 (4/3 larger), and the rest of the message is small.
const MaxFrame = 4 << 20

// MaxOutput is the most stdout (and, separately, stderr) a result carries.
// Agents truncate longer output and say so in the result's Error.
const MaxOutput = 1 << 20

// Errors a Conn reports. Any of them means the peer is broken or hostile:
// the connection is closed, and nothing else is affected.
var (
	ErrFrameTooLarge = errors.New("frame larger than the protocol limit")
	ErrUnknownType   = errors.New("unknown message type")
	ErrMalformed     = errors.New("malformed message")
)

// envelope is a frame's JSON body: the message type and its fields.
type envelope struct {
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
}

// Conn reads and writes framed messages: a 4-byte big-endian length, then
// that many bytes of JSON envelope. Receive is for one goroutine; Send may be
// called from several.
//
// It keeps no buffers of its own. Agent connections are TLS, which reads a
// whole record at a time and serves small reads from it, and SendAll hands
// the stream each batch in one write; buffers here would only add 8 KB to
// every idle connection, 80 MB for a dispatcher with 10,000 nodes.
type Conn struct {
	r io.Reader

	wmu sync.Mutex
	w   io.Writer
}

// NewConn wraps a stream (usually a TLS connection).
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{r: rw, w: rw}
}

// Send writes one message and flushes it.
func (c *Conn) Send(m Message) error {
	return c.SendAll(m)
}

// SendAll writes messages in one write: a writer with several messages
// waiting sends them in one system call (and, over TLS, as few records as
// they fit in) rather than one each. If any message cannot be encoded, none
// is sent.
func (c *Conn) SendAll(msgs ...Message) error {
	buf := sendBuffers.Get().(*[]byte)
	defer putSendBuffer(buf)
	batch := (*buf)[:0]
	for _, m := range msgs {
		var err error
		if batch, err = appendFrame(batch, m); err != nil {
			return err
		}
	}
	*buf = batch
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.w.Write(batch)
	return err
}

// sendBuffers are the batches SendAll encodes into, shared by every
// connection: a dispatcher with thousands of idle agents holds no buffer
// per connection, and a busy one allocates none per message.
var sendBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer keeps the rare large batch (a result with megabytes of
// output) from staying in the pool.
const maxPooledBuffer = 64 << 10

func putSendBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		sendBuffers.Put(b)
	}
}

// Receive reads the next message. Errors wrapping ErrFrameTooLarge,
// ErrUnknownType or ErrMalformed describe a protocol violation; others come
// from the stream (io.EOF when the peer closed cleanly).
func (c *Conn) Receive() (Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, MaxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return Decode(body)
}

// Encode returns the frame for m, length prefix included.
func Encode(m Message) ([]byte, error) {
	return appendFrame(nil, m)
}

func errFrameSize(t Type, n int) error {
	return fmt.Errorf("encode %s: %w: %d bytes", t, ErrFrameTooLarge, n)
}

// Decode parses one frame body (without its length prefix).
func Decode(body []byte) (Message, error) {
	if m, ok := decodeFast(body); ok {
		return m, nil
	}
	return decodeJSON(body)
}

// decodeJSON is Decode with encoding/json alone: every frame decodeFast
// does not take, and the judge of what a frame means.
func decodeJSON(body []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	m := newMessage(env.Type)
	if m == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, truncate(string(env.Type), 64))
	}
	if len(env.Body) == 0 || string(env.Body) == "null" {
		return nil, fmt.Errorf("%w: %s without a body", ErrMalformed, env.Type)
	}
	if err := json.Unmarshal(env.Body, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, env.Type, err)
	}
	if v, ok := m.(validator); ok {
		if err := v.validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return m, nil
}

// IsViolation reports whether err is the peer breaking the protocol, as
// opposed to the stream failing.
func IsViolation(err error) bool {
	return errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrUnknownType) || errors.Is(err, ErrMalformed)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Duration travels as whole milliseconds, readable in captures and by
// non-Go peers.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Milliseconds())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want milliseconds: %v", err)
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
