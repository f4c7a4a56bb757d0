package netconf

import (
	"net"
	"testing"
)

func TestParseBootif(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0xab}
	tests := []struct {
		in      string
		want    net.HardwareAddr
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "01-52-54-00-12-34-ab", want: mac},
		{in: "01-52-54-00-12-34-AB", want: mac},
		{in: "52:54:00:12:34:ab", want: mac},
		{in: "52-54-00-12-34-ab", want: mac},
		{in: "01-52-54-00-12-34", wantErr: true},                                           // MAC too short
		{in: "06-52-54-00-12-34-ab", wantErr: true},                                        // not Ethernet
		{in: "01-52-54-00-12-34-zz", wantErr: true},                                        // not hex
		{in: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", wantErr: true}, // InfiniBand
	}
	for _, tt := range tests {
		got, err := parseBootif(tt.in)
		if (err != nil) != tt.wantErr || got.String() != tt.want.String() {
			t.Errorf("parseBootif(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
