package proxymetrics

import (
	"os"
	"strings"
	"testing"
)

// Real pages of tailscaled 1.98.10 (testdata/README.md says how they were
// captured).
const (
	realBeforeDrop = "testdata/usermetrics-1.98.10-before-drop.txt"
	realACLDrops   = "testdata/usermetrics-1.98.10-acl-drops.txt"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drops builds a Drops from "direction/reason" → count.
func drops(counts map[string]float64) Drops {
	var d Drops
	for k, v := range counts {
		dir, reason, _ := strings.Cut(k, "/")
		di := Inbound
		if dir == "outbound" {
			di = Outbound
		}
		r := ReasonOf(reason)
		d.Count[di][r] += v
		d.Seen[di][r] = true
	}
	return d
}

const (
	inboundFamily  = "# TYPE tailscaled_inbound_dropped_packets_total counter\n"
	outboundFamily = "# TYPE tailscaled_outbound_dropped_packets_total counter\n"
)

func TestParseDrops(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    Drops
		wantErr string
	}{
		{
			name: "real page after a denied connect",
			text: string(readFile(t, realACLDrops)),
			// The connect's SYN and two retransmissions; the outbound
			// error series is written at 0.
			want: drops(map[string]float64{"inbound/acl": 3, "outbound/acl": 0, "outbound/error": 0}),
		},
		{
			name: "real page before any drop: families without series are acl 0",
			text: string(readFile(t, realBeforeDrop)),
			want: drops(map[string]float64{"inbound/acl": 0, "outbound/acl": 0, "outbound/error": 0}),
		},
		{
			name: "every reason tailscaled writes, and unknown ones as other",
			text: inboundFamily +
				`tailscaled_inbound_dropped_packets_total{reason="acl"} 7` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="multicast"} 1` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="link_local_unicast"} 2` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="too_short"} 3` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="fragment"} 4` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="unknown_protocol"} 5` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="error"} 6` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="new_in_2027"} 8` + "\n" +
				`tailscaled_inbound_dropped_packets_total{reason="another"} 9` + "\n",
			want: drops(map[string]float64{"inbound/acl": 7, "inbound/multicast": 1, "inbound/link_local_unicast": 2,
				"inbound/too_short": 3, "inbound/fragment": 4, "inbound/unknown_protocol": 5, "inbound/error": 6, "inbound/other": 17}),
		},
		{
			name: "no outbound family",
			text: inboundFamily + `tailscaled_inbound_dropped_packets_total{reason="acl"} 1` + "\n",
			want: drops(map[string]float64{"inbound/acl": 1}),
		},
		{
			name: "large counts stay exact",
			text: inboundFamily + `tailscaled_inbound_dropped_packets_total{reason="acl"} 9007199254740992` + "\n",
			want: drops(map[string]float64{"inbound/acl": 9007199254740992}),
		},
		{
			name:    "no inbound family: not tailscaled's user metrics",
			text:    "# TYPE node_load1 gauge\nnode_load1 0.5\n",
			wantErr: "no tailscaled_inbound_dropped_packets_total family",
		},
		{name: "empty page", text: "", wantErr: "not tailscaled's user metrics"},
		{
			name:    "garbage after the family",
			text:    inboundFamily + "tailscaled_inbound_dropped_packets_total{reason=\"acl\" 3\n",
			wantErr: "line 2",
		},
		{
			name:    "HTML",
			text:    "<html><body># TYPE tailscaled_inbound_dropped_packets_total counter</body></html>",
			wantErr: "line 1",
		},
		{
			name:    "not a counter",
			text:    "# TYPE tailscaled_inbound_dropped_packets_total gauge\ntailscaled_inbound_dropped_packets_total{reason=\"acl\"} 3\n",
			wantErr: "want a counter",
		},
		{
			name:    "negative count",
			text:    inboundFamily + `tailscaled_inbound_dropped_packets_total{reason="acl"} -1` + "\n",
			wantErr: "not a count",
		},
		{
			name:    "NaN count",
			text:    inboundFamily + `tailscaled_inbound_dropped_packets_total{reason="acl"} NaN` + "\n",
			wantErr: "not a count",
		},
		{
			name:    "infinite count",
			text:    inboundFamily + outboundFamily + `tailscaled_outbound_dropped_packets_total{reason="acl"} +Inf` + "\n",
			wantErr: "not a count",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDrops([]byte(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDrops() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDrops(): %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseDrops() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	// Every name round-trips; anything else is other.
	for r := range numReasons {
		if got := ReasonOf(r.String()); got != r {
			t.Errorf("ReasonOf(%q) = %v", r, got)
		}
	}
	for _, s := range []string{"", "ACL", "acl ", "Other"} {
		if got := ReasonOf(s); got != ReasonOther {
			t.Errorf("ReasonOf(%q) = %v, want other", s, got)
		}
	}
}
