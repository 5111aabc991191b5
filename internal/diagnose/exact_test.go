package diagnose

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// realUserMetrics is a real tailscaled's page after a denied connect to
// its :443: tailscaled_inbound_dropped_packets_total{reason="acl"} 3.
func realUserMetrics(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../collector/proxymetrics/testdata/usermetrics-1.98.10-acl-drops.txt")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveUserMetrics serves page at /metrics on loopback, as a proxy pod's
// metrics port does, and counts the requests.
func serveUserMetrics(t *testing.T, page []byte) (*httptest.Server, *int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// connectProxy is an HTTP CONNECT proxy on a unix socket: kube-apiserver's
// egress for the "cluster" network (--egress-selector-config-file), through
// which it dials kubelets and, for pods/proxy, pod IPs. It dials loopback
// targets as asked and a pod IP in routes at the loopback address routes
// gives; any other target is refused. So a pod can have an IP the API
// server accepts to proxy to (it refuses loopback) while nothing but
// loopback is ever dialed.
type connectProxy struct {
	routes map[string]string // pod IP:port → 127.0.0.1:port

	mu      sync.Mutex
	targets []string // CONNECT targets, in order
}

func startConnectProxy(t *testing.T, socket string, routes map[string]string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{routes: routes}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		connsMu.Lock()
		defer connsMu.Unlock()
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c, true)
			wg.Go(func() {
				defer track(c, false)
				p.serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	c.SetReadDeadline(time.Time{})
	target := req.Host
	p.mu.Lock()
	p.targets = append(p.targets, target)
	p.mu.Unlock()
	dial, ok := p.routes[target]
	if host, _, err := net.SplitHostPort(target); !ok && err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			dial, ok = target, true
		}
	}
	if !ok {
		fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\n\r\n")
		return
	}
	up, err := net.DialTimeout("tcp", dial, 5*time.Second)
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	fmt.Fprintf(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

// An address of TEST-NET-1 (RFC 5737): global unicast, so the API server
// proxies to it, and never dialed: the egress proxy maps it to loopback.
const exactPodIP = "192.0.2.10"

// TestGatherExactDropsAgainstAPIServer reads proxy pods' exact drop counts
// through a real kube-apiserver's pod proxy: a pod whose IP the API server
// accepts (reaching the loopback server with the real captured page through
// the egress proxy), a pod at 127.0.0.1 (which it refuses to proxy to), a
// pod without a metrics port; with and without get pods/proxy.
func TestGatherExactDropsAgainstAPIServer(t *testing.T) {
	metrics, metricsRequests := serveUserMetrics(t, realUserMetrics(t))
	metricsPort := int32(metrics.Listener.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	socket := filepath.Join(dir, "egress.sock")
	egress := startConnectProxy(t, socket, map[string]string{
		net.JoinHostPort(exactPodIP, strconv.Itoa(int(metricsPort))): metrics.Listener.Addr().String(),
	})
	config := filepath.Join(dir, "egress.yaml")
	if err := os.WriteFile(config, []byte(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: `+socket+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := kubetest.Start(t, kubetest.Options{ExtraArgs: []string{"--egress-selector-config-file=" + config}})
	kubelet := kubetest.NewKubelet(t)
	kubelet.RegisterNode(t, c, liveNode)
	opNS := c.Namespace(t)
	makeExactIncident(t, c, kubelet, opNS, metricsPort)

	withProxy := c.ServiceAccountToken(t, opNS, "diagnose", liveExporterClusterRules, true)
	grantLiveRole(t, c, withProxy, opNS, "diagnose", append(slices.Clone(liveExporterPodRules),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}}))
	exporterOnly := c.ServiceAccountToken(t, opNS, "exporter", liveExporterClusterRules, true)
	grantLiveRole(t, c, exporterOnly, opNS, "exporter", liveExporterPodRules)

	gather := func(t *testing.T, token string) Evidence {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		client, err := kubernetes.NewForConfig(c.RESTConfig(token))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Gather(ctx, GatherOptions{Client: client, OperatorNamespace: opNS})
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		return ev
	}
	exactOf := func(t *testing.T, ev Evidence) map[string][]ExactDrops {
		t.Helper()
		out := map[string][]ExactDrops{}
		for _, e := range ev.Endpoints {
			if !e.Logs.Read {
				t.Errorf("%s: log not read: the rest of the evidence must not depend on the exact counts", e.Hostname)
			}
			out[e.Hostname] = e.Exact
		}
		return out
	}
	var acl3 proxymetrics.Drops
	acl3.Count[proxymetrics.Inbound][proxymetrics.ReasonACL] = 3
	acl3.Seen[proxymetrics.Inbound][proxymetrics.ReasonACL] = true
	acl3.Seen[proxymetrics.Outbound][proxymetrics.ReasonACL] = true
	acl3.Seen[proxymetrics.Outbound][proxymetrics.ReasonError] = true

	t.Run("allowed get pods/proxy", func(t *testing.T) {
		ev := gather(t, withProxy)
		if len(ev.Missing) != 0 {
			t.Errorf("Missing = %q, want none", ev.Missing)
		}
		got := exactOf(t, ev)
		want := map[string][]ExactDrops{
			liveK8sHost:    {{Pod: opNS + "/" + exactK8sProxy, State: ExactRead, Drops: acl3}},
			liveWhoamiHost: {{Pod: opNS + "/" + exactWhoamiProxy, State: ExactNoPort}},
		}
		loop := got[exactLoopHost]
		delete(got, exactLoopHost)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("exact = %+v\nwant %+v", got, want)
		}
		if len(loop) != 1 || loop[0].State != ExactFailed || loop[0].ErrorKind != proxymetrics.ErrHTTPStatus ||
			!strings.Contains(loop[0].Error, "400 Bad Request") || !strings.Contains(loop[0].Error, "address not allowed") {
			t.Errorf("loopback pod exact = %+v, want the API server's refusal: 400 address not allowed", loop)
		}
		if len(ev.Errors) != 1 || !strings.Contains(ev.Errors[0], opNS+"/"+exactLoopProxy) || !strings.Contains(ev.Errors[0], "address not allowed") {
			t.Errorf("Errors = %q, want the refusal naming %s", ev.Errors, exactLoopProxy)
		}
		if *metricsRequests != 1 {
			t.Errorf("the metrics server had %d requests, want 1 (the pod at 127.0.0.1 is never proxied to)", *metricsRequests)
		}
		// What a user reads: the exact count next to the log's, and the
		// refused pod named with the API server's reason.
		var b bytes.Buffer
		if err := Write(&b, Diagnose(ev), "text", false); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			liveK8sHost + ": exact: acl 3; logged at 443/80: 2",
			opNS + "/" + exactLoopProxy + ": could not read (http_status): 400 Bad Request",
			opNS + "/" + exactWhoamiProxy + ": no exact counts (enable ProxyClass spec.metrics.enable)",
		} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("text report lacks %q:\n%s", want, b.String())
			}
		}
		podTarget := net.JoinHostPort(exactPodIP, strconv.Itoa(int(metricsPort)))
		if n := slices.Index(egress.seen(), podTarget); n < 0 {
			t.Errorf("egress targets %q, want %s among them", egress.seen(), podTarget)
		}
	})

	t.Run("forbidden get pods/proxy", func(t *testing.T) {
		before := *metricsRequests
		ev := gather(t, exporterOnly)
		if want := []string{"get pods/proxy in namespace " + opNS}; !reflect.DeepEqual(ev.Missing, want) {
			t.Errorf("Missing = %q, want %q", ev.Missing, want)
		}
		if len(ev.Errors) != 0 {
			t.Errorf("Errors = %q, want none", ev.Errors)
		}
		want := map[string][]ExactDrops{
			liveK8sHost:    {{Pod: opNS + "/" + exactK8sProxy, State: ExactForbidden}},
			exactLoopHost:  {{Pod: opNS + "/" + exactLoopProxy, State: ExactForbidden}},
			liveWhoamiHost: {{Pod: opNS + "/" + exactWhoamiProxy, State: ExactNoPort}},
		}
		if got := exactOf(t, ev); !reflect.DeepEqual(got, want) {
			t.Errorf("exact = %+v\nwant %+v", got, want)
		}
		if *metricsRequests != before {
			t.Errorf("the metrics server was read without the permission")
		}
		r := Diagnose(ev)
		var b bytes.Buffer
		if err := Write(&b, r, "text", false); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"forbidden: get pods/proxy in namespace " + opNS,
			opNS + "/" + exactK8sProxy + ": could not read: forbidden (get pods/proxy)",
			// The log's evidence stands without the counters.
			"2 drop(s) \"no rules matched\" to a served port",
		} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("text report lacks %q:\n%s", want, b.String())
			}
		}
		if strings.Contains(b.String(), "exact: acl") {
			t.Errorf("the report quotes exact counts it could not read:\n%s", b.String())
		}
	})
}

const (
	exactLoopHost    = "loop.tail1234.ts.net"
	exactK8sProxy    = "ts-traefik-ingress-m3tr1-0"
	exactLoopProxy   = "ts-loop-l00pb-0"
	exactWhoamiProxy = "ts-whoami-n0m3t-0"
)

// exactK8sLog are served-port drops in k8s's proxy log: fewer than the
// exact counter says, as on a real tailscaled.
var exactK8sLog = []string{
	"2026/02/22 10:11:12 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
	"2026/02/22 10:11:13 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched",
}

// makeExactIncident makes three Ingress endpoints and their proxy pods:
// k8s with a metrics port at exactPodIP, loop with one at 127.0.0.1, whoami
// without.
func makeExactIncident(t *testing.T, c *kubetest.Cluster, kubelet *kubetest.Kubelet, opNS string, port int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := c.AdminClient()
	endpoint := func(ns, name, host, pod, podIP string, metricsPort int32) {
		t.Helper()
		if _, err := client.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networkingv1.IngressSpec{IngressClassName: new("tailscale"),
				// A backend that does not exist: no EndpointSlices to read.
				DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "absent", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				TLS: []networkingv1.IngressTLS{{Hosts: []string{strings.Split(host, ".")[0]}}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := kubetest.SetIngressHostname(ctx, client, ns, name, host); err != nil {
			t.Fatal(err)
		}
		container := corev1.Container{Name: "tailscale", Image: "tailscale/tailscale:v1.98.10"}
		if metricsPort != 0 {
			container.Ports = []corev1.ContainerPort{{Name: discovery.MetricsPortName, ContainerPort: metricsPort}}
		}
		kubetest.CreatePod(t, client, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: pod, Labels: map[string]string{
				discovery.LabelManaged: "true", discovery.LabelParentName: name,
				discovery.LabelParentNamespace: ns, discovery.LabelParentType: discovery.ParentIngress,
			}},
			Spec:   corev1.PodSpec{NodeName: liveNode, Containers: []corev1.Container{container}},
			Status: corev1.PodStatus{PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}}},
		})
		kubelet.AppendAt(opNS, pod, "tailscale", time.Now().Add(-time.Minute), "boot: 2026/02/22 10:11:00 Starting tailscaled")
	}
	endpoint("kube-system", "traefik-ingress", liveK8sHost, exactK8sProxy, exactPodIP, port)
	endpoint("default", "loop", exactLoopHost, exactLoopProxy, "127.0.0.1", port)
	endpoint("default", "whoami", liveWhoamiHost, exactWhoamiProxy, "10.42.0.11", 0)
	kubelet.AppendAt(opNS, exactK8sProxy, "tailscale", time.Now().Add(-time.Minute), exactK8sLog...)
}

// TestExactLine: the exact counters set against the served-port drop
// lines of the log, as the report and the drop findings quote them.
func TestExactLine(t *testing.T) {
	served := func(n int) []string { return repeat(n, func(int) string { return sampleDropIPv4 }) }
	tests := []struct {
		name string
		e    func() *EndpointEvidence
		want string
	}{
		{"REFERENCE §2: 10 lines, 158 packets", func() *EndpointEvidence {
			return withExact(withLog(app(), served(10)...), 158)
		}, "exact: acl 158; logged at 443/80: 10"},
		{"peer-API drops are not logged drops", func() *EndpointEvidence {
			return withExact(withLog(app(), append(served(1), realPeerAPIDrop, realPeerAPIDrop)...), 4)
		}, "exact: acl 4; logged at 443/80: 1"},
		{"other reasons, in enumeration order", func() *EndpointEvidence {
			return withExact(withLog(app()), 2, 0, 0, 7) // too_short 7
		}, "exact: acl 2, too_short 7; logged at 443/80: 0"},
		{"nothing dropped", func() *EndpointEvidence { return withExact(withLog(app()), 0) }, "exact: none; logged at 443/80: 0"},
		{"log not read", func() *EndpointEvidence {
			e := withExact(app(), 3)
			e.Logs = LogSummary{}
			return e
		}, "exact: acl 3; log not read"},
		{"more logged than counted: a restart", func() *EndpointEvidence {
			return withExact(withLog(app(), served(5)...), 2)
		}, "exact: acl 2; logged at 443/80: 5 (more than counted: tailscaled restarted since)"},
		{"one of two pods read", func() *EndpointEvidence {
			e := withExact(withLog(app(), served(1)...), 10)
			e.Exact = append(e.Exact, ExactDrops{Pod: "tailscale/ts-app-abcde-1", State: ExactForbidden})
			return e
		}, "exact: acl 10 (1 of 2 proxy pods read); logged at 443/80: 1"},
		{"no pod read", func() *EndpointEvidence {
			e := withLog(app(), served(1)...)
			e.Exact = []ExactDrops{{Pod: "tailscale/ts-app-abcde-0", State: ExactNoPort}}
			return e
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e()
			if got := summarizeExact(e).line(e.Logs.Read); got != tt.want {
				t.Errorf("line = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func app() *EndpointEvidence { return endpoint("default", "app", "app", "app") }

// TestDropFindingQuotesExact: the served-port drop finding quotes the
// exact count next to the log's when it was read, and only then.
func TestDropFindingQuotesExact(t *testing.T) {
	for _, exact := range []bool{true, false} {
		a := withLog(app(), repeat(10, func(int) string { return sampleDropIPv4 })...)
		if exact {
			withExact(a, 158)
		}
		r := Diagnose(Evidence{Endpoints: []EndpointEvidence{*a}})
		var f *Finding
		for i := range r.Findings {
			if r.Findings[i].Rule == "drops-no-rules-matched" {
				f = &r.Findings[i]
			}
			if r.Findings[i].Rule == "exact-drops-unlogged" {
				t.Errorf("exact-drops-unlogged fires although the log shows served-port drops")
			}
		}
		if f == nil {
			t.Fatalf("exact %v: no drops-no-rules-matched finding: %v", exact, ruleIDs(r.Findings))
		}
		quoted := slices.ContainsFunc(f.Evidence, func(s string) bool {
			return strings.HasPrefix(s, "exact: acl 158; logged at 443/80: 10")
		})
		if quoted != exact {
			t.Errorf("exact read %v, quoted %v: %q", exact, quoted, f.Evidence)
		}
	}
}

func init() {
	goldenReports = append(goldenReports, goldenReport{"exact", sampleReportExact})
}

// sampleReportExact is REFERENCE §2's measurement as diagnose shows it:
// k8s's proxy logged 10 drops at 443 while its counter says 158; app's
// proxy counted drops its log no longer shows; whoami's proxy serves no
// metrics; and the pod proxy refused a pod at a loopback address.
func sampleReportExact() Report {
	k8s := withExact(withLog(endpoint("kube-system", "traefik-ingress", "k8s", "traefik"),
		repeat(10, func(int) string { return sampleDropIPv4 })...), 158)
	down(k8s)
	app := withExact(withLog(app(), filterRateLimit), 42, 0, 0, 0, 0, 0, 1) // acl 42, error 1
	down(app)
	app.Pods = append(app.Pods, app.Pods[0])
	app.Pods[1].Name = "ts-app-abcde-1"
	app.Exact = append(app.Exact, ExactDrops{Pod: "tailscale/ts-app-abcde-1", State: ExactFailed, ErrorKind: proxymetrics.ErrHTTPStatus,
		Error: `400 Bad Request: "{\"kind\":\"Status\",\"message\":\"address not allowed\",\"reason\":\"BadRequest\",\"code\":400}" (the API server refuses to proxy to this pod's IP: not a routable unicast address)`})
	whoami := endpoint("default", "whoami", "whoami", "whoami")
	whoami.Exact = []ExactDrops{{Pod: "tailscale/ts-whoami-abcde-0", State: ExactNoPort}}
	return Diagnose(Evidence{
		GatheredAt: gatheredAt,
		Endpoints:  []EndpointEvidence{*k8s, *app, *whoami},
		Operator:   OperatorEvidence{Found: true, Pod: "operator-0", Version: "v1.80.3", Ready: true},
		Errors: []string{"read exact drop counts of proxy pod tailscale/ts-app-abcde-1 (port 9002) through the API server's pod proxy: " +
			app.Exact[1].Error},
	})
}
