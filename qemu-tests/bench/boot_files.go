package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// BootFilesConfig is one side-by-side run of the boot-files benchmark.
type BootFilesConfig struct {
	Clients   int
	Ramfarm   string // the ramfarm binary
	ImagesDir string // kernel and initramfs, served by both servers
	Kernel    string // file names in ImagesDir
	Initrd    string
	IPXEDir   string        // iPXE binaries (Debian's /usr/lib/ipxe)
	WorkDir   string        // state, leases, logs, dnsmasq's TFTP root
	Deadline  time.Duration // each client must have every byte by then
	// Simulator is the command that runs RunBootClients: it reads a
	// BootClientsConfig as JSON on stdin and writes a BootClientsResult
	// as JSON on stdout. It runs in the client namespace, which a Go
	// program can only enter as a whole new process.
	Simulator []string
}

// ipxeBinary is what a BIOS PXE ROM gets from both servers.
const ipxeBinary = "undionly.kpxe"

// BootFiles boots cfg.Clients simulated PXE clients at once from ramfarm
// and then from dnsmasq, each in a fresh lab (the DHCP benchmark's), and
// returns what the simulator measured against each.
//
// Both servers get the same clients, files and iPXE binary; they differ in
// how they deliver the kernel and initramfs, as they would in a rack:
// ramfarm's boot script points iPXE to HTTP, dnsmasq's (its usual iPXE
// setup, see dnsmasqBootFlags) to its TFTP server.
func BootFiles(ctx context.Context, cfg BootFilesConfig) (ramfarm, dnsmasq BootClientsResult, err error) {
	if err := requireRoot(); err != nil {
		return ramfarm, dnsmasq, err
	}
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		return ramfarm, dnsmasq, fmt.Errorf("dnsmasq not found: run `make bench-deps`")
	}
	if ramfarm, err = measureBootFiles(ctx, cfg, "rfbfr", startRamfarmBootFiles); err != nil {
		return ramfarm, dnsmasq, fmt.Errorf("ramfarm: %w", err)
	}
	if dnsmasq, err = measureBootFiles(ctx, cfg, "rfbfd", startDnsmasqBootFiles); err != nil {
		return ramfarm, dnsmasq, fmt.Errorf("dnsmasq: %w", err)
	}
	return ramfarm, dnsmasq, nil
}

type bootServerStarter func(ctx context.Context, cfg BootFilesConfig, l *Lab, dir string) (*exec.Cmd, error)

func measureBootFiles(ctx context.Context, cfg BootFilesConfig, prefix string, start bootServerStarter) (BootClientsResult, error) {
	l, stop, err := startLab(ctx, prefix, dhcpServerAddr, dhcpClientAddr, cfg.WorkDir, func(l *Lab, dir string) (*exec.Cmd, error) {
		return start(ctx, cfg, l, dir)
	})
	if err != nil {
		return BootClientsResult{}, err
	}
	defer stop()

	in, err := json.Marshal(BootClientsConfig{
		Clients: cfg.Clients, Relay: l.ClientIP(), Server: l.ServerIP(),
		IPXE:     filepath.Join(cfg.IPXEDir, ipxeBinary),
		Kernel:   filepath.Join(cfg.ImagesDir, cfg.Kernel),
		Initrd:   filepath.Join(cfg.ImagesDir, cfg.Initrd),
		Deadline: cfg.Deadline,
	})
	if err != nil {
		return BootClientsResult{}, err
	}
	sim := l.In(ctx, l.Client, cfg.Simulator[0], cfg.Simulator[1:]...)
	var stdout, stderr bytes.Buffer
	sim.Stdin, sim.Stdout, sim.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := sim.Run(); err != nil {
		return BootClientsResult{}, fmt.Errorf("client simulator: %v\n%s", err, stderr.Bytes())
	}
	var res BootClientsResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return res, fmt.Errorf("client simulator output: %v\n%s", err, stdout.Bytes())
	}
	return res, nil
}

func bootFilesSetup(l *Lab, dir string, extra ...string) serverSetup {
	s := dhcpSetup(l, dir)
	s.Extra = extra
	return s
}

