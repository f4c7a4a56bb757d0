package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// relayDHCP carries the DHCP exchanges of many simulated clients through one
// socket, as a relay agent does: each request has giaddr set to the relay's
// own address and goes by unicast to the server's port 67, and the server
// answers the relay at port 67. Replies are told apart by transaction id.
//
// Why a relay rather than 200 broadcasting clients: a client without an
// address broadcasts from 0.0.0.0:68 and is answered by broadcast (or
// unicast to an address it does not hold yet), which takes a raw socket per
// MAC and a hand-built frame for every packet. A relay keeps each client's
// own MAC in chaddr and options, so the server does the same lease and boot
// option work, and both servers serve relayed requests from inside their
// subnet. perfdhcp in dhcp.go reaches them the same way.
type relayDHCP struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	relay  net.IP

	mu      sync.Mutex
	waiting map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4
}

// relayReadBuffer is the relay socket's receive buffer: room for a few
// thousand replies (Linux caps it at net.core.rmem_max, 4 MiB on Debian).
const relayReadBuffer = 4 << 20

// newRelayDHCP listens at local (the relay's address, port 67 for real
// servers) and sends to server.
func newRelayDHCP(local, server *net.UDPAddr) (*relayDHCP, error) {
	conn, err := net.ListenUDP("udp4", local)
	if err != nil {
		return nil, fmt.Errorf("relay socket: %w", err)
	}
	// The replies to 200 clients come in one burst, more than the default
	// socket buffer holds. The relay stands in for the network, which
	// must not be where packets are lost: what is measured is the server.
	if err := conn.SetReadBuffer(relayReadBuffer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("relay socket: %w", err)
	}
	r := &relayDHCP{conn: conn, server: server, relay: local.IP,
		waiting: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}}
	go r.readLoop()
	return r, nil
}

func (r *relayDHCP) Close() error { return r.conn.Close() }

// readLoop hands each reply to the exchange waiting for its transaction id;
// anything else (late duplicates, garbage) is dropped, as a relay would.
func (r *relayDHCP) readLoop() {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		r.mu.Lock()
		ch := r.waiting[m.TransactionID]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default: // the exchange already has a reply in hand
			}
		}
	}
}

// firmwareKind says which program a simulated client's DHCP request
// impersonates.
type firmwareKind int

const (
	pxeROM firmwareKind = iota // a BIOS PXE ROM: vendor class PXEClient, arch 0
	ipxe                       // iPXE loaded by it: also user class "iPXE" and option 175
)

// firmwareOptions are the options a BIOS PXE ROM, or iPXE after it, puts in
// DISCOVER and REQUEST.
func firmwareOptions(kind firmwareKind) []dhcpv4.Modifier {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		// Client network interface identifier (94): UNDI 2.1.
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1472)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionClassIdentifier,
			dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName),
	}
	if kind == ipxe {
		mods = append(mods,
			// iPXE sends a bare "iPXE", not RFC 3004's length-prefixed list.
			dhcpv4.WithUserClass("iPXE", false),
			// Option 175: iPXE's feature flags; 19 = HTTP. dnsmasq's usual
			// iPXE setup keys on the presence of 175.
			dhcpv4.WithGeneric(dhcpv4.OptionEtherboot, []byte{19, 1, 1, 0xff}),
			dhcpv4.WithRequestedOptions(dhcpv4.OptionEtherboot),
		)
	}
	return mods
}

// dhcpTimeouts are the waits for an answer before a resend: doubling from
// one second like iPXE's, four tries, each stretched or shrunk by up to 20%
// so that clients that lost packets together do not resend together.
var dhcpTimeouts = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// exchange runs DISCOVER, OFFER, REQUEST, ACK for mac. It returns the ACK
// and how many resends it took.
func (r *relayDHCP) exchange(ctx context.Context, mac net.HardwareAddr, kind firmwareKind) (*dhcpv4.DHCPv4, int, error) {
	viaRelay := func(d *dhcpv4.DHCPv4) {
		d.GatewayIPAddr = r.relay
		d.HopCount = 1
		d.SetUnicast()
	}
	discover, err := dhcpv4.NewDiscovery(mac, append(firmwareOptions(kind), viaRelay)...)
	if err != nil {
		return nil, 0, err
	}
	offer, resends, err := r.roundTrip(ctx, discover, dhcpv4.MessageTypeOffer)
	if err != nil {
		return nil, resends, fmt.Errorf("DISCOVER: %w", err)
	}
	request, err := dhcpv4.NewRequestFromOffer(offer, append(firmwareOptions(kind), viaRelay)...)
	if err != nil {
		return nil, resends, err
	}
	ack, more, err := r.roundTrip(ctx, request, dhcpv4.MessageTypeAck)
	resends += more
	if err != nil {
		return nil, resends, fmt.Errorf("REQUEST: %w", err)
	}
	return ack, resends, nil
}

// roundTrip sends m until a reply of type want arrives, or the tries run
// out. A NAK ends it at once.
func (r *relayDHCP) roundTrip(ctx context.Context, m *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, int, error) {
	ch := make(chan *dhcpv4.DHCPv4, 1)
	r.mu.Lock()
	r.waiting[m.TransactionID] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, m.TransactionID)
		r.mu.Unlock()
	}()
	packet := m.ToBytes()
	for try, wait := range dhcpTimeouts {
		if _, err := r.conn.WriteToUDP(packet, r.server); err != nil {
			return nil, try, err
		}
		timer := time.NewTimer(jitter(wait))
	waiting:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, try, ctx.Err()
			case <-timer.C:
				break waiting
			case reply := <-ch:
				switch reply.MessageType() {
				case want:
					timer.Stop()
					return reply, try, nil
				case dhcpv4.MessageTypeNak:
					timer.Stop()
					return nil, try, fmt.Errorf("NAK: %s", reply.Message())
				}
				// Another type (a late OFFER during REQUEST): keep waiting.
			}
		}
	}
	return nil, len(dhcpTimeouts) - 1, errors.New("no answer after every retry")
}

// jitter returns d stretched or shrunk by up to 20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
