package pxe

import "sync/atomic"

// Stats is a snapshot of what a Server has done since New.
type Stats struct {
	DHCP DHCPStats
	TFTP TFTPStats
	RA   RAStats
}

// DHCPStats counts replies sent, leases given back and packets left
// unanswered.
type DHCPStats struct {
	Offers, Acks, Naks uint64
	Informs            uint64 // ACKs to INFORMs (not in Acks: they grant no lease)
	Releases, Declines uint64 // leases given back, addresses reported in use by someone else
	// ProxyDHCP mode (Config.DHCPMode): boot-only OFFERs on port 67 and
	// ACKs on port 4011. They grant no lease, so they are not in Offers
	// and Acks; their drops are in Drops.
	ProxyOffers, ProxyAcks uint64
	// Drops counts packets that got no reply, by reason: "truncated",
	// "bad-magic-cookie", "other-server", "range-exhausted",
	// "relay-subnet-unknown", ... Reasons that never occurred are left out.
	Drops map[string]uint64
}

// TFTPStats counts files served over TFTP.
type TFTPStats struct {
	Transfers uint64 // files sent completely
	Bytes     uint64 // bytes of those files
	Failures  uint64 // requests refused or transfers broken off (size probes aside)
}

// RAStats counts IPv6 Router Solicitations and our answers to them (see
// Config.AnswerRouterSolicitations).
type RAStats struct {
	Solicitations  uint64 // Router Solicitations received, answered or not
	Advertisements uint64 // "no router here" Router Advertisements sent
	// Drops counts solicitations left unanswered, by reason:
	// "bad-hop-limit", "rate-limited", "no-link-local", ... Reasons that
	// never occurred are left out.
	Drops map[string]uint64
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	return Stats{DHCP: s.dhcpStats.snapshot(), TFTP: s.tftpStats.snapshot(), RA: s.raStats.snapshot()}
}

type dhcpCounters struct {
	offers, acks, naks, informs atomic.Uint64
	releases, declines          atomic.Uint64
	proxyOffers, proxyAcks      atomic.Uint64
	drops                       [numDropReasons]atomic.Uint64
}

func (c *dhcpCounters) snapshot() DHCPStats {
	return DHCPStats{
		Offers:      c.offers.Load(),
		Acks:        c.acks.Load(),
		Naks:        c.naks.Load(),
		Informs:     c.informs.Load(),
		Releases:    c.releases.Load(),
		Declines:    c.declines.Load(),
		ProxyOffers: c.proxyOffers.Load(),
		ProxyAcks:   c.proxyAcks.Load(),
		Drops:       nonZeroByName(c.drops[:], dropReason.String),
	}
}

type tftpCounters struct {
	transfers, bytes, failures atomic.Uint64
}

func (c *tftpCounters) snapshot() TFTPStats {
	return TFTPStats{
		Transfers: c.transfers.Load(),
		Bytes:     c.bytes.Load(),
		Failures:  c.failures.Load(),
	}
}

type raCounters struct {
	solicitations, advertisements atomic.Uint64
	drops                         [numRADropReasons]atomic.Uint64
}

func (c *raCounters) snapshot() RAStats {
	return RAStats{
		Solicitations:  c.solicitations.Load(),
		Advertisements: c.advertisements.Load(),
		Drops:          nonZeroByName(c.drops[:], raDropReason.String),
	}
}

// nonZeroByName maps the name of each index of counts (a reason) to its
// count, leaving out the zeros.
func nonZeroByName[R ~uint8](counts []atomic.Uint64, name func(R) string) map[string]uint64 {
	m := make(map[string]uint64)
	for i := range counts {
		if n := counts[i].Load(); n > 0 {
			m[name(R(i))] = n
		}
	}
	return m
}
