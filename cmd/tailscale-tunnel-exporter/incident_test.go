package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/cmd/internal/sim"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// Proxy pods of the incident, as the operator names them.
const (
	operatorNS  = "tailscale"
	clusterPod  = "ts-traefik-ingress-7xk2p-0"
	operatorPod = "operator-6d8f7c9b5-q2w4e"
	whoamiPod   = "ts-whoami-9fzq4-0"
	proxyImage  = "tailscale/tailscale:v1.98.10"
	incidentTag = "tag:k8s"
)

// exporterRBAC is exactly what the README says the exporter needs: the
// tests run the exporter with a token that has nothing more, so a missing
// permission shows up as a failure here first.
var (
	exporterClusterRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"services", "events"}, Verbs: []string{"list", "watch"}},
	}
	exporterOperatorRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	}
)

// incidentCluster is REFERENCE.md §1 in a real API server: the cluster-wide
// tunnel (Ingress traefik-ingress in kube-system behind Traefik, Funnel on,
// as it must be for relays to come to it) and the per-service Funnel
// (Ingress whoami in default), their proxy pods in the operator namespace,
// and the tunnel proxy's log as tailscaled writes the incident: Funnel
// relays reach its peer API port, then their TLS handshakes end in EOF
// (REFERENCE.md §8 row 2).
type incidentCluster struct {
	c          *kubetest.Cluster
	kubelet    *kubetest.Kubelet
	admin      kubernetes.Interface
	kubeconfig string // for the exporter, with exporterRBAC only

	stop chan struct{}
	wg   sync.WaitGroup
}

func startIncidentCluster(t *testing.T) *incidentCluster {
	t.Helper()
	return startIncidentClusterWith(t, incidentOptions{})
}

// incidentOptions changes the incident for one test.
type incidentOptions struct {
	// metricsPort, when set, gives the cluster tunnel's proxy pod a
	// container port named metrics there and the pod IP 127.0.0.1, as the
	// operator does for a ProxyClass with spec.metrics.enable: true.
	metricsPort int32
}

