package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/cmd/internal/sim"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
)

// binary is the exporter built once for all end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tte-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tailscale-tunnel-exporter")
	// As the Dockerfile builds it (static, -trimpath): the binary the image
	// ships, and one compile of the dependencies shared with go vet, the
	// Dockerfile's test and the other harnesses in .ci/run.
	build := exec.Command("go", "build", "-trimpath", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exporter is a running exporter process.
type exporter struct {
	base string
	cmd  *exec.Cmd
	log  *syncBuffer
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startExporter(t *testing.T, args ...string) *exporter {
	t.Helper()
	return startExporterWith(t, nil, args...)
}

// startExporterWith runs the exporter after setup has adjusted its command.
func startExporterWith(t *testing.T, setup func(*exec.Cmd), args ...string) *exporter {
	t.Helper()
	addr := freeAddr(t)
	e := &exporter{base: "http://" + addr, log: &syncBuffer{}}
	e.cmd = exec.Command(binary, append([]string{"--web.listen-address=" + addr}, args...)...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if setup != nil {
		setup(e.cmd)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { e.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			e.cmd.Process.Kill()
			<-exited
			t.Errorf("exporter did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.log)
		}
	})
	e.waitFor(t, "the exporter to serve", func() bool {
		select {
		case <-exited:
			t.Fatalf("exporter exited at start:\n%s", e.log)
		default:
		}
		resp, err := http.Get(e.base + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}

func (e *exporter) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *exporter) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *exporter) metrics(t *testing.T) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := e.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return body, fams
}

// series returns the values of a family keyed by "hostname/label", summed
// over the other labels.
func series(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		out[ls["hostname"]+"/"+ls[label]] += v
	}
	return out
}

// sumWhere sums the series of a family whose labels include every pair of
// match, and reports whether there was any.
func sumWhere(fams map[string]*dto.MetricFamily, name string, match map[string]string) (float64, bool) {
	var sum float64
	found := false
next:
	for _, m := range fams[name].GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		for k, v := range match {
			if ls[k] != v {
				continue next
			}
		}
		found = true
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum, found
}

func startSim(t *testing.T) *sim.Env {
	t.Helper()
	env, err := sim.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

func TestEndToEndIncident(t *testing.T) {
	env := startSim(t)
	e := startExporter(t, "--config.file="+env.ConfigFile, "--probe.interval=1s", "--logs.file="+env.ProxyLog, "--logs.hostname="+sim.Cluster)
	var fams map[string]*dto.MetricFamily
	var body string
	e.waitFor(t, "results for all three endpoints and drops in the proxy log", func() bool {
		body, fams = e.metrics(t)
		return len(fams["tailscale_tunnel_probe_success"].GetMetric()) == 3 && series(fams, "tailscale_tunnel_proxy_drops_total", "family")[sim.Cluster+"/ipv6"] > 0
	})

	success := series(fams, "tailscale_tunnel_probe_success", "vantage")
	want := map[string]float64{sim.Whoami + "/direct": 1, sim.Cluster + "/direct": 0, sim.Expired + "/direct": 0}
	for k, v := range want {
		if success[k] != v {
			t.Errorf("probe_success{%s} = %v, want %v", k, success[k], v)
		}
	}
	reasons := series(fams, "tailscale_tunnel_probe_failure_reason", "reason")
	for _, k := range []string{sim.Cluster + "/tls_handshake_timeout", sim.Expired + "/tls_certificate_invalid"} {
		if reasons[k] != 1 {
			t.Errorf("failure_reason{%s} missing; have %v", k, reasons)
		}
	}
	if len(reasons) != 2 {
		t.Errorf("failure reasons = %v, want exactly the two failing endpoints", reasons)
	}
	if p := series(fams, "tailscale_tunnel_probe_certificate_problem", "problem"); p[sim.Expired+"/expired"] != 1 || len(p) != 1 {
		t.Errorf("certificate_problem = %v, want only expired on %s", p, sim.Expired)
	}
	if s := series(fams, "tailscale_tunnel_probe_http_status_code", "vantage"); s[sim.Whoami+"/direct"] != 200 {
		t.Errorf("http_status_code of whoami = %v", s)
	}
	for _, name := range []string{
		"tailscale_tunnel_exporter_build_info",
		"tailscale_tunnel_exporter_config_last_reload_successful",
		"tailscale_tunnel_probe_phase_latency_seconds",
		"tailscale_tunnel_probe_runs_total",
		"tailscale_tunnel_probe_failures_total",
		"tailscale_tunnel_probe_tls_version_info",
		"tailscale_tunnel_probe_certificate_expiry_timestamp_seconds",
		"tailscale_tunnel_probe_scheduling_lag_seconds",
		"tailscale_tunnel_scrape_collector_success",
	} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if sc := series(fams, "tailscale_tunnel_scrape_collector_success", "collector"); sc["/probe"] != 1 {
		t.Errorf("scrape_collector_success = %v", sc)
	}
	promtoolCheckMetrics(t, body)

	// The landing page and the last probe's debug log.
	code, page := e.get(t, "/")
	if code != http.StatusOK || !strings.Contains(page, sim.Cluster) || !strings.Contains(page, "tls_handshake_timeout") || !strings.Contains(page, "expired") {
		t.Errorf("landing page (%d) lacks the targets or their reasons:\n%s", code, page)
	}
	code, logText := e.get(t, "/logs?hostname="+sim.Cluster+"&vantage=direct")
	if code != http.StatusOK || !strings.Contains(logText, "Last probe of "+sim.Cluster) || strings.Count(logText, "\n") < 3 {
		t.Errorf("/logs (%d):\n%s", code, logText)
	}

	// /probe: a configured target runs; anything else is refused.
	code, probe := e.get(t, "/probe?target="+sim.Whoami)
	if code != http.StatusOK || !strings.Contains(probe, "tailscale_tunnel_probe_success 1") {
		t.Errorf("/probe of whoami: %d\n%s", code, probe)
	}
	for _, target := range []string{"example.com", "127.0.0.1", "http://" + sim.Whoami} {
		if code, msg := e.get(t, "/probe?target="+target); code != http.StatusForbidden {
			t.Errorf("/probe?target=%s: %d %s, want 403", target, code, msg)
		}
	}
}

// promtoolCheckMetrics runs `promtool check metrics` on a real scrape. CI
// installs promtool (.ci/run); without it the test fails, it does not skip.
func promtoolCheckMetrics(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus; .ci/run does): %v", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestEndToEndReload(t *testing.T) {
	env := startSim(t)
	cfg, err := os.ReadFile(env.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--config.file="+env.ConfigFile, "--probe.interval=1h")
	targets := func() map[string]float64 {
		_, fams := e.metrics(t)
		return series(fams, "tailscale_tunnel_probe_target_info", "vantage")
	}
	reloadOK := func() float64 {
		_, fams := e.metrics(t)
		return fams["tailscale_tunnel_exporter_config_last_reload_successful"].GetMetric()[0].GetGauge().GetValue()
	}
	if n := len(targets()); n != 3 {
		t.Fatalf("%d targets at start, want 3", n)
	}

	// SIGHUP with one target removed.
	trimmed := strings.Replace(string(cfg), "  - hostname: "+sim.Expired, "  - hostname: extra.demo-tailnet.ts.net", 1)
	if err := os.WriteFile(env.ConfigFile, []byte(trimmed), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cmd.Process.Signal(syscall.SIGHUP)
	e.waitFor(t, "SIGHUP reload to swap the targets", func() bool {
		ts := targets()
		_, old := ts[sim.Expired+"/direct"]
		_, added := ts["extra.demo-tailnet.ts.net/direct"]
		return !old && added
	})

	// A broken file: POST /-/reload fails, the old targets stay.
	if err := os.WriteFile(env.ConfigFile, []byte("targets:\n  - hostname: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(e.base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(msg), env.ConfigFile) || !strings.Contains(string(msg), "previous configuration stays") {
		t.Errorf("failed reload answered %d %q", resp.StatusCode, msg)
	}
	if v := reloadOK(); v != 0 {
		t.Errorf("config_last_reload_successful = %v after a failed reload", v)
	}
	if n := len(targets()); n != 3 {
		t.Errorf("%d targets after a failed reload, want the previous 3", n)
	}
	if code, _ := e.get(t, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", code)
	}

	// Fixed again: reload succeeds.
	if err := os.WriteFile(env.ConfigFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Post(e.base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || reloadOK() != 1 {
		t.Errorf("reload of a fixed file: %d, reload_successful %v", resp.StatusCode, reloadOK())
	}
	if !strings.Contains(e.log.String(), "configuration not loaded") {
		t.Errorf("the failed reload was not logged")
	}
}

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
		code int // the exit code; 0: any failure
	}{
		{"malformed config", []string{"--config.file=" + write("bad.yml", "targets: [\n")}, []string{"bad.yml", "line"}, 0},
		{"unknown key", []string{"--config.file=" + write("key.yml", "targets:\n  - hostname: a.example.ts.net\n    port: 1\n")}, []string{"key.yml", "line 3", "field port not found"}, 0},
		{"duplicate target", []string{"--config.file=" + write("dup.yml", "targets:\n  - hostname: a.example.ts.net\n"), "--probe.target=a.example.ts.net"}, []string{"duplicate"}, 0},
		{"invalid hostname flag", []string{"--probe.target=not a host"}, []string{"--probe.target=not a host"}, 0},
		{"bad CA file", []string{"--config.file=" + write("ca.yml", "modules:\n  https:\n    tls:\n      ca_file: missing.pem\n")}, []string{"ca.yml", "missing.pem"}, 0},
		{"unknown module", []string{"--config.file=" + write("mod.yml", "targets:\n  - hostname: a.example.ts.net\n    module: icmp\n")}, []string{"mod.yml", "line 2", "unknown module", "icmp"}, 0},
		{"missing config file", []string{"--config.file=" + filepath.Join(dir, "absent.yml")}, []string{"absent.yml"}, 0},
		{"bad allow entry", []string{"--probe.allow=https://x"}, []string{"--probe.allow"}, 2},
		{"unknown flag", []string{"--probe.nope"}, []string{"unknown long flag"}, 2},
		{"bad web config", []string{"--web.config.file=" + write("web.yml", "nonsense: [\n")}, []string{"web.yml"}, 0},
		{"two exact count sources", []string{"--proxy.metrics-url=http://127.0.0.1:9002/metrics", "--proxy.localapi-socket=/run/tailscale/tailscaled.sock"}, []string{"--proxy.metrics-url and --proxy.localapi-socket"}, 2},
		{"bad metrics URL", []string{"--proxy.metrics-url=127.0.0.1:9002"}, []string{"--proxy.metrics-url", "want http://"}, 2},
		{"tailnet clients that name no clients", []string{"--tailnet.policy-file=" + write("policy.hujson", "{}"), "--tailnet.clients=autogroup:self"}, []string{"--tailnet.clients", "autogroup:self"}, 2},
		{"default tag without tag:", []string{"--tailnet.default-tags=k8s"}, []string{"--tailnet.default-tags", "want tag:NAME"}, 2},
		{"two policy sources", []string{"--tailnet.policy-file=" + write("policy.hujson", "{}"), "--tailnet.api-key-file=" + write("key", "tskey-api-x")}, []string{"--tailnet.policy-file and a Tailscale API credential", "give one policy source"}, 2},
		{"policy interval not positive", []string{"--tailnet.policy-file=" + write("policy.hujson", "{}"), "--tailnet.policy-interval=0s"}, []string{"--tailnet.policy-interval 0s"}, 2},
		{"half an OAuth client", []string{"--tailnet.oauth-client-id-file=" + write("id", "k123")}, []string{"OAuth client ID", "without the client secret"}, 2},
		{"bad API URL", []string{"--tailnet.api-key-file=" + write("key", "tskey-api-x"), "--tailnet.api-url=ftp://127.0.0.1"}, []string{"base URL", "ftp://127.0.0.1"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"--web.listen-address=" + freeAddr(t)}, tc.args...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				cmd.Process.Kill()
				<-done
				t.Fatalf("exporter kept running on bad input:\n%s", out)
			}
			if err == nil {
				t.Fatalf("exporter exited 0 on bad input:\n%s", out)
			}
			if code := cmd.ProcessState.ExitCode(); tc.code != 0 && code != tc.code {
				t.Errorf("exit code %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tailscale-tunnel-exporter, version") {
		t.Errorf("--version: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, flag := range []string{"--web.listen-address", "--web.telemetry-path", "--web.config.file", "--config.file", "--probe.target", "--probe.resolve", "--probe.interval", "--probe.concurrency", "--probe.allow", "--probe.tailnet-socks5-address", "--proxy.metrics-url", "--proxy.localapi-socket", "--tailnet.policy-file", "--tailnet.api-key-file", "--tailnet.oauth-client-id-file", "--tailnet.oauth-client-secret-file", "--tailnet.name", "--tailnet.api-url", "--tailnet.policy-interval", "--tailnet.clients", "--tailnet.default-tags", "--log.level", "--log.format", "--[no-]version", ":9847"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help does not mention %s", flag)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), "without --kubernetes.discovery it exports only whether the policy could be read") {
		t.Errorf("--help does not say what the policy reader does without discovery")
	}
}

func TestWebConfigBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(binary, "--web.listen-address="+addr, "--web.config.file="+webCfg)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	get := func(user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for get("", "") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("exporter did not listen:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := get("", ""); c != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", c)
	}
	if c := get("prometheus", "wrong"); c != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", c)
	}
	if c := get("prometheus", "s3cret"); c != http.StatusOK {
		t.Errorf("right password: %d, want 200", c)
	}
}

// TestEndToEndTailnetVantage probes through a SOCKS5 proxy standing in for
// tailscaled: the name is resolved by the proxy (MagicDNS), never locally,
// so the target is configured for the tailnet vantage only.
func TestEndToEndTailnetVantage(t *testing.T) {
	env := startSim(t)
	socks, err := probertest.NewSOCKS5Server(probertest.SOCKS5Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socks.Close() })
	var whoamiPort string
	for _, ep := range env.Endpoints {
		if ep.Hostname == sim.Whoami {
			_, whoamiPort, _ = net.SplitHostPort(ep.Addr)
		}
	}
	cfg := filepath.Join(env.Dir, "tailnet.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`modules:
  https:
    port: %s
    tls:
      ca_file: ca.pem
targets:
  - hostname: %s
    vantages: [tailnet]
`, whoamiPort, sim.Whoami)), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--config.file="+cfg, "--probe.tailnet-socks5-address="+socks.Addr, "--probe.interval=1s")
	var fams map[string]*dto.MetricFamily
	e.waitFor(t, "a tailnet result", func() bool {
		_, fams = e.metrics(t)
		return len(fams["tailscale_tunnel_probe_success"].GetMetric()) == 1
	})
	if s := series(fams, "tailscale_tunnel_probe_success", "vantage"); s[sim.Whoami+"/tailnet"] != 1 {
		t.Errorf("probe_success = %v, want whoami/tailnet 1", s)
	}
	if _, ok := series(fams, "tailscale_tunnel_probe_phase_duration_seconds", "phase")[sim.Whoami+"/resolve"]; ok {
		t.Errorf("a resolve phase ran locally for a tailnet probe")
	}
	if got := socks.Resolved(); len(got) == 0 || got[0] != sim.Whoami {
		t.Errorf("the proxy resolved %v, want %s", got, sim.Whoami)
	}
	code, body := e.get(t, "/probe?target="+sim.Whoami+"&vantage=tailnet")
	if code != http.StatusOK || !strings.Contains(body, "tailscale_tunnel_probe_success 1") {
		t.Errorf("/probe via tailnet: %d\n%s", code, body)
	}
}

// TestEndToEndClusterUnreachable: with no API server at the kubeconfig's
// address, the exporter still starts, probes its static targets and says
// that discovery is down, instead of exiting.
func TestEndToEndClusterUnreachable(t *testing.T) {
	env := startSim(t)
	dead := freeAddr(t) // nothing listens here
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, dead)), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--config.file="+env.ConfigFile, "--probe.interval=1s", "--kubernetes.discovery", "--kubeconfig="+kubeconfig)
	var fams map[string]*dto.MetricFamily
	e.waitFor(t, "static results and discovery errors", func() bool {
		_, fams = e.metrics(t)
		return len(fams["tailscale_tunnel_probe_success"].GetMetric()) == 3 && len(fams["tailscale_tunnel_discovery_errors_total"].GetMetric()) > 0
	})
	if up := fams["tailscale_tunnel_discovery_up"].GetMetric(); len(up) != 1 || up[0].GetGauge().GetValue() != 0 {
		t.Errorf("discovery_up = %v, want 0", up)
	}
	var unreachable float64
	for k, v := range series(fams, "tailscale_tunnel_discovery_errors_total", "kind") {
		if strings.HasSuffix(k, "/unreachable") {
			unreachable += v
		}
	}
	if unreachable == 0 {
		t.Errorf("no unreachable errors counted: %v", series(fams, "tailscale_tunnel_discovery_errors_total", "kind"))
	}
	if s := series(fams, "tailscale_tunnel_probe_success", "vantage"); s[sim.Whoami+"/direct"] != 1 {
		t.Errorf("static targets not probed while the cluster is unreachable: %v", s)
	}
	// Discovery fails as a part (it cannot see the cluster); probing does not.
	sc := series(fams, "tailscale_tunnel_scrape_collector_success", "collector")
	if d, ok := sc["/discovery"]; !ok || d != 0 || sc["/probe"] != 1 {
		t.Errorf("scrape_collector_success = %v, want discovery 0 and probe 1", sc)
	}
}

// TestEndToEndLogsFromStdin pipes tailscaled lines into the exporter
// (journalctl -fu tailscaled | tailscale-tunnel-exporter --logs.stdin) and
// checks the counts exactly.
func TestEndToEndLogsFromStdin(t *testing.T) {
	var stdin io.WriteCloser
	e := startExporterWith(t, func(cmd *exec.Cmd) {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "--logs.stdin", "--logs.hostname=node.tn.ts.net")
	const bursts = 50
	go func() {
		io.WriteString(stdin, sim.ProxyLogStart(time.Now()))
		for i := range bursts {
			io.WriteString(stdin, sim.ProxyLogBurst(time.Now(), i))
			io.WriteString(stdin, "Nov 24 09:32:41 node tailscaled[812]: http: TLS handshake error from 100.64.0.9:443: EOF\n")
		}
		stdin.Close()
	}()
	var fams map[string]*dto.MetricFamily
	e.waitFor(t, "every line counted", func() bool {
		_, fams = e.metrics(t)
		l := series(fams, "tailscale_tunnel_log_lines_total", "pod")
		return l["node.tn.ts.net/"] == sim.ProxyLogStartLines+bursts*(sim.ProxyLogBurstLines+1)
	})
	// Each relay connection is a drop at the peer API port the start lines
	// named, and a handshake EOF from the same relay.
	relays := float64(bursts * sim.ProxyLogBurstRelays)
	drops := series(fams, "tailscale_tunnel_proxy_drops_total", "port")
	if drops["node.tn.ts.net/peerapi"] != relays || drops["node.tn.ts.net/443"] != 0 || drops["node.tn.ts.net/80"] != 0 || len(drops) != 3 {
		t.Errorf("drops by port = %v, want %v peerapi and 443, 80 at 0 (their zero series)", drops, relays)
	}
	if byFamily := series(fams, "tailscale_tunnel_proxy_drops_total", "family"); byFamily["node.tn.ts.net/ipv6"] != relays || byFamily["node.tn.ts.net/ipv4"] != 0 {
		t.Errorf("drops by family = %v, want %v ipv6", byFamily, relays)
	}
	if eof, _ := sumWhere(fams, "tailscale_tunnel_proxy_tls_handshake_errors_total", map[string]string{"cause": "eof", "family": "ipv6"}); eof != relays {
		t.Errorf("TLS handshake EOFs from IPv6 relays = %v, want %v", eof, relays)
	}
	if tls := series(fams, "tailscale_tunnel_proxy_tls_handshake_errors_total", "cause"); tls["node.tn.ts.net/eof"] != relays+bursts {
		t.Errorf("TLS handshake errors = %v, want %v eof", tls, relays+bursts)
	}
	if d, ok := sumWhere(fams, "tailscale_tunnel_proxy_ingress_denied_total", nil); !ok || d != 0 {
		t.Errorf("ingress denials = %v (present %v), want zero series: the incident is not a denial", d, ok)
	}
	if s := series(fams, "tailscale_tunnel_proxy_log_suppressed_lines_total", "filter"); s["node.tn.ts.net/true"] != 3*bursts {
		t.Errorf("suppressed filter lines = %v, want %d", s, 3*bursts)
	}
	e.waitFor(t, "the stream to be reported down after EOF", func() bool {
		_, fams = e.metrics(t)
		return series(fams, "tailscale_tunnel_log_stream_up", "pod")["node.tn.ts.net/"] == 0
	})
}
