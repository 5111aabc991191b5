// Package tailnettest runs a real tailnet on loopback for end-to-end tests:
// a headscale control server and real tailscaled nodes (userspace
// networking), all inside one network namespace with only `lo` (see Main),
// stopped by PID when the test ends. Versions are pinned (Build).
//
// A typical test:
//
//	tn := tailnettest.Start(t, policy)
//	proxy := tn.AddNode(t, tailnettest.NodeOptions{Name: "proxy", User: "proxy"})
//	client := tn.AddNode(t, tailnettest.NodeOptions{Name: "client", User: "client", SOCKS5: true})
//	tn.WaitPeers(t, proxy, client)
//	tn.SetPolicy(t, denyPolicy, proxy)
package tailnettest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// BaseDomain is the tailnet's MagicDNS domain: a node named "proxy" is
// proxy.tailnet.test.
const BaseDomain = "tailnet.test"

// Bounds of the waits. Cold starts on two busy cores take seconds.
const (
	startTimeout = 30 * time.Second
	joinTimeout  = 60 * time.Second
	cliTimeout   = 30 * time.Second
	stopGrace    = 10 * time.Second
	pollInterval = 100 * time.Millisecond
)

// Tailnet is a headscale control server with the nodes that joined it.
type Tailnet struct {
	// ControlURL is headscale's URL, the nodes' --login-server.
	ControlURL string

	dir        string
	bins       Binaries
	configPath string
	policyPath string
	headscale  *testproc.Proc
	users      map[string]uint64 // headscale user IDs by name
	nodes      []*Node
}

// Start runs headscale on 127.0.0.1 with policy (HuJSON, file mode) and
// stops it when the test ends. It fails t outside Main's namespace.
func Start(t testing.TB, policy string) *Tailnet {
	t.Helper()
	if !inNamespace() {
		t.Fatal("tailnettest: not in the test network namespace: call tailnettest.Main(m) from TestMain")
	}
	bins, err := Build()
	if err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "tn")
	if err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tn := &Tailnet{dir: dir, bins: bins, users: map[string]uint64{}}
	tn.policyPath = filepath.Join(dir, "policy.hujson")
	if err := os.WriteFile(tn.policyPath, []byte(policy), 0o600); err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	stun, err := freeUDPPort()
	if err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	tn.ControlURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	tn.configPath = filepath.Join(dir, "headscale.yaml")
	if err := os.WriteFile(tn.configPath, []byte(headscaleConfig(dir, ports, stun, tn.policyPath)), 0o600); err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	logPath := filepath.Join(dir, "headscale.log")
	tn.headscale, err = testproc.Start("headscale", bins.Headscale, []string{"-c", tn.configPath, "serve"}, nil, logPath)
	if err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	t.Cleanup(func() {
		tn.headscale.Stop(stopGrace)
		if t.Failed() {
			t.Logf("headscale log (%s), last lines:\n%s", logPath, testproc.TailFile(logPath, 40))
		}
	})
	err = eventually("headscale ready", startTimeout, pollInterval, func() (bool, error) {
		if ok, err := tn.headscale.Exited(); ok {
			return false, fmt.Errorf("headscale %w", err)
		}
		return httpOK(tn.ControlURL + "/health")
	})
	if err != nil {
		t.Fatalf("tailnettest: %v\n%s", err, testproc.TailFile(logPath, 40))
	}
	return tn
}

// headscaleConfig is a configuration that needs no network: loopback
// listeners, sqlite, the embedded DERP server on the HTTP port (with STUN
// on 127.0.0.1), no DERP map to fetch, no update check, no logtail, no
// DNS servers pushed to nodes.
func headscaleConfig(dir string, ports []int, stunPort int, policyPath string) string {
	return fmt.Sprintf(`server_url: http://127.0.0.1:%[2]d
listen_addr: 127.0.0.1:%[2]d
metrics_listen_addr: 127.0.0.1:%[3]d
grpc_listen_addr: 127.0.0.1:%[4]d
grpc_allow_insecure: false
noise:
  private_key_path: %[1]s/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: true
    region_id: 999
    region_code: test
    region_name: Loopback DERP
    verify_clients: true
    stun_listen_addr: 127.0.0.1:%[5]d
    private_key_path: %[1]s/derp_server_private.key
    automatically_add_embedded_derp_region: true
    ipv4: 127.0.0.1
  urls: []
  paths: []
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: %[1]s/db.sqlite
    write_ahead_log: true
log:
  level: info
  format: text
policy:
  mode: file
  path: %[6]s
dns:
  magic_dns: true
  base_domain: %[7]s
  override_local_dns: false
  nameservers:
    global: []
unix_socket: %[1]s/headscale.sock
unix_socket_permission: "0770"
logtail:
  enabled: false
`, dir, ports[0], ports[1], ports[2], stunPort, policyPath, BaseDomain)
}

