// Package logmatchtest makes proxy logs for the benchmarks of the matcher
// and the log reader, and for scripts/bench-stdin.sh: lines shaped as
// tailscaled and containerboot write them in a proxy container, and the
// straightforward matcher the benchmarks compare with (one regular
// expression per signature).
package logmatchtest

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"time"
)

// chatter are ordinary tailscaled messages of a proxy pod, with their
// variable parts as verbs (%s: a node key or an IP, %d, %x).
var chatter = []string{
	"magicsock: disco: node [%s] d:%s now using %s:%d mtu=1360 tx=%x",
	"magicsock: derp-%d connected; connGen=%d",
	"magicsock: endpoints changed: %s:%d (stun), 10.244.%d.%d:41641 (local)",
	"magicsock: adding connection to derp-%d for [%s]",
	"magicsock: %d active derp conns: derp-%d=cr%dm,wr%ds",
	"netcheck: report: udp=true v6=false v6os=true mapvarydest=false portmap= v4a=%s:%d derp=%d derpdist=1v4:%dms,2v4:%dms,9v4:%dms",
	"wgengine: Reconfig: configuring userspace WireGuard config (with %d/%d peers)",
	"wgengine: Reconfig: configuring router",
	"wgengine: Reconfig: starting up network logger (node:%s tailnet:%s)",
	"wg: [v2] [%s] - Received handshake response (peer %d, %d bytes)",
	"wg: [v2] [%s] - Sending handshake initiation",
	"control: netmap: got new map: %d peers, %d unchanged, %d removed, DERP home region %d",
	"control: NetInfo: NetInfo{varies=false hairpin= ipv6=false ipv6os=true udp=true icmpv4=false derp=#%d portmap= link=\"\" firewallmode=\"\"}",
	`control: HostInfo: {"IPNVersion":"1.98.10-t%x","BackendLogID":"%x","OS":"linux","Hostname":"ts-ingress-%d"}`,
	"netmap: self: [%s] auth=machine-authorized u=tagged-devices [100.%d.%d.%d/32 fd7a:115c:a1e0::%x/128]",
	"[v1] netmap diff: (none)",
	"health(warnable=no-derp-home): ok; derp-%d home region latency %dms",
	"health(warnable=network-status): ok",
	"peer keys: [%s] [%s] [%s]",
	"LinkChange: major, rebinding. New state: interfaces.State{defaultRoute=eth0 ifs={eth0:[10.244.%d.%d/24]} v4=true v6=false}",
	"peerapi: got ingress conn w/o serveConfig; rejecting",
	"ipnlocal: Switching ipn state Starting -> Running (WantRunning=true, nm=true)",
	"dns: Set: {DefaultResolvers:[] Routes:{} SearchDomains:[tail%x.ts.net] Hosts:%d}",
	"tsdial: bart table size: %d",
}

// events are the lines the matcher exists for. Every one is an event.
var events = []string{
	"Drop: TCP{100.%d.%d.%d:%d > 100.64.0.2:443} 60 no rules matched",
	"Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:%x]:%d > [fd7a:115c:a1e0::5501:7c39]:%d} 80 no rules matched",
	"Drop: UDP{[fd7a:115c:a1e0::%x]:%d > [fd7a:115c:a1e0::2]:443} 60 no rules matched",
	"Accept: TCP{100.%d.%d.%d:%d > 100.64.0.2:443} 60 tcp ok",
	"http: TLS handshake error from [fd7a:115c:a1e0::%x]:%d: EOF",
	"http: TLS handshake error from 100.%d.%d.%d:%d: client sent an HTTP request to an HTTPS server",
	"peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::%x]:%d",
	`[RATELIMIT] format("%%s: %%s %%d %%s\n%%s") (%d dropped)`,
	"peerapi: serving on http://100.%d.%d.%d:%d",
	`Program starting: v1.98.%d-t36550d57f, Go 1.26.5: []string{"/usr/local/bin/tailscaled", "--state=kube:ts-ingress-%d"}`,
}

// boot are containerboot's lines: "boot: " and its own timestamp, no Go
// log timestamp in front.
var boot = []string{
	"boot: %s Serve config applied: https://k8s-%d.tail%x.ts.net -> http://10.96.%d.%d:80",
	"boot: %s Startup complete, waiting for shutdown signal",
}

// EventEvery is how often Generator writes an event: 1 line in 100.
const EventEvery = 100

// JournaldEvery is how often Generator writes a journald prefix instead
// of a Go log timestamp: 1 line in 20, as if some came from a host's
// journal (journalctl -fu tailscaled) rather than from a container.
const JournaldEvery = 20

// A Generator writes a proxy's log lines. It is deterministic for a seed.
type Generator struct {
	rng  *rand.Rand
	now  time.Time
	n    int
	args []any
}

// NewGenerator starts a log at a fixed time.
func NewGenerator(seed uint64) *Generator {
	return &Generator{
		rng: rand.New(rand.NewPCG(seed, 1)),
		now: time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC),
	}
}

