package pxe

import "sync/atomic"

// Stats is a snapshot of what a Server has done since New.
type Stats struct {
	DHCP DHCPStats
	TFTP TFTPStats
}

// DHCPStats counts replies sent and packets left unanswered.
type DHCPStats struct {
	Offers, Acks, Naks uint64
	// Drops counts packets that got no reply, by reason: "truncated",
	// "bad-magic-cookie", "other-server", "range-exhausted", ... Reasons
	// that never occurred are left out.
	Drops map[string]uint64
}

// TFTPStats counts files served over TFTP.
type TFTPStats struct {
	Transfers uint64 // files sent completely
	Bytes     uint64 // bytes of those files
	Failures  uint64 // requests refused or transfers broken off (size probes aside)
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	return Stats{DHCP: s.dhcpStats.snapshot(), TFTP: s.tftpStats.snapshot()}
}

type dhcpCounters struct {
	offers, acks, naks atomic.Uint64
	drops              [numDropReasons]atomic.Uint64
}

func (c *dhcpCounters) snapshot() DHCPStats {
	s := DHCPStats{
		Offers: c.offers.Load(),
		Acks:   c.acks.Load(),
		Naks:   c.naks.Load(),
		Drops:  make(map[string]uint64),
	}
	for reason := range numDropReasons {
		if n := c.drops[reason].Load(); n > 0 {
			s.Drops[reason.String()] = n
		}
	}
	return s
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
