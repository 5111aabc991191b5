package tailnettest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// socks5Policy lets the client reach the proxy's 443 and closedPort and
// the gone node's 443; nothing else of the proxy. The other two may reach
// the client, so all three stay peers.
func socks5Policy(closedPort int) string {
	return fmt.Sprintf(`{
	"acls": [
		{"action": "accept", "src": ["client@"], "dst": ["proxy@:443", "proxy@:%d", "gone@:443"]},
		{"action": "accept", "src": ["proxy@", "gone@"], "dst": ["client@:*"]},
	],
}
`, closedPort)
}

// TestSOCKS5Replies records what tailscaled's own SOCKS5 server answers
// the tailnet vantage, probed with the exporter's prober through the
// client's real tailscaled, and which reason each answer becomes.
//
// tailscaled's net/socks5 answers every failed dial with reply 1, general
// SOCKS server failure, whatever the cause: the reply code cannot tell a
// denied connect from an offline peer, an unknown name or a closed port.
// What differs is when it answers. A dial that gets no answer ends at the
// 5 s context tailscaled's SOCKS5 server gives it (handleTCP); a dial
// that fails outright is answered at once.
func TestSOCKS5Replies(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ports[0]
	tn := Start(t, socks5Policy(closedPort))
	proxy := tn.AddNode(t, NodeOptions{Name: "proxy", User: "proxy"})
	gone := tn.AddNode(t, NodeOptions{Name: "gone", User: "gone"})
	client := tn.AddNode(t, NodeOptions{Name: "client", User: "client", SOCKS5: true})
	// The proxy and the gone node may not reach each other: not peers.
	tn.WaitPeers(t, proxy, client)
	tn.WaitPeers(t, gone, client)
	ca := serveTLS(t, proxy)
	// A listener on a port the policy does not allow: the connect fails
	// at the proxy's packet filter, not for want of a server.
	deniedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deniedLn.Close() })
	deniedPort := deniedLn.Addr().(*net.TCPAddr).Port
	dial, err := prober.SOCKS5Dialer(client.SOCKS5, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe := func(host string, port int, timeout time.Duration) prober.Result {
		return prober.Probe(context.Background(), prober.Request{
			Hostname: host, Port: port, ResolveRemotely: true,
			Timeout: timeout, RootCAs: ca.Pool, HTTP: true, Dialer: dial,
		})
	}

	cases := []struct {
		name   string
		before func(t *testing.T)
		host   string
		port   int
		// timeout of the probe; default 20 s, past tailscaled's dial timeout.
		timeout time.Duration
		// reply is tailscaled's SOCKS5 reply code, 0 on success.
		reply  int
		reason prober.Reason
		// waited: tailscaled answered only when its 5 s dial timeout ended.
		waited bool
	}{
		{name: "allowed", host: proxy.DNSName, port: 443},
		{
			name: "denied by policy", host: proxy.DNSName, port: deniedPort,
			reply: prober.ReplyGeneralFailure, reason: prober.ReasonConnectTimeout, waited: true,
		},
		{
			// The probe's deadline comes before tailscaled's answer: the
			// same reason as when tailscaled answers after its timeout.
			name: "denied by policy, probe deadline first", host: proxy.DNSName, port: deniedPort, timeout: 2 * time.Second,
			reason: prober.ReasonConnectTimeout,
		},
		{
			name: "unknown MagicDNS name", host: "nosuch." + BaseDomain, port: 443,
			reply: prober.ReplyGeneralFailure, reason: prober.ReasonConnectError,
		},
		{
			name: "nothing listens behind the peer", host: proxy.DNSName, port: closedPort,
			reply: prober.ReplyGeneralFailure, reason: prober.ReasonConnectError,
		},
		{
			name: "peer offline", host: gone.DNSName, port: 443,
			before: func(t *testing.T) { stopOffline(t, gone, client) },
			reply:  prober.ReplyGeneralFailure, reason: prober.ReasonConnectTimeout, waited: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			res := probe(tc.host, tc.port, timeout)
			connect := res.Phases[prober.PhaseConnect]
			var pe *prober.ProxyError
			reply := 0
			if errors.As(res.Err, &pe) {
				reply = pe.Reply
			}
			t.Logf("%s:%d: success %v, reason %q in phase %q, SOCKS5 reply %d, connect phase %v, probe %v: %v",
				tc.host, tc.port, res.Success, res.Reason, res.FailedPhase, reply,
				connect.Round(time.Millisecond), res.Duration.Round(time.Millisecond), res.Err)
			if reply != tc.reply || res.Reason != tc.reason {
				t.Errorf("reply %d, reason %q; want reply %d, reason %q", reply, res.Reason, tc.reply, tc.reason)
			}
			if tc.reason != prober.ReasonNone && res.FailedPhase != prober.PhaseConnect {
				t.Errorf("failed in phase %q, want %q", res.FailedPhase, prober.PhaseConnect)
			}
			// A lower bound from tailscaled's source, not a measurement:
			// the answer to a dial that timed out cannot come sooner.
			if waited := connect >= prober.TailscaledDialTimeout; waited != tc.waited {
				t.Errorf("connect phase %v: answered after tailscaled's %v dial timeout = %v, want %v", connect, prober.TailscaledDialTimeout, waited, tc.waited)
			}
		})
	}
}

// stopOffline stops node's tailscaled and waits (bounded) until watcher's
// netmap still holds it, offline.
func stopOffline(t *testing.T, node, watcher *Node) {
	t.Helper()
	node.Stop()
	err := eventually(watcher.Name+" sees "+node.Name+" offline", joinTimeout, pollInterval, func() (bool, error) {
		p, err := watcher.Peer(node.DNSName)
		if err != nil {
			return false, err
		}
		return !p.Online, errors.New("still online")
	})
	if err != nil {
		t.Fatal(err)
	}
}
