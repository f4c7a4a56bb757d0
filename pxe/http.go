package pxe

import (
	"context"
	"crypto/sha256"
	"errors"
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
//	/boot.ipxe?mac=M  the iPXE script of node M's boot profile
//	/boot/<file>      kernels and initramfs files from BootDir
//	/ipxe/<file>      iPXE binaries from TFTPRoot, for UEFI HTTP Boot
type bootHTTP struct {
	policy  BootPolicy
	scripts map[string]bootScript // by profile name, rendered at start
	bootDir *os.Root
	ipxe    ipxeFiles
	log     *slog.Logger

	baseURL, extraCmdline string // for kexec images
}

// bootScript is one profile's iPXE script. It does not depend on the node
// (iPXE fills in the MAC), so each is rendered once.
type bootScript struct {
	text string
	etag string
}

// newBootHTTP checks that the files of every boot profile are in bootDir
// and renders their scripts, for files served at baseURL/boot/.
func newBootHTTP(cfg *Config, baseURL string, bootDir *os.Root, ipxe ipxeFiles) (*bootHTTP, error) {
	policy := cfg.bootPolicy()
	b := &bootHTTP{
		policy: policy, scripts: map[string]bootScript{}, bootDir: bootDir, ipxe: ipxe,
		log: cfg.Logger.With("service", "http"), baseURL: baseURL, extraCmdline: cfg.ExtraCmdline,
	}
	var errs []error
	for _, p := range policy.Profiles() {
		errs = append(errs, p.checkFiles(bootDir))
		text := renderScript(baseURL, p, cfg.ExtraCmdline)
		sum := sha256.Sum256([]byte(text))
		b.scripts[p.Name] = bootScript{text: text, etag: fmt.Sprintf(`"%x"`, sum[:12])}
	}
	return b, errors.Join(errs...)
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
		b.serveScript(w, r)
	case strings.HasPrefix(p, bootFilesPath):
		b.serveFile(w, r, b.bootDir, strings.TrimPrefix(p, bootFilesPath))
	case strings.HasPrefix(p, "/ipxe/"):
		b.serveIPXE(w, r, strings.TrimPrefix(p, "/ipxe/"))
	default:
		b.fail(w, r, http.StatusNotFound, "no such path")
	}
}

// serveScript sends the script of the profile of the node named by the
// URL's mac parameter, which the DHCP reply put there (see
// bootFiles.scriptURLFor). A missing or unreadable MAC gets the default
// profile: such a node still boots, and the log says why.
func (b *bootHTTP) serveScript(w http.ResponseWriter, r *http.Request) {
	param := r.URL.Query().Get("mac")
	mac, err := net.ParseMAC(param) // nil on error: the default profile
	level, reason := slog.LevelInfo, ""
	switch {
	case param == "":
		reason = "no mac in the URL, so "
	case err != nil:
		level, reason = slog.LevelWarn, "unreadable mac in the URL, so "
	}
	profile, why := b.policy.ProfileFor(mac)
	b.log.Log(r.Context(), level, "boot script", "mac", param, "profile", profile.Name, "why", reason+why, "peer", r.RemoteAddr)

	script, ok := b.scripts[profile.Name]
	if !ok { // only a BootPolicy that breaks its contract gets here
		b.fail(w, r, http.StatusInternalServerError, fmt.Sprintf("boot policy chose profile %q, which it does not list", profile.Name))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("ETag", script.etag)
	// ServeContent sets Content-Length (and handles HEAD); with a zero
	// time it sends no Last-Modified.
	http.ServeContent(w, r, "boot.ipxe", time.Time{}, strings.NewReader(script.text))
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

// serveIPXE sends an iPXE binary, for UEFI HTTP Boot.
func (b *bootHTTP) serveIPXE(w http.ResponseWriter, r *http.Request, name string) {
	f, file, err := b.ipxe.open(name)
	if err != nil {
		b.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	w.Header().Set("ETag", file.etag)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, file.modTime, f)
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

// renderScript writes the iPXE script of profile p, for files served at
// baseURL/boot/. extra (the dispatcher's address and token) and
// ramfarm.profile=NAME follow the profile's own command line, so that they
// win where a profile sets the same parameter: the kernel and the agent
// take the last value.
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
func renderScript(baseURL string, p Profile, extra string) string {
	return "#!ipxe\n" +
		"kernel " + bootFileURL(baseURL, p.Kernel) + " initrd=" + path.Base(p.Initrd) + " " +
		nodeCmdline(p, extra, "${netX/mac:hexhyp}") + "\n" +
		"initrd " + bootFileURL(baseURL, p.Initrd) + "\n" +
		"boot\n"
}

// bootFilesPath is where the server serves --boot-dir's files.
const bootFilesPath = "/boot/"

// bootFileURL is the URL of file name of --boot-dir on the server at
// baseURL, for iPXE scripts and kexec images alike.
func bootFileURL(baseURL, name string) string { return baseURL + bootFilesPath + name }

// nodeCmdline is the kernel command line of a node booting profile p: the
// profile's arguments, the dispatcher's, the profile's name, and BOOTIF
// naming the NIC it booted from (mac as hyphenated hex), which the agent
// brings up first.
func nodeCmdline(p Profile, extra, mac string) string {
	var args []string
	for _, a := range []string{p.Cmdline, extra} {
		if a != "" {
			args = append(args, a)
		}
	}
	args = append(args, "ramfarm.profile="+p.Name, "BOOTIF=01-"+mac)
	return strings.Join(args, " ")
}
