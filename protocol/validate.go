package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Limits on field values. A message outside them is malformed: it would
// either be a bug in the peer or an attempt to make the other side allocate
// or loop without bound.
const (
	MaxSlots   = 4096 // cores (and so slots) a node may claim
	maxTextLen = 256  // hostnames, boot ids, reasons
	maxRunning = 4096 // task references in one Hello or Heartbeat

	MaxProfileName = 64 // bytes in a boot profile's name
)

// validator is implemented by messages whose fields need checking beyond
// what JSON decoding does.
type validator interface {
	validate() error
}

func (h *Hello) validate() error {
	if _, err := net.ParseMAC(h.MAC); err != nil {
		return fmt.Errorf("hello: bad mac %q", truncate(h.MAC, 32))
	}
	if h.Cores < 1 || h.Cores > MaxSlots {
		return fmt.Errorf("hello: cores %d outside 1..%d", h.Cores, MaxSlots)
	}
	if len(h.Hostname) > maxTextLen || len(h.BootID) > maxTextLen || len(h.Token) > maxTextLen {
		return fmt.Errorf("hello: a text field is longer than %d bytes", maxTextLen)
	}
	if h.BootID == "" {
		return fmt.Errorf("hello: empty boot id")
	}
	if h.Profile != "" && !ValidProfileName(h.Profile) {
		return fmt.Errorf("hello: bad profile name %q", truncate(h.Profile, 32))
	}
	return validateRefs("hello", h.Running)
}

func (h *Heartbeat) validate() error { return validateRefs("heartbeat", h.Running) }

func (r *Request) validate() error {
	if r.Slots < 1 || r.Slots > MaxSlots {
		return fmt.Errorf("request: slots %d outside 1..%d", r.Slots, MaxSlots)
	}
	return nil
}

func (t *Task) validate() error {
	if t.ID == 0 || t.Command == "" {
		return fmt.Errorf("task: needs an id and a command")
	}
	return t.Limits.Validate()
}

// Bounds of Limits: beyond them a value is a mistake, not a wish.
const (
	MaxTaskPids = 1 << 22 // the kernel's pid_max ceiling
)

// Validate reports a limit outside what a node could enforce.
func (l Limits) Validate() error {
	switch {
	case l.CPUs < 0 || l.CPUs > MaxSlots:
		return fmt.Errorf("limits: cpus %g outside 0..%d", l.CPUs, MaxSlots)
	case l.Pids < 0 || l.Pids > MaxTaskPids:
		return fmt.Errorf("limits: pids %d outside 0..%d", l.Pids, MaxTaskPids)
	}
	return nil
}

func (r *Result) validate() error {
	if r.ID == 0 {
		return fmt.Errorf("result: needs a task id")
	}
	if len(r.Stdout) > MaxOutput || len(r.Stderr) > MaxOutput {
		return fmt.Errorf("result: output over %d bytes", MaxOutput)
	}
	return nil
}

// Bounds of a Log message: a batch a second of a busy console fits.
const (
	MaxLogLines   = 512
	MaxLogLineLen = 2048
)

func (l *Log) validate() error {
	if len(l.Lines) > MaxLogLines || l.Dropped < 0 {
		return fmt.Errorf("log: %d lines (limit %d), %d dropped", len(l.Lines), MaxLogLines, l.Dropped)
	}
	for _, line := range l.Lines {
		if len(line.Text) > MaxLogLineLen || len(line.Source) > 16 {
			return fmt.Errorf("log: a line longer than %d bytes", MaxLogLineLen)
		}
	}
	return nil
}

func (c *Command) validate() error {
	if c.Op == "" || len(c.Op) > maxTextLen {
		return fmt.Errorf("command: op missing or longer than %d bytes", maxTextLen)
	}
	if c.Op == OpCancel && (c.Task == nil || c.Task.ID == 0) {
		return fmt.Errorf("command: cancel needs a task")
	}
	if c.Op == OpKexec {
		if c.Boot == nil {
			return fmt.Errorf("command: kexec needs a boot image")
		}
		return c.Boot.Validate()
	}
	return nil
}

// MaxCmdline is the x86 kernel's COMMAND_LINE_SIZE less its terminating NUL.
const MaxCmdline = 2047

// Validate reports a boot image a node could not fetch or check: URLs that
// are not http:// (what the dispatcher's boot server speaks and the agent
// fetches; the digests, not the transport, vouch for the files), digests
// that are not sha256 in hex, a command line the kernel would truncate.
func (b *BootImage) Validate() error {
	for _, f := range []struct{ what, url, sum string }{
		{"kernel", b.Kernel, b.KernelSHA256},
		{"initrd", b.Initrd, b.InitrdSHA256},
	} {
		u, err := url.Parse(f.url)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return fmt.Errorf("boot image: %s URL %q is not an http:// URL", f.what, truncate(f.url, 80))
		}
		if sum, err := hex.DecodeString(f.sum); err != nil || len(sum) != sha256.Size || strings.ToLower(f.sum) != f.sum {
			return fmt.Errorf("boot image: %s sha256 %q is not %d lowercase hex digits", f.what, truncate(f.sum, 80), 2*sha256.Size)
		}
	}
	if len(b.Cmdline) > MaxCmdline {
		return fmt.Errorf("boot image: command line of %d bytes, limit %d", len(b.Cmdline), MaxCmdline)
	}
	return nil
}

func (r *Reject) validate() error {
	if len(r.Reason) > maxTextLen {
		r.Reason = truncate(r.Reason, maxTextLen)
	}
	return nil
}

func validateRefs(what string, refs []TaskRef) error {
	if len(refs) > maxRunning {
		return fmt.Errorf("%s: %d running tasks, limit %d", what, len(refs), maxRunning)
	}
	for _, r := range refs {
		if r.ID == 0 {
			return fmt.Errorf("%s: running task without an id", what)
		}
	}
	return nil
}

// ValidProfileName reports whether name can name a boot profile: 1 to
// MaxProfileName letters, digits, '.', '_' or '-'. The name travels in the
// node's kernel command line and back in its Hello, and is shown in the node
// table, so it has no room for spaces, quotes or anything needing escapes.
func ValidProfileName(name string) bool {
	if name == "" || len(name) > MaxProfileName {
		return false
	}
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '.' || r == '_' || r == '-':
		default:
			return false
		}
	}
	return true
}