func startIncidentClusterWith(t *testing.T, opts incidentOptions) *incidentCluster {
	t.Helper()
	c := kubetest.Start(t, kubetest.Options{})
	kubelet := kubetest.NewKubelet(t)
	kubelet.RegisterNode(t, c, "node-1")
	ic := &incidentCluster{c: c, kubelet: kubelet, admin: c.AdminClient(), stop: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := ic.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}, metav1.CreateOptions{})
	must(err)

	for _, obj := range []struct {
		ns, name, host, svc string
		port                int32
		pod                 string
	}{
		{"kube-system", "traefik-ingress", "k8s", "traefik", 80, clusterPod},
		{"default", "whoami", "whoami", "whoami", 80, whoamiPod},
	} {
		class := "tailscale"
		ann := map[string]string{"tailscale.com/tags": incidentTag, "tailscale.com/funnel": "true"}
		_, err := ic.admin.CoreV1().Services(obj.ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.ns, Name: obj.svc},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: obj.port}}},
		}, metav1.CreateOptions{})
		must(err)
		_, err = ic.admin.NetworkingV1().Ingresses(obj.ns).Create(ctx, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.ns, Name: obj.name, Annotations: ann},
			Spec: networkingv1.IngressSpec{
				IngressClassName: &class,
				DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: obj.svc, Port: networkingv1.ServiceBackendPort{Number: obj.port}}},
				TLS:              []networkingv1.IngressTLS{{Hosts: []string{obj.host}}},
			},
		}, metav1.CreateOptions{})
		must(err)
		must(kubetest.SetIngressHostname(ctx, ic.admin, obj.ns, obj.name, obj.host+"."+sim.Tailnet))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: obj.pod, Labels: map[string]string{
				"tailscale.com/managed":              "true",
				"tailscale.com/parent-resource":      obj.name,
				"tailscale.com/parent-resource-ns":   obj.ns,
				"tailscale.com/parent-resource-type": "ingress",
			}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "tailscale", Image: proxyImage}}},
		}
		if obj.pod == clusterPod && opts.metricsPort != 0 {
			pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: opts.metricsPort, Protocol: corev1.ProtocolTCP}}
			pod.Status = corev1.PodStatus{PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
		}
		kubetest.CreatePod(t, ic.admin, pod)
	}
	// A Warning the operator records when HTTPS is off in the tailnet.
	_, err = ic.admin.CoreV1().Events("kube-system").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "kube-system", Name: "traefik-ingress.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Ingress", Namespace: "kube-system", Name: "traefik-ingress", APIVersion: "networking.k8s.io/v1"},
		Type:           corev1.EventTypeWarning, Reason: "HTTPSNotEnabled", Message: "HTTPS is not enabled on the tailnet", Count: 2,
		Source: corev1.EventSource{Component: "tailscale-operator"},
	}, metav1.CreateOptions{})
	must(err)

	token := c.ServiceAccountToken(t, operatorNS, "exporter", exporterClusterRules, true)
	// The same ServiceAccount gets the pod rules as a Role in the operator
	// namespace, as the Helm chart does.
	_, err = ic.admin.RbacV1().Roles(operatorNS).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "exporter-pods"}, Rules: exporterOperatorRules,
	}, metav1.CreateOptions{})
	must(err)
	_, err = ic.admin.RbacV1().RoleBindings(operatorNS).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "exporter-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "exporter-pods"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNS, Name: "exporter"}},
	}, metav1.CreateOptions{})
	must(err)
	ic.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	must(c.WriteKubeconfig(ic.kubeconfig, token))

	// The operator itself (Deployment "operator", label app=operator), with
	// the warning its reconciler logs about HTTPS, as diagnose reads it.
	kubetest.CreatePod(t, ic.admin, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: operatorPod, Labels: map[string]string{"app": "operator"}},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "operator", Image: "tailscale/k8s-operator:v1.98.10"}}},
	})
	kubelet.Append(operatorNS, operatorPod, "operator",
		`{"level":"info","ts":"2026-11-24T09:30:11Z","logger":"ingress-reconciler","msg":"reconciling ingress","ingress":"kube-system/traefik-ingress"}`,
		`{"level":"warn","ts":"2026-11-24T09:30:12Z","logger":"ingress-reconciler","msg":"HTTPS is not enabled on the tailnet; ingress may not work","ingress":"kube-system/traefik-ingress"}`)

	// The proxies log as tailscaled does. The cluster tunnel's proxy starts
	// with its version and peer API port (what the exporter's head read
	// learns), then relays connect to that port and their handshakes fail.
	kubelet.Append(operatorNS, clusterPod, "tailscale", splitLines(sim.ProxyLogStart(time.Now()))...)
	ic.wg.Go(func() {
		tick := time.NewTicker(sim.ProxyLogEvery)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ic.stop:
				return
			case now := <-tick.C:
				kubelet.Append(operatorNS, clusterPod, "tailscale", splitLines(sim.ProxyLogBurst(now, n))...)
				kubelet.Append(operatorNS, whoamiPod, "tailscale", now.Format("2006/01/02 15:04:05")+" magicsock: derp-1 connected; connGen=1")
			}
		}
	})
	t.Cleanup(func() { close(ic.stop); ic.wg.Wait() })
	return ic
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// incidentConfig maps the incident's names to the simulated endpoints and
// probes the expired one statically, so one scrape shows every kind of
// failure.
func incidentConfig(t *testing.T, env *sim.Env) string {
	t.Helper()
	addr := map[string]string{}
	for _, ep := range env.Endpoints {
		addr[ep.Hostname] = ep.Addr
	}
	path := filepath.Join(env.Dir, "incident.yml")
	cfg := fmt.Sprintf(`modules:
  https:
    timeout: 2s
    tls:
      ca_file: ca.pem
resolve:
  %s: %s
  %s: %s
targets:
  - hostname: %s
    resolve: %s
log_signatures:
  - name: magicsock_derp
    pattern: 'magicsock: derp-\d+ connected'
`, sim.Cluster, addr[sim.Cluster], sim.Whoami, addr[sim.Whoami], sim.Expired, addr[sim.Expired])
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEndKubernetes runs the exporter binary with a kubeconfig whose
// token has only the documented RBAC, against a real API server holding the
// incident: the discovered endpoints are probed, described and joined with
// their proxy pods' logs, and changes in the cluster reach the exporter live.
func TestEndToEndKubernetes(t *testing.T) {
	env := startSim(t)
	ic := startIncidentCluster(t)
	e := startExporter(t, "--config.file="+incidentConfig(t, env), "--probe.interval=1s",
		"--kubernetes.discovery", "--kubeconfig="+ic.kubeconfig, "--kubernetes.direct-probes=all")

	var fams map[string]*dto.MetricFamily
	var body string
	clusterDrops := func(port string) (float64, bool) {
		return sumWhere(fams, "tailscale_tunnel_proxy_drops_total", map[string]string{"hostname": sim.Cluster, "port": port, "family": "ipv6"})
	}
	clusterEOFs := func() (float64, bool) {
		return sumWhere(fams, "tailscale_tunnel_proxy_tls_handshake_errors_total", map[string]string{"hostname": sim.Cluster, "cause": "eof", "family": "ipv6"})
	}
	e.waitFor(t, "probes of the discovered endpoints, relay drops and handshake EOFs from the cluster tunnel's proxy log", func() bool {
		body, fams = e.metrics(t)
		relays, _ := clusterDrops("peerapi")
		eofs, _ := clusterEOFs()
		return len(fams["tailscale_tunnel_probe_success"].GetMetric()) == 3 && relays > 0 && eofs > 0
	})
	// Relays connect to the peer API port (learned from the head of the
	// pod's log), never to a served port: those stay at 0, present.
	for _, port := range []string{"443", "80"} {
		if n, ok := clusterDrops(port); !ok || n != 0 {
			t.Errorf("drops of the cluster tunnel at port %s = %v (present %v), want a zero series", port, n, ok)
		}
	}
	if n, _ := clusterDrops("other"); n != 0 {
		t.Errorf("relay drops counted at port other: %v", n)
	}
	if s := series(fams, "tailscale_tunnel_probe_success", "vantage"); s[sim.Cluster+"/direct"] != 0 || s[sim.Whoami+"/direct"] != 1 {
		t.Errorf("probe_success = %v", s)
	}
	if r := series(fams, "tailscale_tunnel_probe_failure_reason", "reason"); r[sim.Cluster+"/tls_handshake_timeout"] != 1 {
		t.Errorf("failure reasons = %v", r)
	}
	if src := series(fams, "tailscale_tunnel_probe_target_info", "source"); src[sim.Cluster+"/discovered"] != 1 || src[sim.Whoami+"/discovered"] != 1 || src[sim.Expired+"/static"] != 1 {
		t.Errorf("target sources = %v", src)
	}
	info := labelsOf(fams, "tailscale_tunnel_endpoint_info")
	if got := info[sim.Cluster]; got["namespace"] != "kube-system" || got["funnel"] != "true" || got["backend"] != "traefik:80" || got["tags"] != incidentTag || got["provisioned"] != "true" {
		t.Errorf("endpoint_info of the cluster tunnel = %v", got)
	}
	if got := info[sim.Whoami]; got["namespace"] != "default" || got["funnel"] != "true" || got["backend"] != "whoami:80" {
		t.Errorf("endpoint_info of whoami = %v", got)
	}
	pods := labelsOf(fams, "tailscale_tunnel_proxy_pod_info")
	if got := pods[sim.Cluster]; got["pod"] != clusterPod || got["version"] != "v1.98.10" || got["parent_namespace"] != "kube-system" {
		t.Errorf("proxy_pod_info of the cluster tunnel = %v", got)
	}
	if w := series(fams, "tailscale_tunnel_endpoint_warning_events_total", "reason"); w[sim.Cluster+"/HTTPSNotEnabled"] != 2 {
		t.Errorf("warning events = %v", w)
	}
	// whoami has had no Warning and its stream no error: their counters are
	// there at 0 all the same, so that increase() sees the first one.
	if n, ok := sumWhere(fams, "tailscale_tunnel_endpoint_warning_events_total", map[string]string{"hostname": sim.Whoami, "reason": "HTTPSNotEnabled"}); !ok || n != 0 {
		t.Errorf("warning events of whoami = %v (present %v), want a zero series", n, ok)
	}
	if n, ok := sumWhere(fams, "tailscale_tunnel_log_stream_errors_total", map[string]string{"hostname": sim.Whoami, "kind": "forbidden"}); !ok || n != 0 {
		t.Errorf("forbidden errors of whoami's log stream = %v (present %v), want a zero series", n, ok)
	}
	if up := series(fams, "tailscale_tunnel_log_stream_up", "pod"); up[sim.Cluster+"/"+clusterPod] != 1 || up[sim.Whoami+"/"+whoamiPod] != 1 {
		t.Errorf("log_stream_up = %v", up)
	}
	if sig := series(fams, "tailscale_tunnel_proxy_signature_matches_total", "signature"); sig[sim.Whoami+"/magicsock_derp"] == 0 {
		t.Errorf("signature matches = %v", sig)
	}
	if fams["tailscale_tunnel_discovery_up"].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("discovery_up is not 1 with exactly the documented RBAC:\n%s", e.log)
	}
	promtoolCheckMetrics(t, body)

	code, sd := e.get(t, "/sd")
	if code != 200 || !strings.Contains(sd, `"namespace":"kube-system"`) || !strings.Contains(sd, `"__param_vantage":"direct"`) {
		t.Errorf("/sd: %d %s", code, sd)
	}

	// Live changes: the Funnel ingress and its proxy pod go away.
	ctx := context.Background()
	if err := ic.admin.NetworkingV1().Ingresses("default").Delete(ctx, "whoami", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kubetest.DeletePod(ctx, ic.admin, operatorNS, whoamiPod); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "whoami's target, info and log stream to go", func() bool {
		_, fams = e.metrics(t)
		_, target := series(fams, "tailscale_tunnel_probe_target_info", "source")[sim.Whoami+"/discovered"]
		_, endpoint := labelsOf(fams, "tailscale_tunnel_endpoint_info")[sim.Whoami]
		_, stream := series(fams, "tailscale_tunnel_log_stream_up", "pod")[sim.Whoami+"/"+whoamiPod]
		return !target && !endpoint && !stream
	})
	if _, sd = e.get(t, "/sd"); strings.Contains(sd, sim.Whoami) {
		t.Errorf("/sd still lists the deleted endpoint: %s", sd)
	}
}

// labelsOf returns the labels of each series of a family by hostname.
func labelsOf(fams map[string]*dto.MetricFamily, name string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range fams[name].GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		out[ls["hostname"]] = ls
	}
	return out
}