// Time is the time of the last line.
func (g *Generator) Time() time.Time { return g.now }

// Append appends the next line, without a line end, as logs.Reader hands
// it to Matcher.Match: a Go log timestamp or journald prefix and the
// message. Line EventEvery/2 of every EventEvery is an event.
func (g *Generator) Append(b []byte) []byte {
	g.now = g.now.Add(time.Duration(g.rng.IntN(int(10 * time.Millisecond))))
	i := g.n
	g.n++
	format := chatter[g.rng.IntN(len(chatter))]
	switch {
	case i%EventEvery == EventEvery/2:
		format = events[(i/EventEvery)%len(events)]
	case g.rng.IntN(50) == 0:
		format = boot[g.rng.IntN(len(boot))]
		return fmt.Appendf(b, format, g.fill(format)...)
	}
	if g.rng.IntN(JournaldEvery) == 0 {
		b = g.now.AppendFormat(b, "Jan _2 15:04:05")
		b = fmt.Appendf(b, " node-%d tailscaled[%d]: ", g.rng.IntN(5), 100+g.rng.IntN(30000))
	} else {
		b = g.now.AppendFormat(b, "2006/01/02 15:04:05 ")
	}
	return fmt.Appendf(b, format, g.fill(format)...)
}

// fill returns values for the verbs of format.
func (g *Generator) fill(format string) []any {
	g.args = g.args[:0]
	for i := 0; i < len(format)-1; i++ {
		if format[i] != '%' {
			continue
		}
		prev := byte(0)
		if i > 0 {
			prev = format[i-1]
		}
		i++
		next := byte(0)
		if i+1 < len(format) {
			next = format[i+1]
		}
		switch format[i] {
		case 'd':
			switch {
			case prev == '.' || next == '.':
				g.args = append(g.args, g.rng.IntN(256)) // an IPv4 octet
			case prev == ':':
				g.args = append(g.args, 1+g.rng.IntN(65535)) // a port
			default:
				g.args = append(g.args, 1+g.rng.IntN(999))
			}
		case 'x':
			if prev == ':' {
				g.args = append(g.args, g.rng.IntN(65536)) // an IPv6 group
			} else {
				g.args = append(g.args, g.rng.Uint32())
			}
		case 's':
			switch {
			case len(g.args) == 0 && format[:5] == "boot:":
				g.args = append(g.args, g.now.Format("2006/01/02 15:04:05"))
			case i+2 < len(format) && format[i+1:i+3] == ":%":
				g.args = append(g.args, fmt.Sprintf("%d.%d.%d.%d", 1+g.rng.IntN(223), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254)))
			default:
				g.args = append(g.args, fmt.Sprintf("%x", g.rng.Uint32()>>4))
			}
		}
	}
	return g.args
}

// Lines returns the first n lines of NewGenerator(seed).
func Lines(n int, seed uint64) [][]byte {
	g := NewGenerator(seed)
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = g.Append(nil)
	}
	return lines
}

// KubeStream returns lines as the Kubernetes API streams a container's log
// with timestamps=true: each with an RFC 3339 timestamp (nanoseconds, as
// the kubelet writes them) and a space in front and "\n" after it.
func KubeStream(lines [][]byte, start time.Time) []byte {
	var b []byte
	t := start
	for i, l := range lines {
		t = t.Add(time.Duration(i%7) * time.Millisecond)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

// PlainStream returns lines each followed by "\n", as a file or standard
// input carries them.
func PlainStream(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

// Regexps is the straightforward matcher the benchmarks compare with: one
// regular expression per built-in event, each run on every line.
type Regexps []*regexp.Regexp

// The expressions of NewRegexps, by index.
const (
	RegexpDrop = iota
	RegexpAccept
	RegexpTLS
	RegexpIngress
	RegexpRateLimit
	RegexpPeerAPIServing
	RegexpProgramStarting
)

// NewRegexps compiles the built-in events' expressions.
func NewRegexps() Regexps {
	return Regexps{
		regexp.MustCompile(`Drop: ([A-Za-z0-9-]+)\{(\S+) > (\S+)\} (\d+) (.*)$`),
		regexp.MustCompile(`Accept: ([A-Za-z0-9-]+)\{(\S+) > (\S+)\} (\d+) (.*)$`),
		regexp.MustCompile(`TLS handshake error from (\S+): (.*)$`),
		regexp.MustCompile(`ingress: denied; no ingress cap from (\S+)`),
		regexp.MustCompile(`\[RATELIMIT\] format\("(.*)"\)(?: \((\d+) dropped\))?`),
		regexp.MustCompile(`peerapi: serving on http://(\S+):(\d+)$`),
		regexp.MustCompile(`Program starting: v(\d+)\.(\d+)\.(\d+)(-\S*)?(?:, Go |: )`),
	}
}

// Match returns the index of the first expression that matches line, or
// -1. On a line that is no event, which is most lines, it runs them all.
func (r Regexps) Match(line []byte) int {
	for i, re := range r {
		if re.Match(line) {
			return i
		}
	}
	return -1
}
