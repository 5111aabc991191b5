package logs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

var key = StreamKey{Hostname: "k8s.tn.ts.net", Pod: "ts-traefik-ingress-abc-0"}

func newReader(t testing.TB, sigs ...logmatch.Signature) (*Reader, *Counters) {
	t.Helper()
	m, err := logmatch.New(sigs)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCounters()
	return &Reader{Matcher: NewMatcherRef(m), Stream: c.Stream(key)}, c
}

func drops(c *Counters) uint64 {
	var n uint64
	for ev, v := range c.Totals(key).Events {
		if ev.Kind == logmatch.KindDrop {
			n += v
		}
	}
	return n
}

// kubeLog is a container log as the API serves it with timestamps=true.
type kubeLog struct {
	ts    []time.Time
	lines []string
}

// since renders the lines the API returns for sinceTime (one-second
// resolution: every line at or after it).
func (k kubeLog) since(t time.Time) []byte {
	var b bytes.Buffer
	for i, ts := range k.ts {
		if !ts.Before(t) {
			fmt.Fprintf(&b, "%s %s\n", ts.UTC().Format(time.RFC3339Nano), k.lines[i])
		}
	}
	return b.Bytes()
}

// TestReadKubeExactlyOnce cuts the stream at random bytes (mid-line too)
// many times and resumes each time from the position, as the follower does:
// every drop is counted once, none twice, including lines that share a
// timestamp across a cut.
func TestReadKubeExactlyOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC)
	var log kubeLog
	wantDrops := 0
	ts := base
	for i := range 3000 {
		if rng.IntN(3) > 0 { // a third of the lines share the previous timestamp
			ts = ts.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
		}
		line := fmt.Sprintf("2026/11/24 09:32:16 magicsock: endpoint %d updated", i)
		if i%7 == 0 {
			line = fmt.Sprintf("2026/11/24 09:32:16 Drop: TCP{100.64.0.%d:65076 > 100.64.0.2:443} 60 no rules matched", i%250)
			wantDrops++
		}
		log.ts = append(log.ts, ts)
		log.lines = append(log.lines, line)
	}
	r, c := newReader(t)
	pos := Position{Time: base}
	for cut := 0; cut < 200; cut++ {
		data := log.since(pos.SinceTime())
		if len(data) == 0 {
			break
		}
		n := len(data)
		if cut < 199 {
			n = rng.IntN(len(data)) + 1 // a cut anywhere, mid-line included
		}
		if err := r.ReadKube(bytes.NewReader(data[:n]), &pos); err != nil {
			t.Fatal(err)
		}
	}
	if got := drops(c); got != uint64(wantDrops) {
		t.Fatalf("counted %d drops, wrote %d", got, wantDrops)
	}
	if got := c.Totals(key).Lines; got != uint64(len(log.lines)) {
		t.Errorf("counted %d lines, wrote %d", got, len(log.lines))
	}
}

// TestReadKubePreviousInstance is the resume of a broken stream as the
// follower does it: the previous instance's log, then the current one's,
// both from the position, each served from the start of its second. Lines
// of two instances may share that second, even a timestamp: none is counted
// twice, and the container's lines after the position are all counted.
func TestReadKubePreviousInstance(t *testing.T) {
	base := time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC)
	// at is a log with one line per offset in milliseconds from base.
	at := func(ms ...int) kubeLog {
		var l kubeLog
		for i, m := range ms {
			l.ts = append(l.ts, base.Add(time.Duration(m)*time.Millisecond))
			l.lines = append(l.lines, fmt.Sprintf("Drop: TCP{100.64.0.%d:1 > 100.64.0.2:443} 60 no rules matched", i))
		}
		return l
	}
	cat := func(logs ...kubeLog) kubeLog {
		var l kubeLog
		for _, x := range logs {
			l.ts = append(l.ts, x.ts...)
			l.lines = append(l.lines, x.lines...)
		}
		return l
	}
	head := func(l kubeLog, n int) kubeLog { return kubeLog{ts: l.ts[:n], lines: l.lines[:n]} }
	old, restarted := at(100, 100, 400, 400, 1200), at(1500, 2000)
	p, c := at(100, 300), at(500, 500, 900)
	pEndsAtPos := at(100, 500)
	x := at(100, 100, 200)
	burst := at(100, 100, 100)

	tests := []struct {
		name              string
		start             time.Duration // the follower's "now", after base
		before            kubeLog       // counted before the stream broke
		previous, current kubeLog       // what the resume is served
		want              uint64        // lines the resume counts
	}{
		{name: "restarted while down: the old instance's tail, then the new one",
			before: head(old, 3), previous: old, current: restarted, want: 2 + 2},
		{name: "restarted while down in the second of the position",
			before: head(burst, 1), previous: burst, current: at(150), want: 2 + 1},
		{name: "not restarted: the previous instance ends in the second of the position",
			before: cat(p, head(c, 2)), previous: p, current: c, want: 1},
		{name: "not restarted: the previous instance's last line is stamped like the position",
			before: cat(pEndsAtPos, head(c, 2)), previous: pEndsAtPos, current: c, want: 1},
		{name: "a terminated instance served as both previous and current",
			before: head(x, 2), previous: x, current: x, want: 1},
		{name: "nothing counted yet: the previous instance's lines after the start count",
			start: 250 * time.Millisecond, previous: p, current: at(400), want: 1 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, counters := newReader(t)
			pos := Position{Time: base.Add(tc.start)}
			if err := r.ReadKube(bytes.NewReader(tc.before.since(pos.SinceTime())), &pos); err != nil {
				t.Fatal(err)
			}
			before := counters.Totals(key).Lines
			if before != uint64(len(tc.before.lines)) {
				t.Fatalf("counted %d lines before the break, want %d", before, len(tc.before.lines))
			}
			for _, l := range []kubeLog{tc.previous, tc.current} {
				if err := r.ReadKube(bytes.NewReader(l.since(pos.SinceTime())), &pos); err != nil {
					t.Fatal(err)
				}
			}
			if got := counters.Totals(key).Lines - before; got != tc.want {
				t.Errorf("the resume counted %d lines, want %d", got, tc.want)
			}
		})
	}
}

