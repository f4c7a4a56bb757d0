package protocol

import (
	"crypto/tls"
	"errors"
	"io"

	"testing"
)

func TestAgentTLSTrustsOnlyThePinnedCA(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	other, _ := NewCA()
	for _, tc := range []struct {
		name string
		pin  string
		ok   bool
	}{
		{"pinned CA", ca.Pin(), true},
		{"another CA", other.Pin(), false},
	} {
		conf, err := AgentTLS(tc.pin)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), conf)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrUntrustedDispatcher) {
			t.Errorf("%s: got %v, want ErrUntrustedDispatcher", tc.name, err)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestBadPinsAreRefused(t *testing.T) {
	for _, pin := range []string{"", "sha256:", "sha1:00", "sha256:" + string(make([]byte, 64)), "sha256:zz" + CAPin(nil)[9:]} {
		if _, err := AgentTLS(pin); err == nil {
			t.Errorf("AgentTLS(%q) accepted a bad pin", pin)
		}
	}
}

// A CA read back from its PEM files is the same CA, and a key that is not
// the certificate's is refused.
func TestCARoundTripsThroughPEM(t *testing.T) {
	ca, _ := NewCA()
	certPEM, keyPEM, err := ca.PEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCA(certPEM, keyPEM)
	if err != nil || back.Pin() != ca.Pin() {
		t.Fatalf("ParseCA: %v, pin %v", err, back)
	}
	other, _ := NewCA()
	_, otherKey, _ := other.PEM()
	if _, err := ParseCA(certPEM, otherKey); err == nil {
		t.Fatal("ParseCA accepted a key that is not the certificate's")
	}
	if _, err := ParseCA([]byte("junk"), keyPEM); err == nil {
		t.Fatal("ParseCA accepted junk")
	}
}
