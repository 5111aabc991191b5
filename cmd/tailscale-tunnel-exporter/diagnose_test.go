package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/cmd/internal/sim"
)

// diagnoseRun is one run of `tailscale-tunnel-exporter diagnose`.
type diagnoseRun struct {
	code           int
	stdout, stderr string
}

// runDiagnose runs the binary's diagnose command outside any cluster
// (no KUBECONFIG, no in-cluster service account) unless args say otherwise.
func runDiagnose(t *testing.T, args ...string) diagnoseRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"diagnose"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("diagnose %q did not finish in 90s:\n%s\n%s", args, stdout.String(), stderr.String())
	}
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("diagnose %q: %v", args, err)
	}
	return diagnoseRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// jsonReport is the part of the JSON report the tests read.
type jsonReport struct {
	Problems bool `json:"problems"`
	Findings []struct {
		Rule     string   `json:"rule"`
		Hostname string   `json:"hostname"`
		Severity string   `json:"severity"`
		Evidence []string `json:"evidence"`
	} `json:"findings"`
	Endpoints []struct {
		Hostname string `json:"hostname"`
		Object   *struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"object"`
		ProxyPods []struct {
			Name string `json:"name"`
		} `json:"proxy_pods"`
		Logs struct {
			Read   bool `json:"read"`
			Events []struct {
				Kind   string `json:"kind"`
				Family string `json:"family"`
				Count  int    `json:"count"`
			} `json:"events"`
		} `json:"logs"`
		Probes map[string]struct {
			Success bool   `json:"success"`
			Reason  string `json:"reason"`
		} `json:"probes"`
	} `json:"endpoints"`
	Compare *struct {
		Hostname string `json:"hostname"`
		Probes   map[string]struct {
			Success bool `json:"success"`
		} `json:"probes"`
	} `json:"compare"`
	Errors []string `json:"errors"`
}

func decodeReport(t *testing.T, r diagnoseRun) jsonReport {
	t.Helper()
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("JSON report: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return rep
}

func (r jsonReport) rules(hostname string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Hostname == hostname {
			out = append(out, f.Rule)
		}
	}
	return out
}

func (r jsonReport) drops(hostname, family string) int {
	for _, e := range r.Endpoints {
		if e.Hostname != hostname {
			continue
		}
		n := 0
		for _, ev := range e.Logs.Events {
			if ev.Kind == "drop" && ev.Family == family {
				n += ev.Count
			}
		}
		return n
	}
	return -1
}

// The Funnel story of the incident (REFERENCE.md §8 row 2): relays reach
// the proxy, then their TLS handshakes end in EOF.
const (
	ruleRelayHandshakeFailing = "funnel-relay-handshake-failing"
	ruleRelayTraffic          = "funnel-relay-traffic"
)

// checkFunnelStory checks that the findings about hostname tell the
// incident's Funnel story first: the relay handshake failure is its first
// finding and critical, the relay traffic itself is information ranked
// below every critical and warning finding, and neither the old rule
// (relay drops at 443/80) nor an ingress denial, which the log does not
// show, appears.
func (r jsonReport) checkFunnelStory(t *testing.T, hostname string) {
	t.Helper()
	first, traffic, lastSerious := -1, -1, -1
	for i, f := range r.Findings {
		if f.Severity == "critical" || f.Severity == "warning" {
			lastSerious = i
		}
		if f.Hostname != hostname {
			continue
		}
		switch {
		case first < 0:
			first = i
			if f.Rule != ruleRelayHandshakeFailing || f.Severity != "critical" {
				t.Errorf("first finding of %s is %s (%s), want %s (critical)", hostname, f.Rule, f.Severity, ruleRelayHandshakeFailing)
			}
			if len(f.Evidence) == 0 {
				t.Errorf("%s has no evidence lines", f.Rule)
			}
		case f.Rule == "drops-no-rules-matched" || f.Rule == "funnel-ingress-denied":
			t.Errorf("finding %s for %s: the proxy log has relay drops at the peer API port (never a served-port drop) and no ingress denial", f.Rule, hostname)
		}
		if f.Rule == ruleRelayTraffic {
			traffic = i
			if f.Severity != "info" {
				t.Errorf("%s is %s, want info: relay drops at the peer API port never explain a failure", f.Rule, f.Severity)
			}
		}
	}
	switch {
	case first < 0:
		t.Errorf("no findings for %s", hostname)
	case traffic < 0:
		t.Errorf("no %s finding for %s: %v", ruleRelayTraffic, hostname, r.rules(hostname))
	case traffic < lastSerious:
		t.Errorf("%s is ranked %d, above a critical or warning finding at %d", ruleRelayTraffic, traffic+1, lastSerious+1)
	}
}

// firstTextFinding returns the rule of the first finding about hostname
// in a text report ("  1. CRITICAL (80%) title" then "endpoint H, rule R").
func firstTextFinding(report, hostname string) string {
	m := regexp.MustCompile(`(?m)^\s+endpoint ` + regexp.QuoteMeta(hostname) + `, rule (\S+)$`).FindStringSubmatch(report)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestDiagnoseSimulated is the README demo's environment: the simulated
// endpoints on loopback and the cluster tunnel's tailscaled log as a plain
// host's file, no cluster. The probes and the log tell the story.
func TestDiagnoseSimulated(t *testing.T) {
	env := startSim(t)
	waitForLog(t, env.ProxyLog, 3*sim.ProxyLogBurstLines)
	cfg := incidentConfig(t, env)
	r := runDiagnose(t, sim.Cluster, sim.Expired, "--compare="+sim.Whoami, "--config.file="+cfg,
		"--logs.file="+env.ProxyLog, "--logs.hostname="+sim.Cluster, "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1 (problems found)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "probing only") {
		t.Errorf("stderr does not say that there is no Kubernetes evidence:\n%s", r.stderr)
	}
	rep := decodeReport(t, r)
	if !rep.Problems {
		t.Error("problems = false")
	}
	rep.checkFunnelStory(t, sim.Cluster)
	if cluster := strings.Join(rep.rules(sim.Cluster), " "); !strings.Contains(cluster, "tls-handshake-stalls") {
		t.Errorf("findings of %s = %s, want tls-handshake-stalls among them", sim.Cluster, cluster)
	}
	if top := rep.Findings[0]; top.Hostname != sim.Cluster && top.Hostname != sim.Expired {
		t.Errorf("top finding %s@%s is about neither failing endpoint", top.Rule, top.Hostname)
	}
	if got := strings.Join(rep.rules(sim.Expired), " "); !strings.Contains(got, "certificate-invalid") {
		t.Errorf("findings of %s = %s, want certificate-invalid", sim.Expired, got)
	}
	if n := rep.drops(sim.Cluster, "ipv6"); n < 3 {
		t.Errorf("IPv6 drops read from %s = %d, want >= 3", env.ProxyLog, n)
	}
	if rep.Compare == nil || !rep.Compare.Probes["direct"].Success {
		t.Errorf("compare = %+v, want %s probed ok", rep.Compare, sim.Whoami)
	}

	// The terminal report: no colour when stdout is not a terminal, colour
	// when asked for; the same findings.
	text := runDiagnose(t, sim.Cluster, "--compare="+sim.Whoami, "--config.file="+cfg,
		"--logs.file="+env.ProxyLog, "--logs.hostname="+sim.Cluster)
	if text.code != 1 || strings.Contains(text.stdout, "\x1b") || firstTextFinding(text.stdout, sim.Cluster) != ruleRelayHandshakeFailing || !strings.Contains(text.stdout, "Side by side") {
		t.Errorf("text report (exit %d) lacks the Funnel story first or the side-by-side table, or has colour on a pipe:\n%s", text.code, text.stdout)
	}
	color := runDiagnose(t, sim.Cluster, "--config.file="+cfg, "--color=always", "-o", "text")
	if !strings.Contains(color.stdout, "\x1b[") {
		t.Errorf("--color=always gave no colour:\n%s", color.stdout)
	}
	md := runDiagnose(t, sim.Cluster, "--config.file="+cfg, "--output=markdown")
	if md.code != 1 || !strings.HasPrefix(md.stdout, "## ") || !strings.Contains(md.stdout, "tls-handshake-stalls") {
		t.Errorf("markdown report (exit %d):\n%s", md.code, md.stdout)
	}

	// Only the working endpoint: nothing to report, exit 0.
	ok := runDiagnose(t, sim.Whoami, "--config.file="+cfg, "-o", "json")
	if ok.code != 0 || decodeReport(t, ok).Problems {
		t.Errorf("diagnose of the working endpoint: exit %d\n%s\n%s", ok.code, ok.stdout, ok.stderr)
	}
}

// waitForLog waits until the simulated proxy has written n lines.
func waitForLog(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte("\n")) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s has fewer than %d lines after 20s", path, n)
}

func TestDiagnoseBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("targets: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	// An API server nobody listens on: 127.0.0.1:1 refuses at once.
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"malformed config", []string{"--config.file=" + bad}, 2, []string{"bad.yml"}},
		{"unknown format", []string{"-o", "yaml"}, 2, []string{"yaml"}},
		{"log file without hostname", []string{"--logs.file=" + bad}, 2, []string{"--logs.hostname"}},
		{"missing kubeconfig", []string{"--kubeconfig=" + filepath.Join(dir, "absent")}, 2, []string{"absent"}},
		{"API server unreachable", []string{"--kubeconfig=" + kubeconfig, "-o", "json"}, 0, []string{`"errors": [`, "127.0.0.1:1"}},
		// A peer that never finishes the handshake outlasts --timeout: the
		// partial report is still written.
		{"out of time", []string{"--probe.resolve=stall.example.ts.net=" + stallingPeer(t), "--timeout=300ms", "-o", "json", "stall.example.ts.net"}, 2, []string{"--timeout=300ms", `"hostname": "stall.example.ts.net"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runDiagnose(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output does not mention %q\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestEndToEndDiagnose runs diagnose against a real API server holding the
// incident, with a token that has the exporter's RBAC only (list, watch,
// get pods/log: nothing it could change the cluster with). The top finding
// is the Funnel story read from the proxy pod's log: relays reach the
// proxy, then their TLS handshakes fail; the differences from the working
// Funnel follow.
func TestEndToEndDiagnose(t *testing.T) {
	env := startSim(t)
	ic := startIncidentCluster(t)
	cfg := incidentConfig(t, env)
	args := []string{"k8s", "--compare=whoami", "--kubeconfig=" + ic.kubeconfig, "--config.file=" + cfg,
		"--kubernetes.operator-namespace=" + operatorNS}

	var r diagnoseRun
	var rep jsonReport
	for try := 0; ; try++ {
		r = runDiagnose(t, append(args, "-o", "json")...)
		rep = decodeReport(t, r)
		if rep.drops(sim.Cluster, "ipv6") > 0 || try == 10 {
			break
		}
		time.Sleep(300 * time.Millisecond) // the proxy has not logged its first burst yet
	}
	if r.code != 1 {
		t.Errorf("exit code %d, want 1\nstderr:\n%s", r.code, r.stderr)
	}
	if len(rep.Findings) == 0 {
		t.Fatalf("no findings:\n%s", r.stdout)
	}
	if top := rep.Findings[0]; top.Rule != ruleRelayHandshakeFailing || top.Hostname != sim.Cluster {
		t.Errorf("top finding %s@%s (%s), want %s@%s\n%s", top.Rule, top.Hostname, top.Severity, ruleRelayHandshakeFailing, sim.Cluster, r.stdout)
	}
	rep.checkFunnelStory(t, sim.Cluster)
	for _, rule := range []string{"tls-handshake-stalls", "namespace-differs"} {
		if !strings.Contains(strings.Join(rep.rules(sim.Cluster), " "), rule) {
			t.Errorf("no %s finding for %s: %v", rule, sim.Cluster, rep.rules(sim.Cluster))
		}
	}
	if len(rep.Endpoints) != 1 {
		t.Fatalf("endpoints = %+v, want the cluster tunnel only", rep.Endpoints)
	}
	k8s := rep.Endpoints[0]
	if k8s.Object == nil || k8s.Object.Namespace != "kube-system" || k8s.Object.Name != "traefik-ingress" ||
		len(k8s.ProxyPods) != 1 || k8s.ProxyPods[0].Name != clusterPod || !k8s.Logs.Read || k8s.Probes["direct"].Reason != "tls_handshake_timeout" {
		t.Errorf("cluster tunnel evidence = %+v", k8s)
	}
	if n := rep.drops(sim.Cluster, "ipv6"); n == 0 {
		t.Errorf("no IPv6 drops read from the proxy pod's log")
	}
	if rep.Compare == nil || rep.Compare.Hostname != sim.Whoami || !rep.Compare.Probes["direct"].Success {
		t.Errorf("compare = %+v, want %s probed ok", rep.Compare, sim.Whoami)
	}
	if strings.Contains(r.stdout, "operator-not-running") || !strings.Contains(r.stdout, "HTTPS is not enabled on the tailnet; ingress may not work") {
		t.Errorf("the operator pod or its warning line is missing from the report:\n%s", r.stdout)
	}
	// The exporter's RBAC has no EndpointSlices: a finding, not a crash.
	if !strings.Contains(r.stdout, "forbidden: list endpointslices.discovery.k8s.io in namespace kube-system") {
		t.Errorf("the missing EndpointSlices permission is not reported:\n%s", r.stdout)
	}

	md := runDiagnose(t, append(args, "-o", "markdown")...)
	if md.code != 1 || !strings.Contains(md.stdout, ruleRelayHandshakeFailing) {
		t.Errorf("markdown report (exit %d):\n%s", md.code, md.stdout)
	}
	text := runDiagnose(t, args...)
	t.Logf("the report of the incident:\n%s", text.stdout)
	if got := firstTextFinding(text.stdout, sim.Cluster); got != ruleRelayHandshakeFailing {
		t.Errorf("first finding of the text report is %q, want %s", got, ruleRelayHandshakeFailing)
	}
	if out := os.Getenv("TTE_DIAGNOSE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(text.stdout), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestEndToEndDiagnoseFunnelStory is issue 13's end-to-end case: the
// binary's diagnose of one endpoint, a TLS peer on loopback that accepts
// and never answers (the public probe stalls), with the proxy's log
// showing relays reaching its peer API port and their handshakes ending in
// EOF. Both the text a person reads and the JSON a pipeline reads tell the
// Funnel story first.
func TestEndToEndDiagnoseFunnelStory(t *testing.T) {
	env := startSim(t)
	waitForLog(t, env.ProxyLog, sim.ProxyLogStartLines+3*sim.ProxyLogBurstLines)
	args := []string{sim.Cluster, "--config.file=" + env.ConfigFile,
		"--logs.file=" + env.ProxyLog, "--logs.hostname=" + sim.Cluster}

	text := runDiagnose(t, args...)
	if text.code != 1 {
		t.Fatalf("exit code %d, want 1 (problems found)\nstdout:\n%s\nstderr:\n%s", text.code, text.stdout, text.stderr)
	}
	first := regexp.MustCompile(`(?m)^\s+1\. (\w+) \(\d+%\) .*\n\s+endpoint ` + regexp.QuoteMeta(sim.Cluster) + `, rule (\S+)$`).FindStringSubmatch(text.stdout)
	if first == nil || first[1] != "CRITICAL" || first[2] != ruleRelayHandshakeFailing {
		t.Errorf("first finding of the text report = %q, want CRITICAL %s:\n%s", first, ruleRelayHandshakeFailing, text.stdout)
	}
	if !regexp.MustCompile(`\d+ relay connections? reached the proxy`).MatchString(text.stdout) {
		t.Errorf("the text report does not count the relay connections that reached the proxy:\n%s", text.stdout)
	}

	j := runDiagnose(t, append(args, "--output=json")...)
	if j.code != 1 {
		t.Fatalf("exit code %d with --output=json, want 1\nstderr:\n%s", j.code, j.stderr)
	}
	rep := decodeReport(t, j)
	if len(rep.Findings) == 0 || rep.Findings[0].Rule != ruleRelayHandshakeFailing {
		t.Errorf("JSON findings %v, want %s first", rep.rules(sim.Cluster), ruleRelayHandshakeFailing)
	}
	rep.checkFunnelStory(t, sim.Cluster)
	if n := rep.drops(sim.Cluster, "ipv6"); n < 3 {
		t.Errorf("relay drops read from %s = %d, want >= 3", env.ProxyLog, n)
	}
}

// stallingPeer accepts TCP connections on loopback and never answers.
func stallingPeer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
