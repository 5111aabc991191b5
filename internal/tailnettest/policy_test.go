package tailnettest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tailscale/hujson"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
)

// The proxy's tag, as the operator tags its proxies, and the tagged
// client's.
const (
	proxyTag = "tag:proxy"
	ciTag    = "tag:ci"
)

// policyMarker is applied between rows. Its filter on the proxy (anyone to
// port 9) differs from every row's, so each SetPolicy waits for a real
// change of the proxy's filter, even where two rows' filters are equal,
// and no row meets the previous row's filter.
const policyMarker = `{
	"tagOwners": {"tag:proxy": ["proxy@"], "tag:ci": ["ci@"]},
	"acls": [
		{"action": "accept", "src": ["tag:proxy"], "dst": ["*:*"]},
		{"action": "accept", "src": ["*"], "dst": ["tag:proxy:9"]},
	],
}
`

// greeting is what the proxy's server on 127.0.0.1:443 writes first: read
// through the client's SOCKS5 server, it proves the connection crossed
// the proxy's packet filter.
const greeting = "served behind the policy\n"

// TestPolicyAgainstPacketFilter cross-checks internal/policy with reality:
// each policy of testdata/policies is enforced by headscale on a tagged
// proxy node, as the operator's proxies are tagged, and checked by
// internal/policy with the client's identity as the clients selector. For
// port 443 the prediction, the expectation written here from Tailscale's
// semantics, and what the proxy's tailscaled really did to the client's
// connect must all agree: "no" exactly when its packet filter drops the
// connect (it fails after tailscaled's dial timeout and the exact acl
// drop counter grows), "yes" exactly when it connects. A wrong engine and
// a wrong harness both fail it. One tailnet serves every row.
func TestPolicyAgainstPacketFilter(t *testing.T) {
	rows := []struct {
		policy string // testdata/policies/NAME.hujson
		// client is the node that connects: "client" (untagged, user
		// client@) or "ci" (tagged tag:ci).
		client   string
		selector string // the client's identity, as the engine gets it
		want     policy.Verdict
	}{
		{"acls-user-to-tag", "client", "client@", policy.Yes},
		{"acls-other-port", "client", "client@", policy.No},
		{"grants-tcp443", "client", "client@", policy.Yes},
		{"grants-udp443", "client", "client@", policy.No},
		{"group", "client", "client@", policy.Yes},
		{"autogroup-member", "client", "client@", policy.Yes},
		{"autogroup-member", "ci", ciTag, policy.No},
		{"tag-client", "ci", ciTag, policy.Yes},
		{"user-dst-tagged", "client", "client@", policy.No},
		{"nothing-allows", "client", "client@", policy.No},
	}

	tn := Start(t, policyMarker)
	proxy := tn.AddNode(t, NodeOptions{Name: "proxy", User: "proxy", Tags: []string{proxyTag}})
	clients := map[string]*Node{
		"client": tn.AddNode(t, NodeOptions{Name: "client", User: "client", SOCKS5: true}),
		"ci":     tn.AddNode(t, NodeOptions{Name: "ci", User: "ci", Tags: []string{ciTag}, SOCKS5: true}),
	}
	tn.WaitPeers(t, proxy, clients["client"])
	tn.WaitPeers(t, proxy, clients["ci"])
	serveGreeting(t)
	ep := policy.Endpoint{Hostname: proxy.DNSName, Tags: []string{proxyTag}, Ports: []int{443}}

	current := policyMarker
	for _, row := range rows {
		t.Run(row.policy+"/"+row.client, func(t *testing.T) {
			path := filepath.Join("testdata", "policies", row.policy+".hujson")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			predicted := predictAccess(t, path, data, row.selector, ep)
			// The same file through the user's command: diagnose must
			// tell what the engine tells, so it too meets reality below.
			if said, finding := diagnoseAccess(t, path, row.selector, proxy.DNSName); said != predicted.Verdict || finding != (said == policy.No) {
				t.Errorf("diagnose --tailnet.policy-file=%s --tailnet.clients=%s says %s on 443 (finding policy-tailnet-access-denied: %v); the engine says %s",
					path, row.selector, said, finding, predicted.Verdict)
			}
			// With -run, rows may be skipped: track what is in force.
			if current != policyMarker {
				current = policyMarker
				tn.SetPolicy(t, policyMarker, proxy)
			}
			current = string(data)
			tn.SetPolicy(t, current, proxy)
			got := connectThrough(t, clients[row.client], proxy)

			reality := policy.No
			if got.connected {
				reality = policy.Yes
			}
			t.Logf("engine %s (%s); connect from %s %s after %v; exact acl drops +%v; Drop lines to :443 +%d, [RATELIMIT] filter lines +%d",
				predicted.Verdict, predicted.Reason, row.client, got.verb(),
				got.took.Round(time.Millisecond), got.dropped, got.logged, got.rateLimited)

			// Reality must be one of the two consistent pictures.
			switch {
			case got.connected && got.dropped != 0:
				t.Errorf("connected, yet the proxy's exact acl drops grew by %v", got.dropped)
			case !got.connected && got.dropped == 0:
				t.Errorf("connect failed (%v) but the proxy's exact acl drops did not grow: not the packet filter", got.err)
			case !got.connected && got.took < prober.TailscaledDialTimeout:
				t.Errorf("connect failed after %v (%v), before tailscaled's %v dial timeout: refused, not dropped", got.took, got.err, prober.TailscaledDialTimeout)
			}
			if float64(got.logged) > got.dropped {
				t.Errorf("%d Drop lines to :443 logged but the exact counter grew by %v: the log should be a sample of it", got.logged, got.dropped)
			}
			if reality != row.want {
				t.Errorf("tailscaled's packet filter said %s, the hand-written expectation %s: the harness or the expectation is wrong", reality, row.want)
			}
			if predicted.Verdict == policy.Unknown {
				t.Errorf("engine cannot tell for a policy decidable from the file: %s", predicted.Reason)
			}
			if predicted.Verdict != row.want || predicted.Verdict != reality {
				t.Fatalf("engine predicted %s, expected %s, tailscaled's filter said %s\nreason: %s\nevidence: %v\nfix: %s",
					predicted.Verdict, row.want, reality, predicted.Reason, predicted.Evidence, predicted.Fix)
			}
			if predicted.Verdict != policy.No {
				return
			}

			// The engine's fix, pasted as it tells the user to, must
			// let the client in, in its own eyes and in reality.
			fixed := applyFix(t, data, predicted.Fix)
			if r := predictAccess(t, path+" with the fix", fixed, row.selector, ep); r.Verdict != policy.Yes {
				t.Errorf("with the fix %s the engine predicts %s: %s", predicted.Fix, r.Verdict, r.Reason)
			}
			current = policyMarker
			tn.SetPolicy(t, policyMarker, proxy)
			current = string(fixed)
			tn.SetPolicy(t, current, proxy)
			got = connectThrough(t, clients[row.client], proxy)
			t.Logf("with the fix %s: connect %s after %v; exact acl drops +%v",
				predicted.Fix, got.verb(), got.took.Round(time.Millisecond), got.dropped)
			if !got.connected || got.dropped != 0 {
				t.Errorf("with the engine's fix %s the connect still fails (%v; exact acl drops +%v)\n%s", predicted.Fix, got.err, got.dropped, fixed)
			}
		})
	}
}