func startRamfarmBootFiles(ctx context.Context, cfg BootFilesConfig, l *Lab, dir string) (*exec.Cmd, error) {
	cmd, _, err := startRamfarm(ctx, cfg.Ramfarm, cfg.ImagesDir, bootFilesSetup(l, dir,
		"--kernel", cfg.Kernel, "--initrd", cfg.Initrd, "--ipxe-dir", cfg.IPXEDir))
	return cmd, err
}

// bootFilesCmdline stands in for the node command line in dnsmasq's script,
// about as long as the one ramfarm writes into its own.
const bootFilesCmdline = "console=ttyS0 console=tty0 quiet ramfarm.dispatcher=%s:7070 ramfarm.token=BENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBENCHBE"

func startDnsmasqBootFiles(ctx context.Context, cfg BootFilesConfig, l *Lab, dir string) (*exec.Cmd, error) {
	root, err := tftpRoot(dir, bootImage{
		IPXE:    filepath.Join(cfg.IPXEDir, ipxeBinary),
		Kernel:  filepath.Join(cfg.ImagesDir, cfg.Kernel),
		Initrd:  filepath.Join(cfg.ImagesDir, cfg.Initrd),
		Cmdline: fmt.Sprintf(bootFilesCmdline, l.ServerIP()),
	}, l.ServerIP())
	if err != nil {
		return nil, err
	}
	return startDnsmasq(ctx, bootFilesSetup(l, dir, dnsmasqBootFlags(root, cfg.Clients)...))
}

// dnsmasqBootFlags is dnsmasq's usual iPXE chainloading setup, as its own
// documentation and most PXE guides give it:
//
//	enable-tftp
//	tftp-root=<root>
//	tftp-max=<transfers>
//	dhcp-match=set:ipxe,175
//	dhcp-boot=tag:!ipxe,undionly.kpxe
//	dhcp-boot=tag:ipxe,boot.ipxe
//
// PXE ROMs get undionly.kpxe; iPXE, which sends option 175, gets boot.ipxe,
// both from dnsmasq's own TFTP server (next-server defaults to dnsmasq's
// address). tftp-max is raised from its default of 50 to the number of
// nodes booting at once, as an admin booting that many would: otherwise
// dnsmasq ignores the requests beyond 50 and the firmware times out and
// retries, which would measure the default rather than the server.
func dnsmasqBootFlags(root string, transfers int) []string {
	return []string{
		"--enable-tftp", "--tftp-root=" + root, "--tftp-max=" + strconv.Itoa(max(transfers, 50)),
		"--dhcp-match=set:ipxe,175",
		"--dhcp-boot=tag:!ipxe," + ipxeBinary,
		"--dhcp-boot=tag:ipxe,boot.ipxe",
	}
}

// bootImage is what dnsmasq's TFTP root holds.
type bootImage struct {
	IPXE, Kernel, Initrd string // paths of the files to serve
	Cmdline              string // kernel command line in boot.ipxe
}

// tftpRoot fills dir/tftp with copies of the image's files and a boot.ipxe
// that loads them from server over TFTP, and returns its path. dnsmasq
// reads files after dropping root for "nobody", so the directory and files
// are world-readable (and the directories above it traversable).
func tftpRoot(dir string, img bootImage, server string) (string, error) {
	root := filepath.Join(dir, "tftp")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			return "", err
		}
	}
	for _, src := range []string{img.IPXE, img.Kernel, img.Initrd} {
		if err := copyFile(src, filepath.Join(root, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	script := tftpBootScript(server, filepath.Base(img.Kernel), filepath.Base(img.Initrd), img.Cmdline)
	return root, os.WriteFile(filepath.Join(root, "boot.ipxe"), []byte(script), 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ServeBootClients is the simulator's side of BootFilesConfig.Simulator:
// it reads the config from r, runs the clients and writes the result to w.
func ServeBootClients(ctx context.Context, r io.Reader, w io.Writer) error {
	var cfg BootClientsConfig
	if err := json.NewDecoder(r).Decode(&cfg); err != nil {
		return fmt.Errorf("simulator config: %w", err)
	}
	if cfg.Clients < 1 || cfg.Deadline <= 0 {
		return fmt.Errorf("simulator config: want clients >= 1 and a deadline, got %+v", cfg)
	}
	res, err := RunBootClients(ctx, cfg)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(res)
}
