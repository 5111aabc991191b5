package tailnettest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

func TestMain(m *testing.M) { Main(m) }

// captureEnv names a file the proxy node's whole tailscaled log is copied
// to at the end of TestProxyBehindPolicy: how
// collector/logmatch/testdata/real was made.
const captureEnv = "TAILNETTEST_CAPTURE"

// The proxy may always reach the client, so the two stay peers in every
// policy (headscale sends a node only the peers it may talk to, in either
// direction); only the client → proxy:443 rule changes.
const (
	allowPolicy = `{
	// A tailnet client reaches the proxy's served port.
	"acls": [
		{"action": "accept", "src": ["client@"], "dst": ["proxy@:443"]},
		{"action": "accept", "src": ["proxy@"], "dst": ["client@:*"]},
	],
}
`
	denyPolicy = `{
	// The client → proxy:443 rule is gone.
	"acls": [
		{"action": "accept", "src": ["proxy@"], "dst": ["client@:*"]},
	],
}
`
)

// TestProxyBehindPolicy is one story on a real tailnet: a client reaches
// the proxy's TLS server through its tailscaled's SOCKS5 server; the
// policy then drops that; a Funnel-style ingress request to the proxy's
// peer API is refused. Each step checks what tailscaled really logs and
// counts against what the exporter's parsers make of it. The subtests
// run in order and build on each other.
func TestProxyBehindPolicy(t *testing.T) {
	tn, proxy, client := proxyAndClient(t, allowPolicy)
	ca := serveTLS(t, proxy)
	dial, err := prober.SOCKS5Dialer(client.SOCKS5, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe := func() prober.Result {
		return prober.Probe(context.Background(), prober.Request{
			Hostname: proxy.DNSName, Port: 443, ResolveRemotely: true,
			Timeout: 20 * time.Second, RootCAs: ca.Pool, HTTP: true, Dialer: dial,
		})
	}
	if path := os.Getenv(captureEnv); path != "" {
		t.Cleanup(func() { capture(t, proxy, path) })
	}

	t.Run("allowed", func(t *testing.T) {
		res := probe()
		if !res.Success {
			t.Fatalf("probe of %s:443 through %s's SOCKS5 failed: %s in %s: %v\n%s", proxy.DNSName, client.Name, res.Reason, res.FailedPhase, res.Err, strings.Join(res.Log, "\n"))
		}
		for _, ph := range []prober.Phase{prober.PhaseConnect, prober.PhaseTLS, prober.PhaseHTTP} {
			if res.Phases[ph] <= 0 {
				t.Errorf("phase %s not timed: %v", ph, res.Phases)
			}
		}
		if n := inboundACLDrops(t, proxy); n != 0 {
			t.Errorf("exact acl drops on the proxy = %v with the policy allowing, want 0", n)
		}
	})

	tn.SetPolicy(t, denyPolicy, proxy)

	// Before the denied probe: tailscaled rate-limits its drop logging,
	// and the one Drop line of this connection must not be suppressed.
	t.Run("peer API ingress denied", func(t *testing.T) {
		ports := learnPeerAPIPorts(t, proxy)
		p, err := client.Peer(proxy.DNSName)
		if err != nil {
			t.Fatal(err)
		}
		want := peerAPIPortOf(t, p.PeerAPIURL, proxy.IPv4.String())
		if ports.IPv4 != want {
			t.Errorf("port learned from the proxy's \"peerapi: serving on\" line = %d, the client's netmap says %d", ports.IPv4, want)
		}
		t.Logf("peer API port %d; InferPeerAPIPort(%s) = %d (equal: %v)", want, proxy.IPv4, logmatch.InferPeerAPIPort(proxy.IPv4), logmatch.InferPeerAPIPort(proxy.IPv4) == want)

		before := inboundACLDrops(t, proxy)
		status, body := postIngress(t, dial, proxy.IPv4.String(), ports.IPv4)
		if status != http.StatusForbidden || !strings.Contains(body, "no ingress cap") {
			t.Errorf("POST /v0/ingress = %d %q, want 403 \"denied; no ingress cap\"", status, body)
		}
		waitLines(t, proxy, "ingress denied and the peer API SYN's Drop", func(evs []logmatch.Event) bool {
			return count(evs, isKind(logmatch.KindIngressDenied)) > 0 &&
				count(evs, isDropTo(ports.IPv4)) > 0
		})
		if after := inboundACLDrops(t, proxy); after != before {
			t.Errorf("exact acl drops moved from %v to %v for a peer API connection; tailscaled lets those SYNs through uncounted", before, after)
		}
	})

	t.Run("served port denied", func(t *testing.T) {
		before := inboundACLDrops(t, proxy)
		loggedBefore := count(proxyEvents(t, proxy), isDropTo(443))
		res := probe()
		if res.Success {
			t.Fatalf("probe of %s:443 succeeded with the policy denying it", proxy.DNSName)
		}
		t.Logf("denied probe: reason %s in phase %s after %v: %v", res.Reason, res.FailedPhase, res.Duration.Round(time.Millisecond), res.Err)
		// tailscaled's SOCKS5 server answers a CONNECT its netstack could
		// not complete with reply 1, general failure, here after its 5 s
		// dial timeout: no answer from the target (TestSOCKS5Replies).
		if res.Reason != prober.ReasonConnectTimeout || res.FailedPhase != prober.PhaseConnect {
			t.Errorf("denied probe failed with %s in phase %s, want %s in %s", res.Reason, res.FailedPhase, prober.ReasonConnectTimeout, prober.PhaseConnect)
		}
		var exact float64
		err := eventually("exact acl drops grow", 15*time.Second, pollInterval, func() (bool, error) {
			exact = inboundACLDrops(t, proxy) - before
			return exact > 0, fmt.Errorf("grew by %v", exact)
		})
		if err != nil {
			t.Error(err)
		}
		logged := waitLines(t, proxy, "Drop lines to :443", func(evs []logmatch.Event) bool {
			return count(evs, isDropTo(443)) > loggedBefore
		})
		n := count(logged, isDropTo(443)) - loggedBefore
		t.Logf("one denied connect: %d Drop lines to :443 logged, exact acl counter +%v", n, exact)
		if float64(n) > exact {
			t.Errorf("logged drops %d > exact %v: the log should be a sample of the counter", n, exact)
		}
	})

	t.Run("real lines classify", func(t *testing.T) {
		evs := proxyEvents(t, proxy)
		var ports logmatch.PeerAPIPorts
		for _, ev := range evs {
			ports.Learn(ev)
		}
		var served, peerAPI, ingress, started int
		for _, ev := range evs {
			class, src := logmatch.Classify(ev, ports)
			switch {
			case ev.Kind == logmatch.KindDrop && ev.DstPort == 443:
				served++
				if class != logmatch.DropClassServed {
					t.Errorf("drop to :443 classified %s, want served", class)
				}
			case ev.Kind == logmatch.KindDrop && ev.DstPort == ports.IPv4:
				peerAPI++
				if class != logmatch.DropClassPeerAPI || src != logmatch.PortSourceLearned {
					t.Errorf("drop to the peer API port %d classified %s (%s), want peerapi (learned)", ev.DstPort, class, src)
				}
			case ev.Kind == logmatch.KindIngressDenied:
				ingress++
			case ev.Kind == logmatch.KindProgramStarting:
				started++
				if v := ev.Version; v != (logmatch.Version{Major: 1, Minor: 98, Patch: 10}) {
					t.Errorf("Program starting version = %+v, want 1.98.10, not dev", v)
				}
			}
		}
		if served == 0 || peerAPI == 0 || ingress == 0 || started == 0 {
			t.Errorf("in the proxy's log: %d drops to :443, %d to the peer API, %d ingress denials, %d program starts; want each > 0", served, peerAPI, ingress, started)
		}
	})

	// A proxy container restarts: the same log file goes on, the exact
	// counter starts again from zero.
	t.Run("restart", func(t *testing.T) {
		before := inboundACLDrops(t, proxy)
		starts := count(proxyEvents(t, proxy), isKind(logmatch.KindProgramStarting))
		proxy.Restart(t)
		after := inboundACLDrops(t, proxy)
		t.Logf("exact acl drops: %v before the restart, %v after", before, after)
		if before == 0 || after >= before {
			t.Errorf("acl drops %v before the restart, %v after: want a reset from > 0", before, after)
		}
		evs := waitLines(t, proxy, "the restart's Program starting and peer API port", func(evs []logmatch.Event) bool {
			return count(evs, isKind(logmatch.KindProgramStarting)) > starts &&
				count(evs[lastIndex(evs, isKind(logmatch.KindProgramStarting)):], isKind(logmatch.KindPeerAPIServing)) > 0
		})
		var ports logmatch.PeerAPIPorts
		for _, ev := range evs[lastIndex(evs, isKind(logmatch.KindProgramStarting)):] {
			ports.Learn(ev)
		}
		t.Logf("peer API port after the restart: %d (InferPeerAPIPort: %d)", ports.IPv4, logmatch.InferPeerAPIPort(proxy.IPv4))
	})
}

// proxyAndClient starts a tailnet with policy and the two nodes of its
// stories: the proxy, and a client with a SOCKS5 server, peers.
func proxyAndClient(t *testing.T, policy string) (tn *Tailnet, proxy, client *Node) {
	t.Helper()
	tn = Start(t, policy)
	proxy = tn.AddNode(t, NodeOptions{Name: "proxy", User: "proxy"})
	client = tn.AddNode(t, NodeOptions{Name: "client", User: "client", SOCKS5: true})
	tn.WaitPeers(t, proxy, client)
	return tn, proxy, client
}

// lastIndex is the index of the last event for which f is true, or 0.
func lastIndex(evs []logmatch.Event, f func(logmatch.Event) bool) int {
	for i := len(evs) - 1; i >= 0; i-- {
		if f(evs[i]) {
			return i
		}
	}
	return 0
}

// serveTLS runs an HTTPS server of a test CA on the proxy's
// 127.0.0.1:443, which its netstack forwards allowed tailnet connections
// to; the certificate names the proxy's MagicDNS name.
func serveTLS(t *testing.T, proxy *Node) *probertest.CA {
	t.Helper()
	ca, err := probertest.NewCA("tailnettest CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Leaf(proxy.DNSName)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := probertest.NewHTTPSServer(probertest.HTTPSOptions{Addr: "127.0.0.1:443", Cert: leaf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return ca
}

// postIngress sends a Funnel relay's request, POST /v0/ingress, to the
// peer API at host:port through dial.
func postIngress(t *testing.T, dial prober.Dialer, host string, port uint16) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: dial.DialContext}}
	defer c.CloseIdleConnections()
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(int(port))) + "/v0/ingress"
	resp, err := c.Post(u, "application/octet-stream", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// peerAPIPortOf finds the port of the peer API URL on host.
func peerAPIPortOf(t *testing.T, urls []string, host string) uint16 {
	t.Helper()
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() != host {
			continue
		}
		p, err := strconv.ParseUint(u.Port(), 10, 16)
		if err == nil {
			return uint16(p)
		}
	}
	t.Fatalf("no peer API URL on %s among %q", host, urls)
	return 0
}

