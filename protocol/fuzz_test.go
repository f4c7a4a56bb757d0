package protocol

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary frame bodies to the decoder: it must never
// panic, and whatever it accepts must survive a round trip.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"hello","body":{"version":1,"mac":"52:54:00:00:00:01","cores":2,"boot_id":"b"}}`,
		`{"type":"hello","body":{"version":1,"mac":"52:54:00:00:00:01","cores":2,"boot_id":"b","profile":"tools"}}`,
		`{"type":"request","body":{"slots":1}}`,
		`{"type":"result","body":{"id":1,"attempt":1,"exit_code":0,"stdout":"aGk="}}`,
		`{"type":"task","body":{"id":1,"attempt":1,"command":"true","timeout":1000}}`,
		`{"type":"command","body":{"op":"reboot"}}`,
		`{"type":"command","body":{"op":"cancel","task":{"id":4,"attempt":2}}}`,
		`{"type":"command","body":{"op":"kexec","boot":{"kernel":"http://10.0.0.1/boot/vmlinuz","kernel_sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","initrd":"http://10.0.0.1/boot/i.img","initrd_sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","cmdline":"BOOTIF=01-52-54-00-00-00-01"}}}`,
		`{"type":"log","body":{"lines":[{"time":"2026-11-21T08:00:00Z","source":"kernel","text":"e1000: eth0 NIC Link is Up"}],"dropped":3}}`,
		`{"type":"heartbeat","body":{"load1":1.5,"running":[{"id":3,"attempt":1}]}}`,
		`{"type":"x"}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		if err != nil {
			if m != nil {
				t.Fatalf("error %v with a message", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := NewConn(&buf).Send(m); err != nil {
			t.Fatalf("accepted %s cannot be re-encoded: %v", m.Type(), err)
		}
		again, err := NewConn(&buf).Receive()
		if err != nil || again.Type() != m.Type() {
			t.Fatalf("re-encoded %s does not decode: %v", m.Type(), err)
		}
	})
}
