package protocol

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CA is a cluster CA: what the dispatcher keeps to prove itself to agents.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewCA creates a cluster CA with an ECDSA P-256 key, valid for 30 years:
// nodes pin it, so it lives as long as the cluster.
func NewCA() (*CA, error) {
	cert, key, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "ramfarm cluster CA"},
		NotAfter:              time.Now().AddDate(30, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key}, nil
}

// ParseCA reads a CA from its PEM certificate and PEM PKCS#8 key, checking
// that they belong together.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("CA certificate or key is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("not a CA certificate with a signing key")
	}
	// The key must be the certificate's, or every node would refuse us.
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("the key is not the certificate's")
	}
	return &CA{cert: cert, key: key}, nil
}

// PEM returns the CA's certificate and private key in PEM.
func (ca *CA) PEM() (certPEM, keyPEM []byte, err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// Pin is what nodes are given to trust this CA (see CAPin).
func (ca *CA) Pin() string { return CAPin(ca.cert.Raw) }

// ServerTLS signs a fresh key for the dispatcher's agent listener, valid for
// ServerName, and returns the listener's TLS configuration. The key lives in
// memory only: a new one on every start costs nothing, since nodes trust the
// CA, not this certificate.
func (ca *CA) ServerTLS() (*tls.Config, error) {
	cert, key, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: ServerName},
		DNSNames:    []string{ServerName},
		NotAfter:    time.Now().AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The CA travels with the chain: nodes hold only its pin.
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw, ca.cert.Raw}, PrivateKey: key}},
	}, nil
}

// issue makes an ECDSA P-256 key and a certificate for it from tmpl, with a
// random serial, valid from an hour ago (clocks differ a little), signed
// by ca, or by itself if ca is nil.
func issue(tmpl *x509.Certificate, ca *CA) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = randomSerial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
