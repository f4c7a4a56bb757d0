package dispatcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ramfarm/ramfarm/protocol"
)

// The cluster CA lives in the state directory, created on the first start
// and kept for good: nodes pin it, so replacing it means every node must
// boot again with the new pin.
const (
	caCertFile = "ca.crt" // PEM certificate, world-readable: the pin is not a secret
	caKeyFile  = "ca.key" // PEM PKCS#8 private key, 0600
)

// loadOrCreateCA returns the cluster CA of stateDir, creating it on first
// start. A certificate without its key (or the reverse) is an error, not a
// reason to make a new CA behind the nodes' backs.
func loadOrCreateCA(stateDir string) (*protocol.CA, error) {
	certPath, keyPath := filepath.Join(stateDir, caCertFile), filepath.Join(stateDir, caKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		ca, err := protocol.ParseCA(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("cluster CA in %s: %w", stateDir, err)
		}
		return ca, nil
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		return createCA(certPath, keyPath)
	default:
		return nil, fmt.Errorf("cluster CA in %s: need both %s and %s: %v", stateDir, caCertFile, caKeyFile, errors.Join(certErr, keyErr))
	}
}

func createCA(certPath, keyPath string) (*protocol.CA, error) {
	ca, err := protocol.NewCA()
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	certPEM, keyPEM, err := ca.PEM()
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	// The key first: a crash in between leaves a key without a certificate,
	// which the next start reports rather than silently replacing.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("cluster CA key: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("cluster CA certificate: %w", err)
	}
	return ca, nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it into place: a crash leaves the old file or the new, never half.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
