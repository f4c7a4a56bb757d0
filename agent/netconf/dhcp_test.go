package netconf

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func TestTransactionID(t *testing.T) {
	now := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	otherMAC := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x57}
	xid := transactionID(testMAC, now)
	if xid != transactionID(testMAC, now) {
		t.Error("transactionID is not a function of MAC and time")
	}
	if xid == transactionID(otherMAC, now) {
		t.Error("two nodes booting at the same instant share a transaction id")
	}
	if xid == transactionID(testMAC, now.Add(time.Nanosecond)) {
		t.Error("a node's successive exchanges share a transaction id")
	}
}

// TestBootRequestMatchesLibrary checks that bootRequest builds what
// dhcpv4.New would, minus the random transaction id.
func TestBootRequestMatchesLibrary(t *testing.T) {
	xid := transactionID(testMAC, time.Now())
	ours := bootRequest(xid, dhcpv4.WithHwAddr(testMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover))

	theirs, err := dhcpv4.New(dhcpv4.WithTransactionID(xid), dhcpv4.WithHwAddr(testMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover))
	if err != nil {
		t.Fatal(err)
	}
	theirs.Options = ours.Options // the options are bootRequest's own choice
	if !bytes.Equal(ours.ToBytes(), theirs.ToBytes()) {
		t.Errorf("bootRequest differs from dhcpv4.New:\n%v\nwant\n%v", ours.Summary(), theirs.Summary())
	}
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionHostName, dhcpv4.OptionDomainNameServer} {
		if !ours.IsOptionRequested(code) {
			t.Errorf("option %v is not requested", code)
		}
	}
}

func TestRequestFor(t *testing.T) {
	server := net.IPv4(10, 198, 0, 1).To4()
	offer, err := dhcpv4.New(
		dhcpv4.WithTransactionID(dhcpv4.TransactionID{1, 2, 3, 4}),
		dhcpv4.WithReply(&dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, ClientHWAddr: testMAC}),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithYourIP(net.IPv4(10, 198, 0, 100)),
		dhcpv4.WithServerIP(server),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)))
	if err != nil {
		t.Fatal(err)
	}
	req := requestFor(offer)
	switch {
	case req.OpCode != dhcpv4.OpcodeBootRequest:
		t.Errorf("opcode %v, want BootRequest", req.OpCode)
	case req.MessageType() != dhcpv4.MessageTypeRequest:
		t.Errorf("message type %v, want Request", req.MessageType())
	case req.TransactionID != offer.TransactionID:
		t.Errorf("xid %v, want the offer's %v", req.TransactionID, offer.TransactionID)
	case !bytes.Equal(req.ClientHWAddr, testMAC):
		t.Errorf("chaddr %v, want %v", req.ClientHWAddr, testMAC)
	case !req.RequestedIPAddress().Equal(offer.YourIPAddr):
		t.Errorf("requested %v, want the offered %v", req.RequestedIPAddress(), offer.YourIPAddr)
	case !req.ServerIdentifier().Equal(server):
		t.Errorf("server identifier %v, want %v", req.ServerIdentifier(), server)
	case !req.ClientIPAddr.Equal(net.IPv4zero):
		t.Errorf("ciaddr %v, want 0.0.0.0 while selecting", req.ClientIPAddr)
	}
}
