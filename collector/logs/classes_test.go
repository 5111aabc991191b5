package logs

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// Drops are counted by where they went, with the peer API port known when
// the line is read.
func TestDropsByClass(t *testing.T) {
	const (
		self4, self6 = "100.64.0.2", "fd7a:115c:a1e0::5501:7c39"
		relay        = "[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650"
	)
	inferred4 := logmatch.InferPeerAPIPort(netip.MustParseAddr(self4))
	serving6 := func(port int) string { return fmt.Sprintf("peerapi: serving on http://[%s]:%d", self6, port) }
	drop6 := func(proto string, port int) string {
		return fmt.Sprintf("Drop: %s{%s > [%s]:%d} 80 no rules matched", proto, relay, self6, port)
	}
	drop4 := func(port uint16) string {
		return fmt.Sprintf("Drop: TCP{100.64.0.1:65076 > %s:%d} 60 no rules matched", self4, port)
	}
	type series struct{ protocol, family, port string }
	tests := []struct {
		name  string
		lines []string
		want  map[series]float64
		// wantSource: how the peer API port was known, per class.
		wantSource map[logmatch.DropClass]logmatch.PortSource
	}{
		{
			name:       "learned port: a relay's SYN is peerapi",
			lines:      []string{serving6(36311), drop6("TCP", 36311)},
			want:       map[series]float64{{"tcp", "ipv6", "peerapi"}: 1, {"tcp", "ipv6", "443"}: 0},
			wantSource: map[logmatch.DropClass]logmatch.PortSource{logmatch.DropClassPeerAPI: logmatch.PortSourceLearned},
		},
		{
			name:       "inferred port: no serving line, the address's own rule",
			lines:      []string{drop4(inferred4), drop4(inferred4 ^ 1)},
			want:       map[series]float64{{"tcp", "ipv4", "peerapi"}: 1, {"tcp", "ipv4", "other"}: 1},
			wantSource: map[logmatch.DropClass]logmatch.PortSource{logmatch.DropClassPeerAPI: logmatch.PortSourceInferred, logmatch.DropClassOther: logmatch.PortSourceInferred},
		},
		{
			name:       "UDP to the peer API port is a real drop: other",
			lines:      []string{serving6(36311), drop6("UDP", 36311)},
			want:       map[series]float64{{"udp", "ipv6", "other"}: 1, {"tcp", "ipv6", "peerapi"}: 0},
			wantSource: map[logmatch.DropClass]logmatch.PortSource{logmatch.DropClassOther: logmatch.PortSourceLearned},
		},
		{
			name:       "served ports keep their numbers",
			lines:      []string{serving6(36311), drop6("TCP", 443), drop6("TCP", 80), drop6("UDP", 443), drop4(443)},
			want:       map[series]float64{{"tcp", "ipv6", "443"}: 1, {"tcp", "ipv6", "80"}: 1, {"udp", "ipv6", "443"}: 1, {"tcp", "ipv4", "443"}: 1},
			wantSource: map[logmatch.DropClass]logmatch.PortSource{logmatch.DropClassServed: logmatch.PortSourceNone},
		},
		{
			name: "a later serving line changes the port; earlier drops stay where they were counted",
			lines: []string{
				serving6(36311), drop6("TCP", 36311), drop6("TCP", 40000),
				serving6(40000), drop6("TCP", 36311), drop6("TCP", 40000),
			},
			want:       map[series]float64{{"tcp", "ipv6", "peerapi"}: 2, {"tcp", "ipv6", "other"}: 2},
			wantSource: map[logmatch.DropClass]logmatch.PortSource{logmatch.DropClassPeerAPI: logmatch.PortSourceLearned, logmatch.DropClassOther: logmatch.PortSourceLearned},
		},
		{
			name:       "a non-tailnet destination with no learned port: other",
			lines:      []string{"Drop: TCP{100.64.0.1:65076 > 10.0.0.5:36311} 60 no rules matched"},
			want:       map[series]float64{{"tcp", "ipv4", "other"}: 1},
			wantSource: map[logmatch.DropClass]logmatch.PortSource{logmatch.DropClassUnknown: logmatch.PortSourceUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, c := newReader(t)
			if err := r.ReadPlain(strings.NewReader(strings.Join(tt.lines, "\n") + "\n")); err != nil {
				t.Fatal(err)
			}
			for s, want := range tt.want {
				labels := map[string]string{"protocol": s.protocol, "family": s.family, "port": s.port, "reason": "no_rules_matched"}
				if got, ok := sample(t, c, "tailscale_tunnel_proxy_drops_total", labels); got != want || !ok {
					t.Errorf("drops%v = %v (present %v), want %v", labels, got, ok, want)
				}
			}
			tot := c.Totals(key)
			var n uint64
			for cl, v := range tot.Classified {
				n += v
				if src, ok := tt.wantSource[cl.Class]; !ok || src != cl.Source {
					t.Errorf("%d drops of class %s with port source %s; want classes and sources %v", v, cl.Class, cl.Source, tt.wantSource)
				}
			}
			if n != drops(c) {
				t.Errorf("%d classified drops, %d drops", n, drops(c))
			}
		})
	}
}

