package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BootClientsConfig is one run of the boot client simulator. It runs inside
// the client side's namespace (see BootFiles), so it is a plain value that
// travels as JSON on a command line.
type BootClientsConfig struct {
	Clients  int
	Relay    string        // our address: giaddr, and where the server answers
	Server   string        // the DHCP server's address
	IPXE     string        // path of the iPXE binary the server hands out (undionly.kpxe)
	Kernel   string        // paths of the kernel and initramfs the boot script names
	Initrd   string        //
	Deadline time.Duration // for each client, from the start
}

// Phases of one simulated boot, in order.
const (
	phaseDHCP  = iota // both exchanges: as PXE ROM, then as iPXE
	phaseIPXE         // the iPXE binary over TFTP
	phaseFiles        // the boot script, kernel and initramfs
	phaseCount
)

// PhaseNames name the phases in results, in order.
var PhaseNames = [phaseCount]string{"dhcp", "tftp-ipxe", "kernel+initrd"}

// BootClientsResult is what the simulator measured.
type BootClientsResult struct {
	Wall     time.Duration // from the start until the last client had every byte (or gave up)
	Failures int
	Resends  int                       // DHCP messages sent again, over all clients
	Restarts int                       // downloads started over, over all clients
	P50, Max [phaseCount]time.Duration // per phase, over the clients that finished
	Errors   []string                  // one per failed client, first few only
}

// clientOutcome is one simulated node's boot.
type clientOutcome struct {
	phases   [phaseCount]time.Duration
	resends  int // DHCP
	restarts int // downloads
	err      error
}

// RunBootClients boots cfg.Clients simulated PXE clients at once: each does
// the DHCP exchange as a BIOS PXE ROM, fetches the iPXE binary over TFTP,
// does the DHCP exchange again as iPXE, fetches the boot script named in
// that ACK and the kernel and initramfs named in the script, by whatever
// protocol their URLs say, and checks every file's size and sha256.
func RunBootClients(ctx context.Context, cfg BootClientsConfig) (BootClientsResult, error) {
	want := map[string]fileDigest{}
	for _, p := range []string{cfg.IPXE, cfg.Kernel, cfg.Initrd} {
		d, err := digestFile(p)
		if err != nil {
			return BootClientsResult{}, err
		}
		want[path.Base(p)] = d
	}
	relay, server := net.ParseIP(cfg.Relay).To4(), net.ParseIP(cfg.Server).To4()
	if relay == nil || server == nil {
		return BootClientsResult{}, fmt.Errorf("relay %q and server %q must be IPv4 addresses", cfg.Relay, cfg.Server)
	}
	dhcp, err := newRelayDHCP(&net.UDPAddr{IP: relay, Port: dhcpv4.ServerPort}, &net.UDPAddr{IP: server, Port: dhcpv4.ServerPort})
	if err != nil {
		return BootClientsResult{}, err
	}
	defer dhcp.Close()

	outcomes := make([]clientOutcome, cfg.Clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
			defer cancel()
			outcomes[i] = bootClient(cctx, dhcp, simulatedMAC(i), want)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	return summarize(time.Since(began), outcomes), nil
}

// simulatedMAC is client i's address: locally administered, unicast.
func simulatedMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x42, 0x00, byte(i >> 16), byte(i >> 8), byte(i)}
}

