package discovery

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
)

// constCollector serves fixed metrics, to compare them as exposition text.
type constCollector []prometheus.Metric

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

func TestEndpointMetrics(t *testing.T) {
	tests := []struct {
		name string
		e    Endpoint
		want string
	}{
		{
			name: "provisioned funnel ingress",
			e: Endpoint{Kind: KindIngress, Namespace: "default", Name: "whoami", Hostname: "whoami.t.ts.net",
				RequestedHostname: "whoami", Provisioned: true, Funnel: true, Tags: "tag:k8s", ProxyClass: "prod",
				Backend: "whoami:80"},
			want: `tailscale_tunnel_endpoint_info{backend="whoami:80",funnel="true",funnel_ignored="false",hostname="whoami.t.ts.net",kind="ingress",name="whoami",namespace="default",provisioned="true",proxy_class="prod",proxy_group="",requested_hostname="whoami",suffixed="false",tags="tag:k8s"} 1`,
		},
		{
			name: "unprovisioned HA ingress is labelled by its requested name",
			e: Endpoint{Kind: KindProxyGroup, Namespace: "default", Name: "web", RequestedHostname: "web",
				ProxyGroup: "ingress-pg"},
			want: `tailscale_tunnel_endpoint_info{backend="",funnel="false",funnel_ignored="false",hostname="web",kind="proxygroup",name="web",namespace="default",provisioned="false",proxy_class="",proxy_group="ingress-pg",requested_hostname="web",suffixed="false",tags=""} 1`,
		},
		{
			name: "suffixed service",
			e: Endpoint{Kind: KindService, Namespace: "kube-system", Name: "k8s", Hostname: "k8s-1.t.ts.net",
				RequestedHostname: "k8s", Provisioned: true, Suffixed: true, Backend: "k8s:443"},
			want: `tailscale_tunnel_endpoint_info{backend="k8s:443",funnel="false",funnel_ignored="false",hostname="k8s-1.t.ts.net",kind="service",name="k8s",namespace="kube-system",provisioned="true",proxy_class="",proxy_group="",requested_hostname="k8s",suffixed="true",tags=""} 1`,
		},
		{
			name: "funnel annotation on a service is ignored",
			e: Endpoint{Kind: KindService, Namespace: "default", Name: "api", Hostname: "api.t.ts.net",
				RequestedHostname: "api", Provisioned: true, FunnelIgnored: true, Backend: "api:443"},
			want: `tailscale_tunnel_endpoint_info{backend="api:443",funnel="false",funnel_ignored="true",hostname="api.t.ts.net",kind="service",name="api",namespace="default",provisioned="true",proxy_class="",proxy_group="",requested_hostname="api",suffixed="false",tags=""} 1`,
		},
	}
	const header = "# HELP tailscale_tunnel_endpoint_info A ts.net endpoint the Tailscale operator exposes for an Ingress or Service. hostname is the obtained FQDN, or the requested name while not provisioned; funnel_ignored is true for a tailscale.com/funnel annotation the operator ignores (on a Service, or on a ProxyGroup Ingress).\n# TYPE tailscale_tunnel_endpoint_info gauge\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := testutil.CollectAndCompare(constCollector(EndpointMetrics(tt.e)), strings.NewReader(header+tt.want+"\n"))
			if err != nil {
				t.Error(err)
			}
			assertSamples(t, constCollector(EndpointMetrics(tt.e)), tt.want)
		})
	}
}