// applyFix merges a Result's Fix (top-level members whose arrays are to be
// appended to the policy's sections of the same name, or added as new
// sections) into the HuJSON policy, keeping its comments.
func applyFix(t *testing.T, data []byte, fix string) []byte {
	t.Helper()
	v, err := hujson.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	std, err := hujson.Standardize([]byte("{" + fix + "}"))
	if err != nil {
		t.Fatalf("fix %s does not parse: %v", fix, err)
	}
	var sections map[string][]json.RawMessage
	if err := json.Unmarshal(std, &sections); err != nil {
		t.Fatalf("fix %s is not top-level arrays: %v", fix, err)
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	var ops []op
	for name, elems := range sections {
		if v.Find("/"+name) == nil {
			ops = append(ops, op{"add", "/" + name, elems})
			continue
		}
		for _, e := range elems {
			ops = append(ops, op{"add", "/" + name + "/-", e})
		}
	}
	patch, err := json.Marshal(ops)
	if err == nil {
		err = v.Patch(patch)
	}
	if err != nil {
		t.Fatalf("apply the fix %s: %v", fix, err)
	}
	v.Format()
	return v.Pack()
}

// diagnoseAccess runs the exporter binary's diagnose of hostname (a plain
// host: no cluster, checked with the proxy's tag as default tags) against
// the policy file with selector as the tailnet clients, and returns the
// JSON report's tailnet_access verdict for 443 and whether a
// policy-tailnet-access-denied finding names the host. Its direct probe
// goes to a closed loopback port: only the policy matters here.
func diagnoseAccess(t *testing.T, path, selector, hostname string) (policy.Verdict, bool) {
	t.Helper()
	closed, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Exporter(t), "diagnose", hostname, "-o", "json", "--timeout=30s",
		"--probe.resolve="+hostname+"=127.0.0.1:"+strconv.Itoa(closed[0]),
		"--tailnet.policy-file="+path, "--tailnet.clients="+selector, "--tailnet.default-tags="+proxyTag)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("diagnose: %v\n%s", err, stderr.Bytes()) // exit 1 is "problems found"
	}
	var report struct {
		Findings []struct {
			Rule     string `json:"rule"`
			Hostname string `json:"hostname"`
		} `json:"findings"`
		Endpoints []struct {
			Hostname string `json:"hostname"`
			Policy   *struct {
				Results []struct {
					Check   policy.Check   `json:"check"`
					Port    int            `json:"port"`
					Verdict policy.Verdict `json:"verdict"`
				} `json:"results"`
			} `json:"policy"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("diagnose -o json: %v\n%s", err, out)
	}
	var verdict policy.Verdict
	for _, e := range report.Endpoints {
		if e.Hostname != hostname || e.Policy == nil {
			continue
		}
		for _, r := range e.Policy.Results {
			if r.Check == policy.TailnetAccess && r.Port == 443 {
				verdict = r.Verdict
			}
		}
	}
	if verdict == "" {
		t.Fatalf("diagnose reported no tailnet_access verdict for %s:443\n%s", hostname, out)
	}
	denied := false
	for _, f := range report.Findings {
		denied = denied || f.Rule == "policy-tailnet-access-denied" && f.Hostname == hostname
	}
	return verdict, denied
}

// predictAccess is internal/policy's tailnet_access result for port 443.
func predictAccess(t *testing.T, name string, data []byte, selector string, ep policy.Endpoint) policy.Result {
	t.Helper()
	p, err := policy.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := policy.ParseSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Check(ep, clients) {
		if r.Check == policy.TailnetAccess && r.Port == 443 {
			return r
		}
	}
	t.Fatalf("no %s result for port 443 among %+v", policy.TailnetAccess, p.Check(ep, clients))
	return policy.Result{}
}

// serveGreeting runs a server on 127.0.0.1:443, where the proxy's
// netstack forwards allowed tailnet connections, that writes greeting.
func serveGreeting(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:443")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte(greeting))
			conn.Close()
		}
	}()
}

// connectOutcome is what one connect through a client's SOCKS5 server did
// at the proxy.
type connectOutcome struct {
	connected   bool // the greeting came back
	took        time.Duration
	err         error
	dropped     float64 // growth of the proxy's exact inbound acl drops
	logged      int     // Drop lines to :443 the proxy logged
	rateLimited int     // [RATELIMIT] lines of the filter's log format
}

func (o connectOutcome) verb() string {
	if o.connected {
		return "succeeded"
	}
	return "failed"
}

// connectThrough connects to the proxy's MagicDNS name on 443 through the
// client's SOCKS5 server once (a denied connect costs tailscaled's 5 s dial
// timeout) and reads what the proxy's tailscaled counted and logged.
func connectThrough(t *testing.T, client, proxy *Node) connectOutcome {
	t.Helper()
	dial, err := prober.SOCKS5Dialer(client.SOCKS5, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := inboundACLDrops(t, proxy)
	evs := proxyEvents(t, proxy)
	var out connectOutcome

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := dial.DialContext(ctx, "tcp", proxy.DNSName+":443")
	out.took = time.Since(start)
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		line, rerr := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if line != greeting {
			t.Fatalf("connected to %s:443 through %s but read %q, %v; want the greeting", proxy.DNSName, client.Name, line, rerr)
		}
		out.connected = true
		out.dropped = inboundACLDrops(t, proxy) - before
	} else {
		out.err = err
		// The SYN's retransmissions are counted as they arrive.
		eventually("the proxy's exact acl drops grow", 10*time.Second, pollInterval, func() (bool, error) {
			out.dropped = inboundACLDrops(t, proxy) - before
			return out.dropped > 0, nil
		})
	}
	after := proxyEvents(t, proxy)
	out.logged = count(after, isDropTo(443)) - count(evs, isDropTo(443))
	isFilterLimit := func(ev logmatch.Event) bool { return ev.Kind == logmatch.KindRateLimit && ev.FilterFormat }
	out.rateLimited = count(after, isFilterLimit) - count(evs, isFilterLimit)
	return out
}
