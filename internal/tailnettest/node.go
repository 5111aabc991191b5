package tailnettest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// nodeEnv is what every tailscaled here runs with: no log upload, no
// port mapping, DERP over plain HTTP (headscale serves it on its HTTP
// port), and the network taken as up although netmon sees only lo
// (without it the control client pauses).
var nodeEnv = []string{
	"TS_NO_LOGS_NO_SUPPORT=true",
	"TS_DISABLE_PORTMAPPER=1",
	"TS_DISABLE_UPNP=1",
	"TS_DEBUG_USE_DERP_HTTP=1",
	"TS_ASSUME_NETWORK_UP_FOR_TEST=1",
}

// NodeOptions describes a node to add.
type NodeOptions struct {
	Name string // hostname, and the first label of its MagicDNS name
	User string // headscale user it joins as ("name@" in policies)
	// Tags, when set, join the node with a tagged preauth key, as the
	// operator's proxies join: the node is then tagged, owned by its tags
	// and no longer matched by User in policies (only the key's creator).
	// The policy's tagOwners must define each tag.
	Tags []string
	// SOCKS5 runs tailscaled's SOCKS5 server on 127.0.0.1 (Node.SOCKS5):
	// the tailnet vantage of a client.
	SOCKS5 bool
}

// Node is a real tailscaled in userspace-networking mode, joined to the
// tailnet. Its output goes to LogPath.
type Node struct {
	Name    string
	DNSName string // MagicDNS name, without the trailing dot
	IPv4    netip.Addr
	IPv6    netip.Addr
	Socket  string // LocalAPI unix socket
	LogPath string // tailscaled's stdout and stderr
	SOCKS5  string // 127.0.0.1:PORT, or "" without NodeOptions.SOCKS5

	proc   *testproc.Proc
	daemon string   // the tailscaled binary
	args   []string // its flags
	env    []string // its environment, added to the test's
	cli    string   // the tailscale CLI
}

// AddNode starts a tailscaled, joins it with a preauth key of opts.User
// and waits until it runs (bounded). It is stopped when the test ends.
func (tn *Tailnet) AddNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	n, err := tn.addNode(t, opts)
	if err != nil {
		t.Fatalf("tailnettest: node %s: %v", opts.Name, err)
	}
	return n
}

func (tn *Tailnet) addNode(t testing.TB, opts NodeOptions) (*Node, error) {
	dir := filepath.Join(tn.dir, opts.Name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	n := &Node{
		Name: opts.Name, Socket: filepath.Join(dir, "sock"), LogPath: filepath.Join(dir, "tailscaled.log"),
		daemon: tn.bins.Tailscaled, cli: tn.bins.Tailscale,
	}
	wgPort, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--tun=userspace-networking",
		"--statedir=" + filepath.Join(dir, "state"),
		"--socket=" + n.Socket,
		"--port=" + strconv.Itoa(wgPort),
	}
	if opts.SOCKS5 {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		n.SOCKS5 = "127.0.0.1:" + strconv.Itoa(ports[0])
		args = append(args, "--socks5-server="+n.SOCKS5)
	}
	// TS_LOGS_DIR keeps logpolicy's config (log IDs) in the node's
	// directory instead of /var/lib/tailscale, shared and left behind.
	n.args, n.env = args, append([]string{"TS_LOGS_DIR=" + dir}, nodeEnv...)
	t.Cleanup(func() {
		if n.proc != nil {
			n.proc.Stop(stopGrace)
		}
		if t.Failed() {
			t.Logf("tailscaled %s log (%s), last lines:\n%s", n.Name, n.LogPath, testproc.TailFile(n.LogPath, 40))
		}
	})
	if err := n.start(); err != nil {
		return nil, err
	}
	key, err := tn.preauthKey(opts.User, opts.Tags)
	if err != nil {
		return nil, err
	}
	if _, err := n.CLI("up", "--login-server="+tn.ControlURL, "--authkey="+key, "--hostname="+opts.Name,
		"--accept-dns=false", "--timeout="+joinTimeout.String()); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, testproc.TailFile(n.LogPath, 30))
	}
	st, err := n.Status()
	if err != nil {
		return nil, err
	}
	if st.BackendState != "Running" || st.Self == nil {
		return nil, fmt.Errorf("joined but %s", st.BackendState)
	}
	if !slices.Equal(st.Self.Tags, opts.Tags) {
		return nil, fmt.Errorf("joined with tags %q, want %q", st.Self.Tags, opts.Tags)
	}
	n.DNSName = strings.TrimSuffix(st.Self.DNSName, ".")
	for _, ip := range st.Self.TailscaleIPs {
		if ip.Is4() {
			n.IPv4 = ip
		} else {
			n.IPv6 = ip
		}
	}
	tn.nodes = append(tn.nodes, n)
	return n, nil
}

// start runs tailscaled and waits (bounded) until its LocalAPI answers.
func (n *Node) start() error {
	p, err := testproc.Start("tailscaled "+n.Name, n.daemon, n.args, n.env, n.LogPath)
	if err != nil {
		return err
	}
	n.proc = p
	err = eventually("LocalAPI of "+n.Name, startTimeout, pollInterval, func() (bool, error) {
		if ok, err := p.Exited(); ok {
			return false, fmt.Errorf("tailscaled %w", err)
		}
		_, err := n.Status()
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, testproc.TailFile(n.LogPath, 30))
	}
	return nil
}

