package protocol

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// The agent connection runs over TLS 1.3. The dispatcher holds a cluster CA
// (created on its first start) and presents a certificate it signed, with
// the CA certificate at the end of the chain. Agents trust that CA by pin:
// the SHA-256 of its certificate, which they get with their enrollment
// token (kernel command line, or a file for process agents). The agent
// then proves itself with the token, inside the encrypted channel.

// ServerName is the name in the dispatcher's agent-facing certificate and
// the name agents check, whatever address they dial: nodes reach the
// dispatcher by IP, and the IP may change without the CA changing.
const ServerName = "ramfarm-dispatcher"

const pinPrefix = "sha256:"

// CAPin returns the pin of a CA certificate (DER): "sha256:" and the hex
// SHA-256 of the certificate.
func CAPin(der []byte) string {
	sum := sha256.Sum256(der)
	return pinPrefix + hex.EncodeToString(sum[:])
}

// PinOfPEM returns the pin of the PEM certificate in b, as read from a
// dispatcher's STATE_DIR/ca.crt.
func PinOfPEM(b []byte) (string, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate")
	}
	return CAPin(block.Bytes), nil
}

// ValidCAPin reports whether pin has the form CAPin returns.
func ValidCAPin(pin string) bool {
	h, ok := strings.CutPrefix(pin, pinPrefix)
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// AgentTLS returns the TLS configuration an agent dials the dispatcher with:
// the dispatcher must present a chain, for ServerName, that ends in the CA
// whose pin is pin.
//
// Certificate dates are not checked. A node that just booted from the
// network has only its hardware clock, often wrong on real machines (a dead
// CMOS battery says 2000), and learns the time from the dispatcher only
// once connected; rejecting the dispatcher for a date the node cannot know
// would strand it. The pinned CA key, not the date, is what the node trusts.
func AgentTLS(pin string) (*tls.Config, error) {
	if !ValidCAPin(pin) {
		return nil, fmt.Errorf("CA pin %q: want sha256: and 64 hex digits", truncate(pin, 80))
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: ServerName,
		// Go's own verification would check the dates against our clock
		// (see above) and needs the CA up front; VerifyConnection does
		// the whole check instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyDispatcher(cs.PeerCertificates, pin)
		},
	}, nil
}

// ErrUntrustedDispatcher is returned when the dispatcher's certificate does
// not chain to the pinned CA.
var ErrUntrustedDispatcher = errors.New("dispatcher certificate not signed by the pinned cluster CA")

func verifyDispatcher(chain []*x509.Certificate, pin string) error {
	if len(chain) < 2 {
		return fmt.Errorf("%w: the dispatcher sent %d certificates, want its own and the CA's", ErrUntrustedDispatcher, len(chain))
	}
	ca := chain[len(chain)-1]
	if CAPin(ca.Raw) != pin {
		return fmt.Errorf("%w: its CA is %s, we trust %s", ErrUntrustedDispatcher, CAPin(ca.Raw), pin)
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	for _, c := range chain[1 : len(chain)-1] {
		intermediates.AddCert(c)
	}
	leaf := chain[0]
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, DNSName: ServerName,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		CurrentTime: leaf.NotBefore, // dates unchecked: see AgentTLS
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrustedDispatcher, err)
	}
	return nil
}
