package netconf

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"
)

// Entropy trap: dhcpv4.New, and with it every dhcpv4.NewDiscovery,
// NewRequestFromOffer and nclient4 helper built on them (DiscoverOffer,
// Request, RequestFromOffer, Renew, Release), draws the transaction id from
// getrandom(GRND_NONBLOCK) in a busy loop until the kernel's CRNG is
// initialized, for up to dhcpv4.RandomTimeout (2 minutes). WithTransactionID
// does not help: modifiers run after the draw. In a guest without RDRAND or
// virtio-rng, right after boot, that stalls DHCP for minutes at full CPU.
// So messages are built here without dhcpv4.New, with a transaction id that
// needs no entropy, and sent with nclient4's SendAndRead.

// dhcpTries and dhcpTimeout bound one exchange: each message is sent up to
// three times, waiting 2, 4 and 8 s for the answer.
const (
	dhcpTries   = 3
	dhcpTimeout = 2 * time.Second
)

// obtainLease runs DISCOVER, OFFER, REQUEST, ACK on n, which must be up.
func obtainLease(ctx context.Context, n nic, log *slog.Logger) (*Lease, error) {
	client, err := nclient4.New(n.name,
		nclient4.WithHWAddr(n.mac),
		nclient4.WithTimeout(dhcpTimeout),
		nclient4.WithRetry(dhcpTries),
		nclient4.WithLogger(dhcpLogger{log.With("interface", n.name)}))
	if err != nil {
		return nil, err
	}
	defer client.Close()

	discover := bootRequest(transactionID(n.mac, time.Now()),
		dhcpv4.WithHwAddr(n.mac),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover))
	offer, err := client.SendAndRead(ctx, client.RemoteAddr(), discover,
		nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		return nil, fmt.Errorf("no DHCP offer: %w", err)
	}

	ack, err := client.SendAndRead(ctx, client.RemoteAddr(), requestFor(offer), nclient4.IsAll(
		nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)))
	if err != nil {
		return nil, fmt.Errorf("no answer to DHCP request: %w", err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("DHCP server %v refused the offered address: %q", offer.ServerIdentifier(), ack.Message())
	}
	return leaseFromACK(n.name, n.mac, ack, time.Now())
}

// requestFor builds the REQUEST that accepts offer (RFC 2131 SELECTING).
func requestFor(offer *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	return bootRequest(offer.TransactionID,
		dhcpv4.WithReply(offer),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOptionCopied(offer, dhcpv4.OptionServerIdentifier))
}

// bootRequest is dhcpv4.New without its entropy draw, plus the options
// that nclient4 and a node always ask for.
func bootRequest(xid dhcpv4.TransactionID, modifiers ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		TransactionID: xid,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       dhcpv4.Options{},
	}
	modifiers = append(modifiers,
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)),
		dhcpv4.WithRequestedOptions(
			dhcpv4.OptionSubnetMask,
			dhcpv4.OptionRouter,
			dhcpv4.OptionDomainNameServer,
			dhcpv4.OptionHostName,
			dhcpv4.OptionDomainName,
			dhcpv4.OptionIPAddressLeaseTime,
			dhcpv4.OptionRenewTimeValue,
			dhcpv4.OptionRebindingTimeValue))
	for _, modify := range modifiers {
		modify(m)
	}
	return m
}

// transactionID derives a DHCP transaction id from the MAC and the time.
// It only has to tell this node's exchanges apart from other nodes' and
// from its own earlier ones, so it needs no cryptographic randomness.
func transactionID(mac net.HardwareAddr, now time.Time) dhcpv4.TransactionID {
	h := fnv.New32a()
	h.Write(mac)
	binary.Write(h, binary.BigEndian, now.UnixNano())
	var xid dhcpv4.TransactionID
	copy(xid[:], h.Sum(nil))
	return xid
}

// dhcpLogger shows nclient4's messages as debug logs.
type dhcpLogger struct{ log *slog.Logger }

func (l dhcpLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

func (l dhcpLogger) PrintMessage(prefix string, m *dhcpv4.DHCPv4) {
	l.log.Debug("dhcp "+prefix, "type", m.MessageType(), "xid", m.TransactionID, "yiaddr", m.YourIPAddr)
}
