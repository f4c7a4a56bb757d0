package pxe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

var errNotFilePath = errors.New("not a plain relative file path")

// openFile opens a regular file by its slash-separated path below root, for
// TFTP and HTTP alike. Names with "..", "." or empty elements are refused
// outright; os.Root then refuses whatever still leads outside the root,
// symbolic links included.
func openFile(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	if !fs.ValidPath(name) || name == "." {
		return nil, nil, fmt.Errorf("%q: %w", name, errNotFilePath)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%q is not a regular file", name)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}
