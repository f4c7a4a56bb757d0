package initramfs

import (
	"errors"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage/initramfs"
)

// zstdCPIO is where mkuimage writes the image: a zstd-compressed newc
// archive, the format the kernel unpacks into its rootfs. zstd rather than
// gzip: the kernel unpacks it several times faster (with gzip, unpacking
// took a third of a node's boot under TCG) and it is smaller. Both the
// custom kernel (CONFIG_RD_ZSTD) and Debian's read it.
// unpacked, if not nil, receives the size of the archive before
// compression: what the node's RAM holds once the kernel has unpacked it.
type zstdCPIO struct {
	w        io.Writer
	unpacked *int64
}

func (g zstdCPIO) OpenWriter() (initramfs.Writer, error) {
	// One goroutine: zstd's parallel encoding is not byte-for-byte
	// reproducible across machines with different core counts.
	zw, err := zstd.NewWriter(g.w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	counter := &countingWriter{w: zw, n: g.unpacked}
	if counter.n == nil {
		counter.n = new(int64)
	}
	// A zstd frame holds no file name or mtime: same input, same bytes.
	return &zstdCPIOWriter{records: cpio.Newc.Writer(counter), zw: zw}, nil
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

type zstdCPIOWriter struct {
	records cpio.RecordWriter
	zw      *zstd.Encoder
}

// WriteRecord writes r with every host-specific field (mtime, uid, inode)
// zeroed. mkuimage already does so for most records; doing it here covers
// all of them.
func (w *zstdCPIOWriter) WriteRecord(r cpio.Record) error {
	r = cpio.MakeReproducible(r)
	if r.Name == "." {
		// mkuimage adds its private build directory (mode 0700) as the
		// archive root, and the kernel gives / that mode: tasks running
		// as another user could not even look up /bin.
		r.Mode = cpio.S_IFDIR | 0o755
	}
	return w.records.WriteRecord(r)
}

func (w *zstdCPIOWriter) Finish() error {
	return errors.Join(cpio.WriteTrailer(w.records), w.zw.Close())
}