// A fresh stream shows, at 0, every series an alert or panel reads, so that
// the first burst is an increase; and no more than ZeroSeriesPerStream.
func TestZeroSeriesOnFreshStream(t *testing.T) {
	c := NewCounters()
	c.Stream(key)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{c})
	zeros := 0
	for _, name := range []string{"tailscale_tunnel_proxy_drops_total", "tailscale_tunnel_proxy_ingress_denied_total", "tailscale_tunnel_proxy_tls_handshake_errors_total"} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		zeros += n
	}
	if zeros != ZeroSeriesPerStream {
		t.Errorf("%d zero series, want %d", zeros, ZeroSeriesPerStream)
	}
	want := []map[string]string{
		{"port": "443", "family": "ipv6", "protocol": "tcp", "reason": "no_rules_matched"},
		{"port": "80", "family": "ipv4", "protocol": "tcp", "reason": "no_rules_matched"},
		{"port": "peerapi", "family": "ipv6", "protocol": "tcp", "reason": "no_rules_matched"},
	}
	for _, labels := range want {
		if v, ok := sample(t, c, "tailscale_tunnel_proxy_drops_total", labels); !ok || v != 0 {
			t.Errorf("drops%v = %v (present %v), want 0", labels, v, ok)
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		if v, ok := sample(t, c, "tailscale_tunnel_proxy_ingress_denied_total", map[string]string{"family": fam}); !ok || v != 0 {
			t.Errorf("ingress denied{family=%s} = %v (present %v), want 0", fam, v, ok)
		}
		for _, cause := range []string{"eof", "cert_unavailable", "plain_http", "rate_limited", "other"} {
			labels := map[string]string{"family": fam, "cause": cause}
			if v, ok := sample(t, c, "tailscale_tunnel_proxy_tls_handshake_errors_total", labels); !ok || v != 0 {
				t.Errorf("tls errors%v = %v (present %v), want 0", labels, v, ok)
			}
		}
	}
	// Certificate errors are printed with a %!s(<nil>) address in public
	// reports (family unknown); the cert alerts see their first burst too.
	for _, cause := range []string{"cert_unavailable", "rate_limited"} {
		labels := map[string]string{"family": "unknown", "cause": cause}
		if v, ok := sample(t, c, "tailscale_tunnel_proxy_tls_handshake_errors_total", labels); !ok || v != 0 {
			t.Errorf("tls errors%v = %v (present %v), want 0", labels, v, ok)
		}
	}
	// Zeros are series, not events: a report's totals have none.
	if n := len(c.Totals(key).Events); n != 0 {
		t.Errorf("%d events on a fresh stream, want 0", n)
	}
	if lint, err := testutil.GatherAndLint(reg); err != nil || len(lint) > 0 {
		t.Errorf("lint: %v %v", lint, err)
	}
}