// Stop stops the node's tailscaled by PID (SIGTERM, bounded) and leaves
// it stopped: the node stays registered with headscale, so its peers keep
// it in their netmap, marked offline, as a proxy whose pod is gone.
func (n *Node) Stop() { n.proc.Stop(stopGrace) }

// Restart stops the node's tailscaled by PID (SIGTERM, bounded) and runs
// it again with the same state, flags and log file, as a proxy container
// restarts; it returns once the node runs again (bounded). The log then
// holds a second "Program starting" and "peerapi: serving on"; the
// process's counters start again from zero.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.proc.Stop(stopGrace)
	if err := n.start(); err != nil {
		t.Fatalf("tailnettest: restart %s: %v", n.Name, err)
	}
	err := eventually(n.Name+" runs again", joinTimeout, pollInterval, func() (bool, error) {
		st, err := n.Status()
		if err != nil {
			return false, err
		}
		return st.BackendState == "Running", fmt.Errorf("state %s", st.BackendState)
	})
	if err != nil {
		t.Fatalf("tailnettest: %v\n%s", err, testproc.TailFile(n.LogPath, 30))
	}
}

// WaitPeers waits (bounded) until every node sees every other as a peer.
func (tn *Tailnet) WaitPeers(t testing.TB, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		for _, other := range nodes {
			if other == n {
				continue
			}
			err := eventually(n.Name+" sees "+other.Name, joinTimeout, pollInterval, func() (bool, error) {
				p, err := n.Peer(other.DNSName)
				return err == nil && p != nil, err
			})
			if err != nil {
				t.Fatalf("tailnettest: %v", err)
			}
		}
	}
}

// Status is the part of tailscaled's LocalAPI status the harness reads.
type Status struct {
	BackendState string
	Self         *PeerStatus
	Peer         map[string]*PeerStatus
}

// PeerStatus is one node in a Status.
type PeerStatus struct {
	HostName     string
	DNSName      string
	TailscaleIPs []netip.Addr
	Tags         []string // nil for an untagged node
	Online       bool
	PeerAPIURL   []string
}

// Status reads the node's status from its LocalAPI.
func (n *Node) Status() (*Status, error) {
	body, err := n.localAPI("status")
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("status of %s: %w", n.Name, err)
	}
	return &st, nil
}

// Peer returns the peer of n whose MagicDNS name is dnsName, or an error
// saying it is not (yet) there.
func (n *Node) Peer(dnsName string) (*PeerStatus, error) {
	st, err := n.Status()
	if err != nil {
		return nil, err
	}
	for _, p := range st.Peer {
		if strings.TrimSuffix(p.DNSName, ".") == dnsName {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s has no peer %s among %d", n.Name, dnsName, len(st.Peer))
}

// UserMetrics reads tailscaled's user metrics (what `tailscale metrics
// print` shows, and a proxy serves on :9002/metrics) from its LocalAPI.
func (n *Node) UserMetrics() (map[string]*dto.MetricFamily, error) {
	body, err := n.localAPI("usermetrics")
	if err != nil {
		return nil, err
	}
	fams, err := parseMetrics(body)
	if err != nil {
		return nil, fmt.Errorf("user metrics of %s: %w", n.Name, err)
	}
	return fams, nil
}

func parseMetrics(text []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(text))
}

// InboundDropped is the node's exact count of inbound packets dropped for
// reason (e.g. "acl"): tailscaled_inbound_dropped_packets_total. The
// family has no series until the first drop (its HELP and TYPE lines are
// written): that is 0.
func (n *Node) InboundDropped(reason string) (float64, error) {
	const name = "tailscaled_inbound_dropped_packets_total"
	body, err := n.localAPI("usermetrics")
	if err != nil {
		return 0, err
	}
	if !bytes.Contains(body, []byte("# TYPE "+name+" ")) {
		return 0, fmt.Errorf("user metrics of %s: no %s family", n.Name, name)
	}
	fams, err := parseMetrics(body)
	if err != nil {
		return 0, fmt.Errorf("user metrics of %s: %w", n.Name, err)
	}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" && l.GetValue() == reason {
				return m.GetCounter().GetValue(), nil
			}
		}
	}
	return 0, nil
}

// Log returns what tailscaled has written so far.
func (n *Node) Log() ([]byte, error) { return os.ReadFile(n.LogPath) }

// CLI runs the tailscale CLI against the node's socket (bounded).
func (n *Node) CLI(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.cli, append([]string{"--socket=" + n.Socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tailscale %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// packetFilter is the node's current packet filter rules as JSON.
func (n *Node) packetFilter() ([]byte, error) {
	return n.localAPI("debug-packet-filter-rules")
}

// localAPI GETs /localapi/v0/PATH on the node's socket.
func (n *Node) localAPI(path string) ([]byte, error) {
	c := http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", n.Socket)
		}},
	}
	defer c.CloseIdleConnections()
	// tailscaled accepts only this Host on its socket.
	resp, err := c.Get("http://local-tailscaled.sock/localapi/v0/" + path)
	if err != nil {
		return nil, fmt.Errorf("LocalAPI %s of %s: %w", path, n.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("LocalAPI %s of %s: %w", path, n.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("LocalAPI %s of %s: %s: %s", path, n.Name, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}
