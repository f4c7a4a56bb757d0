// Package netconf brings up a node's network: it picks the NIC, gets an
// address by DHCP and configures the address, default route and hostname.
package netconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
)

// Lease is what DHCP gave the node, and enough to renew it.
type Lease struct {
	Interface  string
	MAC        net.HardwareAddr
	Addr       netip.Prefix // e.g. 10.77.0.100/24
	Router     netip.Addr   // invalid if the server gave none
	ServerID   netip.Addr   // DHCP server identifier (the dispatcher, in ramfarm's default setup)
	NextServer netip.Addr   // siaddr; invalid if 0.0.0.0
	DNS        []netip.Addr
	Hostname   string // option 12; may be ""
	LeaseTime  time.Duration

	// For renewal: when the lease began, and when to renew (T1) and
	// rebind (T2), counted from then.
	Acquired    time.Time
	RenewAfter  time.Duration
	RebindAfter time.Duration
}

// How long a NIC may take to report carrier after being set up.
const carrierWait = 10 * time.Second

// Up brings up the network and returns the lease it configured.
//
// The NIC is the one whose MAC matches bootif (iPXE's BOOTIF, such as
// "01-52-54-00-12-34-56") when that is given and found; otherwise the first
// Ethernet NIC to get carrier. Up sets it up, gets a lease by DHCP, and
// configures the address, the default route (if the lease has a router) and
// the hostname (if it has one). It tries again, with jitter, until it
// succeeds or ctx is done.
func Up(ctx context.Context, bootif string, log *slog.Logger) (*Lease, error) {
	want, err := parseBootif(bootif)
	if err != nil {
		log.Warn("ignoring malformed BOOTIF", "bootif", bootif, "err", err)
	}
	for {
		lease, err := tryUp(ctx, want, log)
		if err == nil {
			return lease, nil
		}
		// Jitter keeps a rack of nodes that booted together from
		// retrying in step. math/rand never waits for entropy.
		pause := time.Second + rand.N(2*time.Second)
		log.Warn("network not up yet", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("network not up: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(pause):
		}
	}
}

// tryUp makes one attempt: it sets up the candidate NICs, waits for
// carrier, and runs DHCP on each NIC with carrier until one gets a lease.
func tryUp(ctx context.Context, want net.HardwareAddr, log *slog.Logger) (*Lease, error) {
	all, err := listNICs()
	if err != nil {
		return nil, err
	}
	nics, found := candidates(all, want)
	if want != nil && !found {
		log.Warn("no NIC has the BOOTIF MAC, trying every Ethernet NIC", "bootif", want)
	}
	if len(nics) == 0 {
		return nil, errors.New("no Ethernet NIC (is its driver loaded?)")
	}
	for _, n := range nics {
		if err := netlink.LinkSetUp(n.link); err != nil {
			return nil, fmt.Errorf("setting %s up: %w", n.name, err)
		}
	}
	withCarrier := waitForCarrier(ctx, nics, carrierWait)
	if len(withCarrier) == 0 {
		return nil, fmt.Errorf("no carrier on %s", names(nics))
	}
	var errs []error
	for _, n := range withCarrier {
		lease, err := obtainLease(ctx, n, log)
		if err == nil {
			err = configure(n, lease)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.name, err))
			continue
		}
		log.Info("network up", "interface", lease.Interface, "addr", lease.Addr, "router", lease.Router,
			"server", lease.ServerID, "hostname", lease.Hostname, "lease_time", lease.LeaseTime)
		return lease, nil
	}
	return nil, errors.Join(errs...)
}
