package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// servePages serves tailscaled's real user metrics pages on a loopback
// port, the one set last; it returns the port.
func servePages(t *testing.T, page *atomic.Pointer[[]byte]) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain;version=0.0.4;charset=utf-8")
		w.Write(*page.Load())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

// TestEndToEndExactDrops runs the exporter binary against a real API
// server holding two proxy pods: one whose tailscale container has a port
// named metrics and whose pod IP is 127.0.0.1, where a loopback server
// serves real tailscaled 1.98.10 user metrics; one without. The exporter's
// RBAC is list/watch only: reading the counts needs no more.
func TestEndToEndExactDrops(t *testing.T) {
	realPage := func(name string) *[]byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "collector", "proxymetrics", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return &b
	}
	aclDrops, beforeDrop := realPage("usermetrics-1.98.10-acl-drops.txt"), realPage("usermetrics-1.98.10-before-drop.txt")
	var page atomic.Pointer[[]byte]
	page.Store(aclDrops)
	port := servePages(t, &page)

	c := kubetest.Start(t, kubetest.Options{})
	admin := c.AdminClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}, metav1.CreateOptions{})
	must(err)
	ns := c.Namespace(t)
	const (
		tailnet   = "tailnet.test"
		exactPod  = "ts-web-x7k2p-0"
		loggedPod = "ts-api-q2w4e-0"
	)
	for _, p := range []struct {
		ingress, pod string
		metrics      bool
	}{{"web", exactPod, true}, {"api", loggedPod, false}} {
		class := "tailscale"
		_, err := admin.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.ingress},
			Spec: networkingv1.IngressSpec{
				IngressClassName: &class,
				DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: p.ingress, Port: networkingv1.ServiceBackendPort{Number: 80}}},
				TLS:              []networkingv1.IngressTLS{{Hosts: []string{p.ingress}}},
			},
		}, metav1.CreateOptions{})
		must(err)
		must(kubetest.SetIngressHostname(ctx, admin, ns, p.ingress, p.ingress+"."+tailnet))
		ctr := corev1.Container{Name: "tailscale", Image: proxyImage}
		if p.metrics {
			// What the operator writes for a ProxyClass with
			// spec.metrics.enable: true (its port is 9002; here the
			// loopback server's).
			ctr.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: port, Protocol: corev1.ProtocolTCP}}
		}
		kubetest.CreatePod(t, admin, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: p.pod, Labels: map[string]string{
				"tailscale.com/managed":              "true",
				"tailscale.com/parent-resource":      p.ingress,
				"tailscale.com/parent-resource-ns":   ns,
				"tailscale.com/parent-resource-type": "ingress",
			}},
			Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{ctr}},
			Status: corev1.PodStatus{PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}},
		})
	}
	rules := append(exporterClusterRules[:len(exporterClusterRules):len(exporterClusterRules)],
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	must(c.WriteKubeconfig(kubeconfig, c.ServiceAccountToken(t, operatorNS, "exporter", rules, true)))

	e := startExporter(t, "--kubernetes.discovery", "--kubeconfig="+kubeconfig, "--no-kubernetes.pod-logs", "--probe.interval=200ms")
	web, api := "web."+tailnet, "api."+tailnet
	acl := func(fams map[string]*dto.MetricFamily) float64 {
		return exactSeries(fams, "tailscale_tunnel_proxy_dropped_packets_total", web, exactPod, "inbound", "acl")
	}
	var fams map[string]*dto.MetricFamily
	var body string
	e.waitFor(t, "the exact acl count of "+web, func() bool {
		body, fams = e.metrics(t)
		return acl(fams) == 3
	})
	for _, tc := range []struct {
		family, hostname, pod string
		labels                []string
		want                  float64
	}{
		{"tailscale_tunnel_proxy_metrics_enabled", web, exactPod, nil, 1},
		{"tailscale_tunnel_proxy_metrics_enabled", api, loggedPod, nil, 0},
		{"tailscale_tunnel_proxy_metrics_up", web, exactPod, nil, 1},
		{"tailscale_tunnel_proxy_dropped_packets_total", web, exactPod, []string{"outbound", "error"}, 0},
		{"tailscale_tunnel_proxy_metrics_errors_total", web, exactPod, []string{"timeout"}, 0},
		{"tailscale_tunnel_scrape_collector_success", "", "", []string{"proxy_metrics"}, 1},
	} {
		if got := exactSeries(fams, tc.family, tc.hostname, tc.pod, tc.labels...); got != tc.want {
			t.Errorf("%s{hostname=%q,pod=%q,%v} = %v, want %v", tc.family, tc.hostname, tc.pod, tc.labels, got, tc.want)
		}
	}
	if got := exactSeries(fams, "tailscale_tunnel_proxy_metrics_up", api, loggedPod); got != -1 {
		t.Errorf("proxy_metrics_up of a pod without the metrics port = %v, want no series", got)
	}
	promtoolCheckMetrics(t, body)

	// The proxy restarts: its counter starts from nothing (the real page
	// before any drop), then counts the same three drops again.
	page.Store(beforeDrop)
	e.waitFor(t, "the reset", func() bool {
		_, fams = e.metrics(t)
		return exactSeries(fams, "tailscale_tunnel_proxy_metrics_resets_total", web, exactPod) == 1
	})
	if got := acl(fams); got != 3 {
		t.Errorf("acl after the restart = %v, want 3: the total never goes down", got)
	}
	page.Store(aclDrops)
	e.waitFor(t, "3 + 3 drops", func() bool { _, fams = e.metrics(t); return acl(fams) == 6 })

	// The proxy becomes unreachable: up 0, errors counted, counts kept.
	page.Store(&[]byte{})
	e.waitFor(t, "the parse error", func() bool {
		_, fams = e.metrics(t)
		return exactSeries(fams, "tailscale_tunnel_proxy_metrics_errors_total", web, exactPod, "parse") > 0
	})
	if up, got := exactSeries(fams, "tailscale_tunnel_proxy_metrics_up", web, exactPod), acl(fams); up != 0 || got != 6 {
		t.Errorf("after a failed read: up %v, acl %v; want 0, 6", up, got)
	}
}

