package pxe

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ipxeNames are the iPXE builds firmware may be pointed to (firmware.go),
// plus snponly.efi for boards whose NIC the native drivers handle badly.
var ipxeNames = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"}

// ipxeFiles are the iPXE binaries, read into memory when the server starts
// and served by name over TFTP and HTTP.
//
// Why not straight from the directory: Debian's ipxe package makes
// /usr/lib/ipxe/ipxe.efi a symlink to /boot/ipxe.efi, which serving through
// an os.Root refuses as leaving the directory, so every UEFI client failed
// with the package's own layout. The names are a fixed list, so nothing but
// these few files can be reached whatever a client asks for, and the
// symlinks the admin's directory holds are followed once, at start. Two
// files of a few hundred kilobytes each cost nothing to keep in memory, and
// a rack booting at once reads them from there.
type ipxeFiles map[string]ipxeFile

type ipxeFile struct {
	data    []byte
	modTime time.Time
	etag    string
}

// loadIPXE reads the iPXE binaries of dir. A missing one is logged (a site
// without UEFI machines may lack ipxe.efi); none at all is an error.
func loadIPXE(dir string, log *slog.Logger) (ipxeFiles, error) {
	files := ipxeFiles{}
	var missing []error
	for _, name := range ipxeNames {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path) // follows symlinks: see ipxeFiles
		if err != nil {
			missing = append(missing, err)
			continue
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		files[name] = ipxeFile{data: data, modTime: info.ModTime(), etag: fmt.Sprintf(`"%x"`, sum[:12])}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no iPXE binaries in %s (apt-get install ipxe): %w", dir, errors.Join(missing...))
	}
	for _, err := range missing {
		log.Warn("iPXE binary missing: firmware that needs it cannot boot", "err", err)
	}
	return files, nil
}

// open returns the binary a client asked for. Firmware asks for
// "/undionly.kpxe" as often as for "undionly.kpxe", meaning the same file.
func (f ipxeFiles) open(name string) (*bytes.Reader, ipxeFile, error) {
	file, ok := f[strings.TrimPrefix(name, "/")]
	if !ok {
		return nil, ipxeFile{}, fmt.Errorf("%q: %w (served: %s)", name, fs.ErrNotExist, strings.Join(f.names(), ", "))
	}
	return bytes.NewReader(file.data), file, nil
}

func (f ipxeFiles) names() []string {
	var out []string
	for _, n := range ipxeNames {
		if _, ok := f[n]; ok {
			out = append(out, n)
		}
	}
	return out
}