func TestReadKubeStartsAtNow(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 32, 16, 500_000_000, time.UTC)
	log := kubeLog{
		ts:    []time.Time{now.Add(-time.Hour), now.Add(-100 * time.Millisecond), now.Add(100 * time.Millisecond)},
		lines: []string{"Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", "Drop: UDP{[fd7a:115c:a1e0::1]:1 > [fd7a:115c:a1e0::2]:443} 60 no rules matched"},
	}
	r, c := newReader(t)
	pos := Position{Time: now}
	// The API returns from the start of the second; older history is skipped.
	if err := r.ReadKube(bytes.NewReader(log.since(pos.SinceTime())), &pos); err != nil {
		t.Fatal(err)
	}
	if got := drops(c); got != 1 {
		t.Errorf("counted %d drops, want only the one after the start", got)
	}
	want := logmatch.Event{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched, Protocol: logmatch.ProtocolUDP, Family: logmatch.FamilyIPv6, Port: logmatch.Port443}
	if c.Totals(key).Events[want] != 1 {
		t.Errorf("events = %v, want the IPv6 UDP drop", c.Totals(key).Events)
	}
}

func TestReadPlainBadInput(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	input := strings.Join([]string{
		"2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
		huge + " Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", // 1 MiB: counted as a line, not stopping the stream
		"\xff\xfe binary \x00 garbage",
		"http: TLS handshake error from [fd7a:115c:a1e0::1]:46098: EOF",
		"peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::1]:36338",
		"Drop: TCP{100.64.0.1:65076 > 100.64.0.2:80} 60 no rules matched", // last line, no newline
	}, "\n")
	r, c := newReader(t)
	if err := r.ReadPlain(strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	tot := c.Totals(key)
	if tot.Lines != 6 {
		t.Errorf("lines = %d, want 6", tot.Lines)
	}
	if got := drops(c); got != 2 {
		t.Errorf("drops = %d, want 2 (the over-long line is cut before its drop)", got)
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
	}{
		{"tailscale_tunnel_proxy_tls_handshake_errors_total", map[string]string{"cause": "eof", "family": "ipv6"}},
		{"tailscale_tunnel_proxy_ingress_denied_total", map[string]string{"family": "ipv6"}},
		{"tailscale_tunnel_log_truncated_lines_total", nil},
	} {
		if v, ok := sample(t, c, tt.name, tt.labels); v != 1 {
			t.Errorf("%s%v = %v (present %v), want 1", tt.name, tt.labels, v, ok)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{c})
	if v := testutil.ToFloat64(collectorOf(c, "tailscale_tunnel_log_truncated_lines_total")); v != 1 {
		t.Errorf("truncated lines = %v", v)
	}
	if lint, err := testutil.GatherAndLint(reg); err != nil || len(lint) > 0 {
		t.Errorf("lint: %v %v", lint, err)
	}
}

func TestCountersMetrics(t *testing.T) {
	r, c := newReader(t, logmatch.Signature{Name: "cert_fetch_failed", Pattern: `cert\(.*\): getCertPEM: .*`})
	lines := strings.Join([]string{
		`2026-11-24T09:32:15.000000001Z 2026/11/24 09:32:15 Program starting: v1.98.10-t36550d57f, Go 1.26.5: []string{"tailscaled"}`,
		"2026-11-24T09:32:15.500000001Z 2026/11/24 09:32:15 peerapi: serving on http://[fd7a:115c:a1e0::5501:7c39]:36311",
		"2026-11-24T09:32:16.000000001Z 2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:36311} 80 no rules matched",
		// The peer API port learned above, then another port: other.
		"2026-11-24T09:32:16.500000001Z 2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0::9]:46651 > [fd7a:115c:a1e0::5501:7c39]:22} 80 no rules matched",
		"2026-11-24T09:32:17.000000001Z 2026/11/24 09:32:17 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
		"2026-11-24T09:32:18.000000001Z 2026/11/24 09:32:18 Accept: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 tcp ok",
		`2026-11-24T09:32:19.000000001Z 2026/11/24 09:32:19 [RATELIMIT] format("%s: %s %d %s\n%s") (8 dropped)`,
		"2026-11-24T09:32:20.000000001Z 2026/11/24 09:32:20 cert(\"k8s.tn.ts.net\"): getCertPEM: 403 Forbidden",
	}, "\n") + "\n"
	pos := Position{}
	if err := r.ReadKube(strings.NewReader(lines), &pos); err != nil {
		t.Fatal(err)
	}
	r.Stream.SetUp(true)
	want := `
# HELP tailscale_tunnel_proxy_drops_total Packet-filter drops logged by the proxy (lower bound: tailscaled rate-limits drop logging), by reason, protocol, source address family and where the packet went: port="443" or "80" (a served port: a real drop), "peerapi" (a TCP SYN to the node's peer API port, which tailscaled logs as a drop and then lets through, net/tstun/wrap.go: every Funnel relay connection makes one; not a failure), "other" (any other port, or a non-tailnet destination).
# TYPE tailscale_tunnel_proxy_drops_total counter
tailscale_tunnel_proxy_drops_total{family="ipv4",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="443",protocol="tcp",reason="no_rules_matched"} 1
tailscale_tunnel_proxy_drops_total{family="ipv4",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="80",protocol="tcp",reason="no_rules_matched"} 0
tailscale_tunnel_proxy_drops_total{family="ipv4",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="peerapi",protocol="tcp",reason="no_rules_matched"} 0
tailscale_tunnel_proxy_drops_total{family="ipv6",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="443",protocol="tcp",reason="no_rules_matched"} 0
tailscale_tunnel_proxy_drops_total{family="ipv6",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="80",protocol="tcp",reason="no_rules_matched"} 0
tailscale_tunnel_proxy_drops_total{family="ipv6",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="other",protocol="tcp",reason="no_rules_matched"} 1
tailscale_tunnel_proxy_drops_total{family="ipv6",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",port="peerapi",protocol="tcp",reason="no_rules_matched"} 1
# HELP tailscale_tunnel_proxy_last_drop_timestamp_seconds Time of the last logged drop (the line's timestamp when it has one, else when it was read).
# TYPE tailscale_tunnel_proxy_last_drop_timestamp_seconds gauge
tailscale_tunnel_proxy_last_drop_timestamp_seconds{hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0"} 1.795512737e+09
# HELP tailscale_tunnel_proxy_log_suppressed_lines_total Log lines tailscaled's rate limiter suppressed ([RATELIMIT] ... (N dropped)); filter="true" for the packet filter's drop/accept format, which makes drop counts from logs incomplete.
# TYPE tailscale_tunnel_proxy_log_suppressed_lines_total counter
tailscale_tunnel_proxy_log_suppressed_lines_total{filter="true",hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0"} 8
# HELP tailscale_tunnel_proxy_signature_matches_total Lines matching a user-defined signature from the configuration file.
# TYPE tailscale_tunnel_proxy_signature_matches_total counter
tailscale_tunnel_proxy_signature_matches_total{hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0",signature="cert_fetch_failed"} 1
# HELP tailscale_tunnel_log_stream_up Whether the log stream is connected (1) or not (0).
# TYPE tailscale_tunnel_log_stream_up gauge
tailscale_tunnel_log_stream_up{hostname="k8s.tn.ts.net",pod="ts-traefik-ingress-abc-0"} 1
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{c})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"tailscale_tunnel_proxy_drops_total", "tailscale_tunnel_proxy_last_drop_timestamp_seconds",
		"tailscale_tunnel_proxy_log_suppressed_lines_total", "tailscale_tunnel_proxy_signature_matches_total",
		"tailscale_tunnel_log_stream_up"); err != nil {
		t.Error(err)
	}
	c.Forget(key)
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series after Forget, want 0", n)
	}
}

// updateCollector registers Counters as the exporter does: unchecked (no
// descriptors), since its series come and go with streams and events (a
// last-drop gauge appears at the first drop). Describing by a first
// collect made a pedantic registry reject series born later.
type updateCollector struct{ c *Counters }

func (u updateCollector) Describe(chan<- *prometheus.Desc)    {}
func (u updateCollector) Collect(ch chan<- prometheus.Metric) { _ = u.c.Update(ch) }

// collectorOf exposes one family of c, for testutil.ToFloat64.
func collectorOf(c *Counters, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    *Counters
	name string
}

func (f filtered) Describe(chan<- *prometheus.Desc) {}
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 1000)
	_ = f.c.Update(all)
	close(all)
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}
