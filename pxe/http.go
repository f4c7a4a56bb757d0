package pxe

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// bootHTTP serves what iPXE and UEFI HTTP Boot fetch:
//
//	/boot.ipxe     the iPXE script (an optional ?mac= is only logged)
//	/boot/<file>   kernel and initramfs from BootDir
//	/ipxe/<file>   iPXE binaries from TFTPRoot, for UEFI HTTP Boot
type bootHTTP struct {
	script  string // the same for every node: iPXE fills in the MAC
	bootDir *os.Root
	ipxeDir *os.Root
	log     *slog.Logger
}

// run serves HTTP on ln until ctx is done. Downloads under way then get a
// few seconds to finish.
func (b *bootHTTP) run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           b,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: a large initramfs to a slow firmware network
		// stack takes as long as it takes.
		ErrorLog: slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	serve := func() error { return fmt.Errorf("http: %w", srv.Serve(ln)) }
	shutdown := func() {
		grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(grace) != nil {
			srv.Close()
		}
	}
	return serveUntil(ctx, serve, shutdown)
}

// ServeHTTP routes by hand rather than through http.ServeMux: the mux
// answers unclean paths such as "//boot/x" with a 301, and UEFI HTTP Boot
// does not follow redirects. Here such a path is simply not found.
func (b *bootHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.log.Debug("HTTP request", "method", r.Method, "path", r.URL.Path, "peer", r.RemoteAddr,
		"range", r.Header.Get("Range"), "mac", r.URL.Query().Get("mac"))
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		b.fail(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch p := r.URL.Path; {
	case p == "/boot.ipxe":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// ServeContent sets Content-Length (and handles HEAD); with a
		// zero time it sends no Last-Modified.
		http.ServeContent(w, r, "boot.ipxe", time.Time{}, strings.NewReader(b.script))
	case strings.HasPrefix(p, "/boot/"):
		b.serveFile(w, r, b.bootDir, strings.TrimPrefix(p, "/boot/"))
	case strings.HasPrefix(p, "/ipxe/"):
		b.serveFile(w, r, b.ipxeDir, strings.TrimPrefix(p, "/ipxe/"))
	default:
		b.fail(w, r, http.StatusNotFound, "no such path")
	}
}

// serveFile sends a file with Content-Length, Last-Modified and an ETag,
// and answers Range, If-None-Match and If-Modified-Since requests. iPXE
// downloads far faster when it knows the length up front.
func (b *bootHTTP) serveFile(w http.ResponseWriter, r *http.Request, root *os.Root, name string) {
	// r.URL.Path is already percent-decoded, so "%2e%2e" arrives as ".."
	// and is refused by openFile like the plain form.
	f, info, err := openFile(root, name)
	if err != nil {
		b.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("ETag", etag(info))
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, info.ModTime(), f)
}

func (b *bootHTTP) fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	b.log.Warn("HTTP request refused", "method", r.Method, "path", r.URL.Path, "peer", r.RemoteAddr,
		"status", status, "reason", reason)
	// The reason stays in our log: a client learns nothing about our files.
	http.Error(w, http.StatusText(status), status)
}

// etag changes whenever the file is replaced or rewritten.
func etag(info fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, info.Size(), info.ModTime().UnixNano())
}

// renderScript writes the iPXE script every node runs, for files served at
// baseURL/boot/.
//
// initrd=NAME is for kernels started through their EFI stub, which loads
// the initramfs by name from iPXE's image list; iPXE names a downloaded image
// after the last segment of its URL. BIOS kernels get the initramfs from
// iPXE directly and ignore the argument.
//
// BOOTIF (the pxelinux convention: "01-" for Ethernet, then the MAC with
// hyphens) tells the node's agent which NIC it booted from. netX is iPXE's
// name for the most recently opened network device, the one that booted; a
// bare ${mac} would be the first NIC's on a multi-NIC node.
func renderScript(baseURL string, cfg *Config) string {
	kernelArgs := []string{baseURL + "/boot/" + cfg.Kernel, "initrd=" + path.Base(cfg.Initrd)}
	if cfg.Cmdline != "" {
		kernelArgs = append(kernelArgs, cfg.Cmdline)
	}
	kernelArgs = append(kernelArgs, "BOOTIF=01-${netX/mac:hexhyp}")
	return "#!ipxe\n" +
		"kernel " + strings.Join(kernelArgs, " ") + "\n" +
		"initrd " + baseURL + "/boot/" + cfg.Initrd + "\n" +
		"boot\n"
}
