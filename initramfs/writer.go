package initramfs

import (
	"compress/gzip"
	"errors"
	"io"

	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage/initramfs"
)

// gzipCPIO is where mkuimage writes the image: a gzip-compressed newc
// archive, the format the kernel unpacks into its rootfs.
// unpacked, if not nil, receives the size of the archive before
// compression: what the node's RAM holds once the kernel has unpacked it.
type gzipCPIO struct {
	w        io.Writer
	unpacked *int64
}

func (g gzipCPIO) OpenWriter() (initramfs.Writer, error) {
	zw, err := gzip.NewWriterLevel(g.w, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	counter := &countingWriter{w: zw, n: g.unpacked}
	if counter.n == nil {
		counter.n = new(int64)
	}
	// The zero gzip.Header has no file name and no mtime: same input,
	// same bytes.
	return &gzipCPIOWriter{records: cpio.Newc.Writer(counter), zw: zw}, nil
}

type countingWriter struct {
	w io.Writer
	n *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

type gzipCPIOWriter struct {
	records cpio.RecordWriter
	zw      *gzip.Writer
}

// WriteRecord writes r with every host-specific field (mtime, uid, inode)
// zeroed. mkuimage already does so for most records; doing it here covers
// all of them.
func (w *gzipCPIOWriter) WriteRecord(r cpio.Record) error {
	r = cpio.MakeReproducible(r)
	if r.Name == "." {
		// mkuimage adds its private build directory (mode 0700) as the
		// archive root, and the kernel gives / that mode: tasks running
		// as another user could not even look up /bin.
		r.Mode = cpio.S_IFDIR | 0o755
	}
	return w.records.WriteRecord(r)
}

func (w *gzipCPIOWriter) Finish() error {
	return errors.Join(cpio.WriteTrailer(w.records), w.zw.Close())
}
