package logmatch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"testing"
	"time"
)

// chatter are ordinary tailscaled/containerboot messages of a proxy pod,
// with their variable parts as verbs.
var chatter = []string{
	"magicsock: disco: node [%s] d:%s now using %s:%d mtu=1360 tx=%x",
	"magicsock: derp-%d connected; connGen=%d",
	"magicsock: endpoints changed: %s:%d (stun), 10.244.%d.%d:41641 (local)",
	"netcheck: report: udp=true v6=false v6os=true mapvarydest=false portmap= v4a=%s:%d derp=%d derpdist=1v4:%dms,2v4:%dms,9v4:%dms",
	"wgengine: Reconfig: configuring userspace WireGuard config (with %d/%d peers)",
	"control: netmap: got new map: %d peers, %d unchanged, %d removed, DERP home region %d",
	`control: HostInfo: {"IPNVersion":"1.98.10-t%x","BackendLogID":"%x","OS":"linux","Hostname":"ts-ingress-%d"}`,
	"peer keys: [%s] [%s] [%s]",
	"health(warnable=no-derp-home): ok; derp-%d home region latency %dms",
	"LinkChange: major, rebinding. New state: interfaces.State{defaultRoute=eth0 ifs={eth0:[10.244.%d.%d/24]} v4=true v6=false}",
	"peerapi: serving on http://100.%d.%d.%d:%d",
	"wg: [v2] [%s] - Received handshake response (peer %d, %d bytes)",
	"boot: %s Serve config applied: https://k8s-%d.tail%x.ts.net -> http://10.96.%d.%d:80",
}

// events are the ~1% of lines the matcher exists for.
var events = []string{
	"Drop: TCP{100.%d.0.1:%d > 100.64.0.2:443} 60 no rules matched",
	"Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:%x]:%d > [fd7a:115c:a1e0::5501:7c39]:443} 80 no rules matched",
	"Drop: UDP{[fd7a:115c:a1e0::%x]:%d > [fd7a:115c:a1e0::2]:443} 60 no rules matched",
	"Accept: TCP{100.%d.0.1:%d > 100.64.0.2:443} 60 tcp ok",
	"http: TLS handshake error from [fd7a:115c:a1e0::%x]:%d: EOF",
	"peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::%x]:%d",
	`[RATELIMIT] format("%%s: %%s %%d %%s\n%%s") (%d dropped)`,
}

// benchCorpus returns n lines as a proxy pod's log looks through the
// Kubernetes API with timestamps=true: deterministic, 1 in 100 an event.
func benchCorpus(n int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 1))
	t := time.Date(2026, 2, 22, 10, 11, 12, 0, time.UTC)
	key := func() string { return fmt.Sprintf("%x", rng.Uint32()) }
	ip := func() string {
		return fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	}
	lines := make([][]byte, n)
	for i := range lines {
		t = t.Add(time.Duration(rng.IntN(int(50 * time.Millisecond))))
		var msg string
		if i%100 == 50 {
			f := events[(i/100)%len(events)]
			if f[0] == '[' {
				msg = fmt.Sprintf(f, 1+rng.IntN(50))
			} else {
				msg = fmt.Sprintf(f, rng.IntN(256), rng.IntN(65536))
			}
		} else {
			msg = fillVerbs(chatter[rng.IntN(len(chatter))], rng, key, ip, t)
		}
		prefix := t.Format("2006/01/02 15:04:05 ")
		if len(msg) > 5 && msg[:5] == "boot:" {
			prefix = ""
		}
		lines[i] = []byte(t.Format(time.RFC3339Nano) + " " + prefix + msg)
	}
	return lines
}

func fillVerbs(f string, rng *rand.Rand, key, ip func() string, t time.Time) string {
	var args []any
	for i := 0; i < len(f)-1; i++ {
		if f[i] != '%' {
			continue
		}
		switch f[i+1] {
		case 'd':
			args = append(args, rng.IntN(70000))
		case 'x':
			args = append(args, rng.Uint64())
		case 's':
			switch {
			case bytes.HasPrefix([]byte(f[i+2:]), []byte(":%d")):
				args = append(args, ip())
			case len(args) == 0 && f[:5] == "boot:":
				args = append(args, t.Format("2006/01/02 15:04:05"))
			default:
				args = append(args, key())
			}
		}
		i++
	}
	return fmt.Sprintf(f, args...)
}

// baseline is the straightforward matcher: one regular expression per
// built-in signature, each run on every line.
type baseline []*regexp.Regexp

func newBaseline() baseline {
	return baseline{
		regexp.MustCompile(`Drop: ([A-Za-z0-9-]+)\{(\S+) > (\S+)\} (\d+) (.*)$`),
		regexp.MustCompile(`Accept: ([A-Za-z0-9-]+)\{(\S+) > (\S+)\} (\d+) (.*)$`),
		regexp.MustCompile(`TLS handshake error from (\S+): (.*)$`),
		regexp.MustCompile(`ingress: denied; no ingress cap from (\S+)`),
		regexp.MustCompile(`\[RATELIMIT\] format\("(.*)"\)(?: \((\d+) dropped\))?`),
	}
}

