package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// fileDigest is what a downloaded file must match, byte for byte.
type fileDigest struct {
	Size   int64
	SHA256 string // hex
}

func digestFile(name string) (fileDigest, error) {
	f, err := os.Open(name)
	if err != nil {
		return fileDigest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileDigest{}, err
	}
	return fileDigest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// tftpBlockSize is what PXE ROMs and iPXE ask for on Ethernet: the largest
// block that fits a 1500-byte frame with IP, UDP and TFTP headers.
const tftpBlockSize = 1468

// fetcher downloads over TFTP or HTTP the way one node's firmware does: one
// file at a time, each from the start.
type fetcher struct {
	http *http.Client // this node's own connections
}

func newFetcher() *fetcher {
	return &fetcher{http: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
}

func (f *fetcher) close() { f.http.CloseIdleConnections() }

// fetchAttempts bounds how often a download is started over after an error,
// as firmware retries a failed boot file a few times before giving up.
const fetchAttempts = 3

// fetch downloads u, retrying a failed download, and checks it against
// want. A wrong file is not retried: that is the server's bug, not a lost
// packet. It returns how many retries it took.
func (f *fetcher) fetch(ctx context.Context, u *url.URL, want fileDigest) (int, error) {
	var got fileDigest
	retries, err := retry(ctx, func() (err error) { got, err = f.download(ctx, u); return err })
	if err != nil {
		return retries, err
	}
	return retries, checkDigest(u, got, want)
}

// fetchBytes downloads a small file (the iPXE script) into memory.
func (f *fetcher) fetchBytes(ctx context.Context, u *url.URL) ([]byte, error) {
	var buf strings.Builder
	_, err := f.copyTo(ctx, u, &buf)
	return []byte(buf.String()), err
}

// download streams u through sha256 and returns what arrived.
func (f *fetcher) download(ctx context.Context, u *url.URL) (fileDigest, error) {
	h := sha256.New()
	n, err := f.copyTo(ctx, u, h)
	return fileDigest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

func (f *fetcher) copyTo(ctx context.Context, u *url.URL, w io.Writer) (int64, error) {
	switch u.Scheme {
	case "http":
		return f.copyHTTP(ctx, u, w)
	case "tftp":
		return copyTFTP(ctx, u, w)
	}
	return 0, fmt.Errorf("%s: scheme not supported", u)
}

func (f *fetcher) copyHTTP(ctx context.Context, u *url.URL, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("GET %s: %d bytes, Content-Length said %d", u, n, resp.ContentLength)
	}
	return n, err
}

// copyTFTP reads a file as PXE firmware does: blksize 1468 and tsize
// negotiated, the path without its leading slash (iPXE strips it from
// tftp:// URLs). pin/tftp takes no context; the writer checks it, so a
// cancelled run aborts the transfer at the next block.
func copyTFTP(ctx context.Context, u *url.URL, w io.Writer) (int64, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "69")
	}
	c, err := tftp.NewClient(host)
	if err != nil {
		return 0, err
	}
	c.SetBlockSize(tftpBlockSize)
	c.RequestTSize(true)
	c.SetTimeout(2 * time.Second)
	c.SetRetries(5)
	name := strings.TrimPrefix(u.Path, "/")
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return 0, fmt.Errorf("TFTP %s: %w", name, err)
	}
	n, err := wt.WriteTo(ctxWriter{ctx, w})
	if err != nil {
		return n, fmt.Errorf("TFTP %s: %w", name, err)
	}
	if size, ok := wt.(tftp.IncomingTransfer).Size(); ok && size != n {
		return n, fmt.Errorf("TFTP %s: %d bytes, tsize said %d", name, n, size)
	}
	return n, nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func checkDigest(u *url.URL, got, want fileDigest) error {
	if got != want {
		return fmt.Errorf("%s: got %d bytes sha256 %.12s, want %d bytes sha256 %.12s",
			path.Base(u.Path), got.Size, got.SHA256, want.Size, want.SHA256)
	}
	return nil
}