func TestProxyPodMetrics(t *testing.T) {
	pod := ProxyPod{Namespace: "tailscale", Name: "ts-whoami-0",
		Parent: Parent{Type: ParentIngress, Namespace: "default", Name: "whoami"},
		Ready:  true, Restarts: 3, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3"}
	notReady := pod
	notReady.Ready = false
	tests := []struct {
		name     string
		pod      ProxyPod
		hostname string
		want     string
	}{
		{
			name:     "ready pod of a provisioned endpoint",
			pod:      pod,
			hostname: "whoami.t.ts.net",
			want: `
tailscale_tunnel_proxy_pod_info{hostname="whoami.t.ts.net",image="tailscale/tailscale:v1.80.3",namespace="tailscale",parent_kind="ingress",parent_name="whoami",parent_namespace="default",pod="ts-whoami-0",version="v1.80.3"} 1
tailscale_tunnel_proxy_pod_ready{hostname="whoami.t.ts.net",namespace="tailscale",pod="ts-whoami-0"} 1
tailscale_tunnel_proxy_pod_restarts_total{hostname="whoami.t.ts.net",namespace="tailscale",pod="ts-whoami-0"} 3
`,
		},
		{
			name: "unready pod serving no known endpoint",
			pod:  notReady,
			want: `
tailscale_tunnel_proxy_pod_info{hostname="",image="tailscale/tailscale:v1.80.3",namespace="tailscale",parent_kind="ingress",parent_name="whoami",parent_namespace="default",pod="ts-whoami-0",version="v1.80.3"} 1
tailscale_tunnel_proxy_pod_ready{hostname="",namespace="tailscale",pod="ts-whoami-0"} 0
tailscale_tunnel_proxy_pod_restarts_total{hostname="",namespace="tailscale",pod="ts-whoami-0"} 3
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSamples(t, constCollector(ProxyPodMetrics(tt.pod, tt.hostname)), tt.want)
		})
	}
}

func TestWarningMetrics(t *testing.T) {
	e := Endpoint{Kind: KindIngress, Namespace: "default", Name: "whoami", RequestedHostname: "whoami"}
	// Every reason's series, at 0 unless want says otherwise.
	series := func(want map[string]float64) string {
		var b strings.Builder
		for _, r := range append(slices.Clone(KnownReasons), ReasonOther) {
			fmt.Fprintf(&b, "tailscale_tunnel_endpoint_warning_events_total{hostname=\"whoami\",kind=\"ingress\",name=\"whoami\",namespace=\"default\",reason=%q} %g\n", r, want[r])
		}
		return b.String()
	}
	tests := []struct {
		name     string
		byReason map[string]float64
	}{
		// Before the first Event: every reason at 0, so that increase()
		// sees the first Warning of an endpoint.
		{name: "no warnings yet: every reason at zero", byReason: nil},
		{name: "counted reasons, the others at zero", byReason: map[string]float64{"HTTPSNotEnabled": 2, ReasonOther: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := WarningMetrics(e, tt.byReason)
			if len(ms) != len(KnownReasons)+1 {
				t.Fatalf("got %d metrics, want one per known reason and other: %d", len(ms), len(KnownReasons)+1)
			}
			assertSamples(t, constCollector(ms), series(tt.byReason))
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(constCollector(ms))
			if lint, err := testutil.GatherAndLint(reg); err != nil || len(lint) > 0 {
				t.Errorf("lint: %v %v", err, lint)
			}
		})
	}
}

// samples gathers c through a pedantic registry (which fails on duplicate
// or inconsistent series) and returns its samples as sorted lines of the form
// name{label="value",...} value.
func samples(t testing.TB, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var lines []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			lines = append(lines, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(labels, ","), v))
		}
	}
	slices.Sort(lines)
	return lines
}

// scrape gathers d as the exporter serves it, through collector.Exporter:
// its samples include tailscale_tunnel_scrape_collector_success{collector="discovery"},
// which is 0 when Update returned an error.
func scrape(t testing.TB, d *Discovery) []string {
	t.Helper()
	e := collector.NewExporter(log.NewNopLogger())
	e.Add("discovery", d)
	return samples(t, e)
}

// updateErr returns the error of one Update of d.
func updateErr(d *Discovery) error {
	ch := make(chan prometheus.Metric)
	drained := make(chan struct{})
	go func() {
		for range ch {
		}
		close(drained)
	}()
	err := d.Update(ch)
	close(ch)
	<-drained
	return err
}

// lines splits an expected block of samples into sorted lines.
func lines(block string) []string {
	var out []string
	for l := range strings.Lines(block) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func assertSamples(t *testing.T, c prometheus.Collector, want string) {
	t.Helper()
	if got, want := samples(t, c), lines(want); !slices.Equal(got, want) {
		t.Errorf("samples:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}