// exactSeries returns the value of the series of a family with hostname,
// pod and then the family's other labels in order, or -1 when there is
// none. An empty hostname and pod match a family without those labels.
func exactSeries(fams map[string]*dto.MetricFamily, name, hostname, pod string, labels ...string) float64 {
	for _, m := range fams[name].GetMetric() {
		var rest []string
		ok := true
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "hostname":
				ok = ok && l.GetValue() == hostname
			case "pod":
				ok = ok && l.GetValue() == pod
			default:
				rest = append(rest, l.GetValue())
			}
		}
		if !ok || !slices.Equal(rest, labels) {
			continue
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}

// TestEndToEndExactDropsPlainHost reads a plain host's user metrics from
// --proxy.metrics-url, labelled with --logs.hostname.
func TestEndToEndExactDropsPlainHost(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "collector", "proxymetrics", "testdata", "usermetrics-1.98.10-acl-drops.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var page atomic.Pointer[[]byte]
	page.Store(&b)
	port := servePages(t, &page)
	const host = "proxy.tailnet.test"
	e := startExporter(t, "--proxy.metrics-url=http://127.0.0.1:"+strconv.Itoa(int(port))+"/metrics", "--logs.hostname="+host, "--probe.interval=200ms")
	var fams map[string]*dto.MetricFamily
	e.waitFor(t, "the exact acl count of "+host, func() bool {
		_, fams = e.metrics(t)
		return exactSeries(fams, "tailscale_tunnel_proxy_dropped_packets_total", host, "", "inbound", "acl") == 3
	})
	if got := exactSeries(fams, "tailscale_tunnel_proxy_metrics_up", host, ""); got != 1 {
		t.Errorf("proxy_metrics_up = %v, want 1", got)
	}
}