func (bl baseline) match(line []byte) int {
	hits := 0
	for _, re := range bl {
		if re.Match(line) {
			hits++
		}
	}
	return hits
}

func corpusBytes(lines [][]byte) int64 {
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	return n
}

// nsPerLine times f over the corpus for at least d.
func nsPerLine(lines [][]byte, d time.Duration, f func([]byte)) float64 {
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for _, l := range lines {
			f(l)
		}
		n += len(lines)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// runLines runs f on every corpus line b.N times and reports throughput,
// allocations per line and, if ref > 0, the speed-up over ref ns/line.
func runLines(b *testing.B, lines [][]byte, ref float64, refName string, f func([]byte)) {
	b.SetBytes(corpusBytes(lines))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			f(l)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perLine := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(lines))
	b.ReportMetric(perLine, "ns/line")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*len(lines)), "allocs/line")
	if ref > 0 {
		b.ReportMetric(ref/perLine, refName)
	}
}

func BenchmarkMatch(b *testing.B) {
	lines := benchCorpus(10000)
	bl := newBaseline()
	var hits int
	b.Run("baseline_regexp", func(b *testing.B) {
		runLines(b, lines, 0, "", func(l []byte) { hits += bl.match(l) })
	})
	b.Run("builtin", func(b *testing.B) {
		ref := nsPerLine(lines, 200*time.Millisecond, func(l []byte) { hits += bl.match(l) })
		var m *Matcher
		runLines(b, lines, ref, "x_baseline", func(l []byte) {
			if _, ok := m.Match(l); ok {
				hits++
			}
		})
	})

	sigs := []Signature{
		{Name: "backend_refused", Pattern: `proxy: dial tcp [^ ]+: connect: connection refused`},
		{Name: "cert_renewal_failed", Pattern: `cert\([^)]*\): renew(al)? failed`},
		{Name: "serve_config_missing", Pattern: `got ingress conn w/o serveConfig`},
		{Name: "derp_home_lost", Pattern: `magicsock: home DERP region \d+ is gone`},
		{Name: "boot_error", Pattern: `^boot: .*error`},
	}
	m, err := New(sigs)
	if err != nil {
		b.Fatal(err)
	}
	noPrefilter, _ := New(sigs)
	for i := range noPrefilter.sigs {
		noPrefilter.sigs[i].literal = literal{}
	}
	b.Run("custom5_no_prefilter", func(b *testing.B) {
		runLines(b, lines, 0, "", func(l []byte) { noPrefilter.Match(l) })
	})
	b.Run("custom5", func(b *testing.B) {
		ref := nsPerLine(lines, 200*time.Millisecond, func(l []byte) { noPrefilter.Match(l) })
		runLines(b, lines, ref, "x_no_prefilter", func(l []byte) { m.Match(l) })
	})
	if hits < 0 {
		b.Log(hits) // keeps the work observable
	}
}

// BenchmarkSplitKubeTimestamp compares the stateless split with the
// per-stream cache of KubeTimestamps, in the same run.
func BenchmarkSplitKubeTimestamp(b *testing.B) {
	lines := benchCorpus(10000)
	var ref float64
	b.Run("stateless", func(b *testing.B) {
		runLines(b, lines, 0, "", func(l []byte) { SplitKubeTimestamp(l) })
		ref = float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(lines))
	})
	b.Run("cached", func(b *testing.B) {
		var k KubeTimestamps
		runLines(b, lines, ref, "x_vs_stateless", func(l []byte) { k.Split(l) })
	})
}

func BenchmarkLineReader(b *testing.B) {
	var stream bytes.Buffer
	lines := benchCorpus(10000)
	for _, l := range lines {
		stream.Write(l)
		stream.WriteByte('\n')
	}
	data := stream.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	r := bytes.NewReader(data)
	for b.Loop() {
		r.Reset(data)
		lr := NewLineReader(r, 0)
		n := 0
		for {
			if _, _, err := lr.Next(); err != nil {
				break
			}
			n++
		}
		if n != len(lines) {
			b.Fatalf("read %d lines, want %d", n, len(lines))
		}
	}
}

// TestBenchCorpus keeps the benchmark honest: lines of realistic length,
// one in a hundred an event, each event recognised by both matchers.
func TestBenchCorpus(t *testing.T) {
	lines := benchCorpus(10000)
	bl := newBaseline()
	var m *Matcher
	events, baseHits := 0, 0
	for _, l := range lines {
		ev, ok := m.Match(l)
		if ok {
			events++
			if ev.Kind == KindCustom {
				t.Errorf("custom event without signatures: %q", l)
			}
		}
		if n := bl.match(l); n > 0 {
			baseHits++
			if !ok {
				t.Errorf("baseline matches, matcher does not: %q", l)
			}
		} else if ok {
			t.Errorf("matcher matches, baseline does not: %q", l)
		}
	}
	if events != len(lines)/100 || baseHits != events {
		t.Errorf("%d events, %d baseline hits in %d lines, want %d", events, baseHits, len(lines), len(lines)/100)
	}
	avg := corpusBytes(lines) / int64(len(lines))
	if avg < 80 || avg > 200 {
		t.Errorf("average line length %d, want 80..200", avg)
	}
}
