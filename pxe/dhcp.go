package pxe

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// dhcpHandler turns DHCP packets into replies. It owns no socket (see
// dhcp_conn.go), so tests and the fuzzer drive it directly. It is safe for
// concurrent use: the socket's workers call it at once.
type dhcpHandler struct {
	cfg      Config
	nets     networks
	reserved reservations
	boot     bootFiles
	leases   *leasePool
	store    LeaseStore // nil: leases live in memory only
	clients  keyedMutex // by MAC: one request per client at a time
	stats    *dhcpCounters
	log      *slog.Logger
	now      func() time.Time
	// ifIndex is Config.Interface's index, where clients talking to us
	// directly must be. Run sets it; 0 in tests, where arrivals say 0.
	ifIndex int
}

func newDHCPHandler(cfg Config, boot bootFiles, stats *dhcpCounters) *dhcpHandler {
	nets := newNetworks(&cfg)
	reserved := newReservations(cfg.Reservations)
	return &dhcpHandler{
		cfg:      cfg,
		nets:     nets,
		reserved: reserved,
		boot:     boot,
		leases:   newLeasePool(nets, reserved, cfg.LeaseTime),
		store:    cfg.Leases,
		stats:    stats,
		log:      cfg.Logger.With("service", "dhcp"),
		now:      time.Now,
	}
}

// loadLeases takes up the leases of the LeaseStore, if there is one.
func (h *dhcpHandler) loadLeases() error {
	if h.store == nil {
		return nil
	}
	leases, err := h.store.LoadLeases()
	if err != nil {
		return err
	}
	kept := h.leases.restore(leases, h.now())
	h.log.Info("leases loaded", "stored", len(leases), "kept", kept)
	return nil
}

// arrival is how a packet reached us, as IP_PKTINFO tells.
type arrival struct {
	peer    netip.AddrPort
	ifIndex int        // the interface it came in on
	dst     netip.Addr // the address it was sent to; invalid if unknown, which counts as a broadcast
}

// reply is a message to send, where to and how (see replyDestination).
type reply struct {
	msg *dhcpv4.DHCPv4
	to  netip.AddrPort
	how delivery
}

// handle answers one datagram. It returns nil when there is nothing to send:
// the packet was dropped (counted and logged with its reason) or needed no
// answer (RELEASE, DECLINE). A lease an ACK grants is in the LeaseStore when
// handle returns.
func (h *dhcpHandler) handle(raw []byte, from arrival) *reply {
	return answerDatagram(raw, from, h.stats, h.log, func(req *request) (*reply, *drop) {
		msg, d := h.respond(req, from)
		if msg == nil {
			return nil, d
		}
		to, how := replyDestination(req, msg)
		return &reply{msg: msg, to: to, how: how}, nil
	})
}

// answerDatagram is what every DHCP handler does with a datagram: decode it
// as a client's request, let respond answer it, and count and log a drop
// with its reason. It returns nil when there is nothing to send.
func answerDatagram(raw []byte, from arrival, c *dhcpCounters, log *slog.Logger, respond func(*request) (*reply, *drop)) *reply {
	req, d := decodeRequest(raw)
	var out *reply
	if d == nil {
		out, d = respond(req)
	}
	if d != nil {
		d.record(c, log, from)
		return nil
	}
	return out
}

// respond is the server's part of RFC 2131 for one request.
func (h *dhcpHandler) respond(req *request, from arrival) (*dhcpv4.DHCPv4, *drop) {
	n, d := h.networkFor(req, from)
	if d != nil {
		return nil, d
	}
	// Held across LeaseStore writes, so that this client's writes land
	// in the order its leases were granted; other clients go on.
	defer h.clients.lock(string(req.mac))()
	now := h.now()
	if req.serverID.IsValid() && req.serverID != h.cfg.ServerIP {
		if req.msgType == dhcpv4.MessageTypeRequest {
			// The client took another server's offer: free ours.
			h.leases.withdraw(string(req.mac), now)
		}
		return nil, dropf(dropOtherServer, "server identifier %v", req.serverID)
	}
	switch req.msgType {
	case dhcpv4.MessageTypeDiscover:
		return h.discover(req, n, now)
	case dhcpv4.MessageTypeRequest:
		return h.request(req, n, now)
	case dhcpv4.MessageTypeRelease:
		return nil, h.release(req, now)
	case dhcpv4.MessageTypeDecline:
		return nil, h.decline(req, now)
	case dhcpv4.MessageTypeInform:
		return h.inform(req, n)
	default:
		return nil, dropf(dropUnsupportedType, "%v", req.msgType)
	}
}

// networkFor picks the subnet a request is about (RFC 2131 §4.3.1): the
// relay agent's when relayed, the client's own address's when the client
// has one and unicast to us (a RENEWING client, perhaps across routers),
// else the one on Config.Interface, which is where such a client must be.
//
// Our socket hears every interface (see listenDHCP), so a broadcast from a
// client on another of the host's links is refused here rather than by the
// kernel.
func (h *dhcpHandler) networkFor(req *request, from arrival) (*network, *drop) {
	if req.relay.IsValid() {
		if n := h.nets.containing(req.relay); n != nil {
			return n, nil
		}
		return nil, dropf(dropRelaySubnetUnknown, "giaddr %v is in none of our subnets", req.relay)
	}
	if from.dst == h.cfg.ServerIP && req.clientIP.IsValid() {
		if n := h.nets.containing(req.clientIP); n != nil {
			return n, nil
		}
	}
	if from.ifIndex != h.ifIndex {
		return nil, dropf(dropWrongInterface, "unrelayed, to %v, on interface %d", from.dst, from.ifIndex)
	}
	return h.nets.local, nil
}
