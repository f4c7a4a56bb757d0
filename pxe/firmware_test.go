package pxe

import (
	"reflect"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

func TestIdentifyFirmware(t *testing.T) {
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want firmware
	}{
		{"nothing", nil, firmware{}},
		{"iPXE's bare user class", []dhcpv4.Modifier{dhcpv4.WithUserClass("iPXE", false)},
			firmware{ipxe: true}},
		{"RFC 3004 user class list", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptRFC3004UserClass([]string{"site", "iPXE"}))},
			firmware{ipxe: true}},
		{"other user class", []dhcpv4.Modifier{dhcpv4.WithUserClass("iPXEnot", false)}, firmware{}},
		{"iPXE's feature flags (option 175) without a user class", []dhcpv4.Modifier{
			dhcpv4.WithGeneric(dhcpv4.OptionEtherboot, []byte{177, 5, 1, 0x80, 0x86, 0x10, 0x0e, 0xff})},
			firmware{ipxe: true}},
		{"PXE ROM", asPXE(iana.EFI_X86_64),
			firmware{vendorClass: classPXE, arch: iana.EFI_X86_64, archKnown: true}},
		{"HTTP Boot", asHTTPBoot(iana.EFI_X86_64_HTTP),
			firmware{vendorClass: classHTTP, arch: iana.EFI_X86_64_HTTP, archKnown: true}},
		{"other vendor class", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("MSFT 5.0"))},
			firmware{}},
		{"odd-length option 93", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
			dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7, 1})},
			firmware{vendorClass: classPXE}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := identifyFirmware(message(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", tc.mods...))
			if got.mac.String() != "52:54:00:00:00:01" {
				t.Errorf("mac %v, want the chaddr 52:54:00:00:00:01", got.mac)
			}
			got.mac = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