// SetPolicy replaces the tailnet policy: headscale in file mode re-reads
// its policy file on SIGHUP. It returns once headscale has reloaded it and
// the packet filter of each node in changed (those whose inbound rules the
// new policy changes) has changed, so their next packet meets the new
// policy. Every wait is bounded.
func (tn *Tailnet) SetPolicy(t testing.TB, policy string, changed ...*Node) {
	t.Helper()
	before := make([][]byte, len(changed))
	for i, n := range changed {
		rules, err := n.packetFilter()
		if err != nil {
			t.Fatalf("tailnettest: %v", err)
		}
		before[i] = rules
	}
	reloads, failures := tn.policyReloads()
	if err := os.WriteFile(tn.policyPath, []byte(policy), 0o600); err != nil {
		t.Fatalf("tailnettest: %v", err)
	}
	if err := tn.headscale.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("tailnettest: reload the policy: %v", err)
	}
	err := eventually("headscale reloads its policy", startTimeout, pollInterval, func() (bool, error) {
		r, f := tn.policyReloads()
		if f > failures {
			return false, errors.New("headscale logged an error reloading it")
		}
		return r > reloads, nil
	})
	if err != nil {
		t.Fatalf("tailnettest: %v\n%s", err, testproc.TailFile(tn.headscale.LogPath, 20))
	}
	for i, n := range changed {
		err := eventually("packet filter of "+n.Name+" changes", joinTimeout, pollInterval, func() (bool, error) {
			rules, err := n.packetFilter()
			if err != nil {
				return false, err
			}
			return !bytes.Equal(rules, before[i]), fmt.Errorf("still %s", rules)
		})
		if err != nil {
			t.Fatalf("tailnettest: %v", err)
		}
	}
}

// policyReloads counts headscale's log lines of completed and failed
// policy reloads.
func (tn *Tailnet) policyReloads() (done, failed int) {
	data, _ := os.ReadFile(tn.headscale.LogPath)
	return bytes.Count(data, []byte("Policy reload completed")), bytes.Count(data, []byte("reloading policy"))
}

// user returns the ID of headscale user name, creating it first.
func (tn *Tailnet) user(name string) (uint64, error) {
	if id, ok := tn.users[name]; ok {
		return id, nil
	}
	out, err := tn.cli("users", "create", name, "-o", "json")
	if err != nil {
		return 0, err
	}
	var u struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(out, &u); err != nil || u.ID == 0 {
		return 0, fmt.Errorf("headscale users create %s: no id in %q", name, out)
	}
	tn.users[name] = u.ID
	return u.ID, nil
}

// preauthKey creates a one-use key that joins a node as user, or, with
// tags, as a node tagged with them (user is then only the key's creator).
func (tn *Tailnet) preauthKey(user string, tags []string) (string, error) {
	id, err := tn.user(user)
	if err != nil {
		return "", err
	}
	args := []string{"preauthkeys", "create", "--user", strconv.FormatUint(id, 10), "--expiration", "1h", "-o", "json"}
	if len(tags) > 0 {
		args = append(args, "--tags", strings.Join(tags, ","))
	}
	out, err := tn.cli(args...)
	if err != nil {
		return "", err
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("headscale %s: no key in %q", strings.Join(args, " "), out)
	}
	return k.Key, nil
}

// cli runs the headscale CLI against the server's unix socket.
func (tn *Tailnet) cli(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tn.bins.Headscale, append([]string{"-c", tn.configPath}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("headscale %v: %w\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// httpOK reports whether GET url answers 200.
func httpOK(url string) (bool, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, fmt.Errorf("GET %s: %s", url, resp.Status)
}

// freePorts returns n TCP ports free on 127.0.0.1. The namespace is the
// test's own, so nothing else takes them before the servers do.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// freeUDPPort returns a UDP port free on 127.0.0.1.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free UDP port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
