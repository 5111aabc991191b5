package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
)

// Bounds of one read of a proxy pod's counters, as the exporter's own.
const (
	ExactReadTimeout = proxymetrics.DefaultTimeout
	ExactMaxBytes    = proxymetrics.DefaultMaxBytes
)

// exact reads the counters of an endpoint's proxy pods. Pending pods have
// no address yet and are left out.
func (g *gatherer) exact(ctx context.Context, pods []discovery.ProxyPod) []ExactDrops {
	var out []ExactDrops
	for _, p := range pods {
		if p.Phase == string(corev1.PodPending) {
			continue
		}
		out = append(out, g.podExact.get(p.Name, func() ExactDrops { return g.readExact(ctx, p) }))
	}
	return out
}

// readExact reads a proxy pod's user metrics through the API server's pod
// proxy: diagnose runs outside the cluster, where pod IPs cannot be
// dialed. It needs get pods/proxy, which the exporter's RBAC never has
// (the exporter dials the pod); a 403 is a missing permission.
func (g *gatherer) readExact(ctx context.Context, p discovery.ProxyPod) ExactDrops {
	x := ExactDrops{Pod: p.Namespace + "/" + p.Name}
	if p.MetricsPort == 0 {
		x.State = ExactNoPort
		return x
	}
	what := fmt.Sprintf("read exact drop counts of proxy pod %s (port %d) through the API server's pod proxy", x.Pod, p.MetricsPort)
	fail := func(kind proxymetrics.ErrorKind, reason string) ExactDrops {
		x.State, x.ErrorKind, x.Error = ExactFailed, kind, reason
		g.errorf("%s: %s", what, reason)
		return x
	}
	rc, ok := g.client.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil || rc.Client == nil {
		return fail(proxymetrics.ErrUnreachable, "the Kubernetes client has no HTTP transport")
	}
	url := rc.Get().Namespace(p.Namespace).Resource("pods").SubResource("proxy").
		Name(utilnet.JoinSchemeNamePort("http", p.Name, strconv.Itoa(int(p.MetricsPort)))).
		Suffix("metrics").URL().String()
	// The client carries the user's credentials: a redirect the pod
	// answers with must not take them elsewhere.
	hc := *rc.Client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rctx, cancel := context.WithTimeout(ctx, ExactReadTimeout)
	defer cancel()
	d, err := proxymetrics.Read(rctx, &hc, url, ExactMaxBytes)
	if err == nil {
		x.State, x.Drops = ExactRead, d
		return x
	}
	var re *proxymetrics.ReadError
	if errors.As(err, &re) && re.Status == http.StatusForbidden {
		x.State = ExactForbidden
		g.mu.Lock()
		g.missing = append(g.missing, permission{"get", "pods/proxy", p.Namespace}.String())
		g.mu.Unlock()
		return x
	}
	return fail(proxymetrics.KindOf(err), exactReason(err))
}

// exactReason is why a read failed, without the URL the error names (the
// pod and port are said already), and with what the API server's refusal
// to proxy means.
func exactReason(err error) string {
	reason := err.Error()
	var re *proxymetrics.ReadError
	if errors.As(err, &re) {
		if inner := errors.Unwrap(re.Err); inner != nil {
			reason = inner.Error()
		}
	}
	// The API server proxies only to a global unicast pod IP (pod
	// ResourceLocation in k8s.io/kubernetes): never loopback or link-local.
	if re != nil && re.Status == http.StatusBadRequest && strings.Contains(reason, "address not allowed") {
		reason += " (the API server refuses to proxy to this pod's IP: not a routable unicast address)"
	}
	return reason
}

// exactSummary is the exact counters of an endpoint's proxy pods set
// against the log, as the report and the drop findings quote them.
type exactSummary struct {
	read, pods int      // pods whose counters were read, of pods serving metrics or not
	inbound    []string // "acl 158": non-zero inbound drops by reason, in enumeration order
	acl        float64
	// logged are the drop lines to a served port (443, 80) in the log
	// read: never the peer-API class, whose SYNs tailscaled lets through
	// and does not count.
	logged int
}

func summarizeExact(e *EndpointEvidence) exactSummary {
	s := exactSummary{pods: len(e.Exact), logged: servedDrops(e.Logs)}
	var sum proxymetrics.Drops
	by := &sum.Count[proxymetrics.Inbound]
	for _, x := range e.Exact {
		if x.State != ExactRead {
			continue
		}
		s.read++
		for r, n := range x.Drops.Count[proxymetrics.Inbound] {
			by[r] += n
		}
	}
	for r, n := range by {
		if n > 0 {
			s.inbound = append(s.inbound, fmt.Sprintf("%s %s", proxymetrics.Reason(r), formatCount(n)))
		}
	}
	s.acl = by[proxymetrics.ReasonACL]
	return s
}

// servedDrops counts the drop lines to a port the proxy serves.
func servedDrops(l LogSummary) int {
	return dropsWhere(l, func(k DropKey) bool { return k.Class == logmatch.DropClassServed })
}

func formatCount(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

// line is "exact: acl 158; logged at 443/80: 10", or
// "" when no pod's counters were read.
func (s exactSummary) line(logRead bool) string {
	if s.read == 0 {
		return ""
	}
	exact := "none"
	if len(s.inbound) > 0 {
		exact = strings.Join(s.inbound, ", ")
	}
	out := "exact: " + exact
	if s.read < s.pods {
		out += fmt.Sprintf(" (%d of %d proxy pods read)", s.read, s.pods)
	}
	if !logRead {
		return out + "; log not read"
	}
	out += fmt.Sprintf("; logged at 443/80: %d", s.logged)
	// No share of one in the other: the count covers tailscaled's whole
	// run, the log only the lines read (a proxy up for weeks would show
	// "0%"). The dashboards divide increases over the same window.
	if float64(s.logged) > s.acl {
		// The counter starts at 0 with tailscaled; log lines of an
		// earlier run are still in the window.
		out += " (more than counted: tailscaled restarted since)"
	}
	return out
}