func bootClient(ctx context.Context, dhcp *relayDHCP, mac net.HardwareAddr, want map[string]fileDigest) (out clientOutcome) {
	f := newFetcher()
	defer f.close()
	mark := time.Now()
	phaseDone := func(p int) {
		now := time.Now()
		out.phases[p] += now.Sub(mark)
		mark = now
	}
	fail := func(step string, err error) clientOutcome {
		out.err = fmt.Errorf("client %s: %s: %w", mac, step, err)
		return out
	}
	getFile := func(u *url.URL) error {
		d, ok := want[path.Base(u.Path)]
		if !ok {
			return fmt.Errorf("%s is none of the files served", u)
		}
		restarts, err := f.fetch(ctx, u, d)
		out.restarts += restarts
		return err
	}

	// askDHCP does one exchange and returns where its ACK points.
	askDHCP := func(kind firmwareKind) (*url.URL, error) {
		ack, resends, err := dhcp.exchange(ctx, mac, kind)
		out.resends += resends
		if err != nil {
			return nil, err
		}
		return bootFileURL(ack)
	}

	romURL, err := askDHCP(pxeROM)
	if err != nil {
		return fail("DHCP as PXE ROM", err)
	}
	phaseDone(phaseDHCP)
	if err := getFile(romURL); err != nil {
		return fail("iPXE binary", err)
	}
	phaseDone(phaseIPXE)

	scriptURL, err := askDHCP(ipxe)
	if err != nil {
		return fail("DHCP as iPXE", err)
	}
	phaseDone(phaseDHCP)
	var script []byte
	restarts, err := retry(ctx, func() (err error) { script, err = f.fetchBytes(ctx, scriptURL); return err })
	out.restarts += restarts
	if err != nil {
		return fail("boot script", err)
	}
	targets, err := parseBootScript(string(script), mac)
	if err != nil {
		return fail("boot script", err)
	}
	if err := getFile(targets.Kernel); err != nil {
		return fail("kernel", err)
	}
	if err := getFile(targets.Initrd); err != nil {
		return fail("initrd", err)
	}
	phaseDone(phaseFiles)
	return out
}

// bootFileURL is where an ACK sends firmware next: the file field or option
// 67 as a URL (ramfarm's script for iPXE), or a plain name on the TFTP
// server in siaddr (next-server).
func bootFileURL(ack *dhcpv4.DHCPv4) (*url.URL, error) {
	file := ack.BootFileNameOption()
	if file == "" {
		file = ack.BootFileName
	}
	if file == "" {
		return nil, fmt.Errorf("the ACK names no boot file")
	}
	if strings.Contains(file, "://") {
		return url.Parse(file)
	}
	if ack.ServerIPAddr == nil || ack.ServerIPAddr.IsUnspecified() {
		return nil, fmt.Errorf("the ACK names boot file %q but no next-server", file)
	}
	return &url.URL{Scheme: "tftp", Host: ack.ServerIPAddr.String(), Path: "/" + strings.TrimPrefix(file, "/")}, nil
}

// retry runs do up to fetchAttempts times, pausing a jittered half second
// between tries, and returns how many retries it took.
func retry(ctx context.Context, do func() error) (int, error) {
	var err error
	for try := 0; try < fetchAttempts; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return try, ctx.Err()
			case <-time.After(jitter(500 * time.Millisecond)):
			}
		}
		if err = do(); err == nil {
			return try, nil
		}
	}
	return fetchAttempts - 1, err
}

// maxErrors bounds the error list in a result: with 200 clients failing
// alike, a few say as much as all.
const maxErrors = 5

func summarize(wall time.Duration, outcomes []clientOutcome) BootClientsResult {
	r := BootClientsResult{Wall: wall}
	var per [phaseCount][]time.Duration
	for _, o := range outcomes {
		r.Resends += o.resends
		r.Restarts += o.restarts
		if o.err != nil {
			r.Failures++
			if len(r.Errors) < maxErrors {
				r.Errors = append(r.Errors, o.err.Error())
			}
			continue
		}
		for p, d := range o.phases {
			per[p] = append(per[p], d)
		}
	}
	for p := range per {
		if len(per[p]) == 0 {
			continue
		}
		slices.Sort(per[p])
		r.P50[p], r.Max[p] = median(per[p]), per[p][len(per[p])-1]
	}
	return r
}

// median of sorted values; the lower middle one for an even count.
func median(sorted []time.Duration) time.Duration {
	return sorted[(len(sorted)-1)/2]
}