// learnPeerAPIPorts reads the proxy's "peerapi: serving on" lines as the
// exporter does.
func learnPeerAPIPorts(t *testing.T, n *Node) logmatch.PeerAPIPorts {
	t.Helper()
	var ports logmatch.PeerAPIPorts
	waitLines(t, n, "peerapi: serving on", func(evs []logmatch.Event) bool {
		for _, ev := range evs {
			ports.Learn(ev)
		}
		return ports.IPv4 != 0
	})
	return ports
}

// proxyEvents matches every line of the node's log so far.
func proxyEvents(t *testing.T, n *Node) []logmatch.Event {
	t.Helper()
	data, err := n.Log()
	if err != nil {
		t.Fatal(err)
	}
	var m logmatch.Matcher
	var evs []logmatch.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if ev, ok := m.Match(sc.Bytes()); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// waitLines waits (bounded) until the node's log holds events for which
// done is true, and returns them.
func waitLines(t *testing.T, n *Node, what string, done func([]logmatch.Event) bool) []logmatch.Event {
	t.Helper()
	var evs []logmatch.Event
	err := eventually(what+" in "+n.Name+"'s log", 15*time.Second, pollInterval, func() (bool, error) {
		evs = proxyEvents(t, n)
		return done(evs), fmt.Errorf("%d events", len(evs))
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, testproc.TailFile(n.LogPath, 30))
	}
	return evs
}

func count(evs []logmatch.Event, f func(logmatch.Event) bool) int {
	n := 0
	for _, ev := range evs {
		if f(ev) {
			n++
		}
	}
	return n
}

func isKind(k logmatch.Kind) func(logmatch.Event) bool {
	return func(ev logmatch.Event) bool { return ev.Kind == k }
}

func isDropTo(port uint16) func(logmatch.Event) bool {
	return func(ev logmatch.Event) bool { return ev.Kind == logmatch.KindDrop && ev.DstPort == port }
}

func inboundACLDrops(t *testing.T, n *Node) float64 {
	t.Helper()
	v, err := n.InboundDropped("acl")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// capture copies the node's whole log to path.
func capture(t *testing.T, n *Node, path string) {
	data, err := n.Log()
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Errorf("capture %s's log: %v", n.Name, err)
	}
}

func TestBuildOverrideMustExist(t *testing.T) {
	for _, env := range []string{TailscaledEnv, TailscaleEnv, HeadscaleEnv} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "/nonexistent/"+env)
			if bins, err := build(); err == nil || !strings.Contains(err.Error(), "$"+env) {
				t.Fatalf("build() = %+v, %v; want an error naming $%s", bins, err, env)
			}
		})
	}
}

// The CLI is the tailscaled binary run under the name "tailscale" (see
// Build): each must answer in its own role and report the pinned release.
func TestBinariesArePinnedRelease(t *testing.T) {
	bins, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		bin  string
		arg  string // the daemon takes no argument, the CLI no -version
	}{
		{"tailscaled", bins.Tailscaled, "--version"},
		{"tailscale", bins.Tailscale, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, tc.bin, tc.arg).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.bin, tc.arg, err, out)
			}
			if first, _, _ := strings.Cut(string(out), "\n"); first != TailscaleVersion {
				t.Errorf("%s %s printed %q first, want %q\n%s", tc.bin, tc.arg, first, TailscaleVersion, out)
			}
		})
	}
}
