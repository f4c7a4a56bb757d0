package initramfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// writeArtifact writes dir/name through write, hashing it on the way. The
// content goes to a temporary file first and is renamed into place only
// when complete.
func writeArtifact(dir, name string, write func(io.Writer) error) (Artifact, error) {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return Artifact{}, err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed

	hash := sha256.New()
	err = write(io.MultiWriter(f, hash))
	if err == nil {
		// CreateTemp makes it 0600; whatever serves the images may not run as us.
		err = f.Chmod(0o644)
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return Artifact{}, err
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(f.Name(), path); err != nil {
		return Artifact{}, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Name: name, Size: info.Size(), SHA256: hex.EncodeToString(hash.Sum(nil))}, nil
}
