package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// Env is what /probe reads at request time; it changes on config reload.
type Env struct {
	Config   *config.Config
	Vantages map[string]Vantage
	Network  Network
}

// Handler serves /probe?target=HOST[&module=NAME][&vantage=NAME][&debug=true].
type Handler struct {
	Env    func() Env
	Lookup func(Key) (Target, bool) // scheduled (configured or discovered) targets
	Allow  *Allowlist
	Probe  ProbeFunc // default prober.Probe
	Logger log.Logger
}

// scrapeTimeoutOffset leaves Prometheus time to receive the answer before its
// own scrape timeout, as blackbox_exporter does.
const scrapeTimeoutOffset = 500 * time.Millisecond

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	env := h.Env()
	req, status, err := h.request(env, q.Get("target"), q.Get("module"), q.Get("vantage"))
	if err != nil {
		level.Info(h.logger()).Log("msg", "probe request refused", "target", q.Get("target"), "status", status, "err", err)
		http.Error(w, err.Error(), status)
		return
	}
	if t, ok := scrapeTimeout(r); ok && t-scrapeTimeoutOffset > 0 && t-scrapeTimeoutOffset < req.Timeout {
		req.Timeout = t - scrapeTimeoutOffset
	}
	ctx, cancel := context.WithTimeout(r.Context(), req.Timeout)
	defer cancel()
	probe := h.Probe
	if probe == nil {
		probe = prober.Probe
	}
	res := probe(ctx, req)

	reg := prometheus.NewRegistry()
	reg.MustRegister(resultCollector{descs: newResultDescs(nil), r: res})
	if q.Get("debug") == "true" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Probe of %s (vantage %s):\n", req.Hostname, q.Get("vantage"))
		for _, l := range res.Log {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "\nMetrics that would have been returned:")
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			expfmt.MetricFamilyToText(w, mf)
		}
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// request decides whether a target may be probed and builds its request.
// Refusals are decided before anything is resolved or dialled.
func (h *Handler) request(env Env, rawTarget, moduleParam, vantageParam string) (prober.Request, int, error) {
	pt, err := ParseProbeTarget(rawTarget)
	if err != nil {
		return prober.Request{}, http.StatusForbidden, err
	}
	vname := vantageParam
	if vname == "" {
		vname = config.VantageDirect
	}
	v, ok := env.Vantages[vname]
	if !ok {
		return prober.Request{}, http.StatusBadRequest, fmt.Errorf("vantage %q is not configured (configured: %s)", vname, strings.Join(env.Config.VantageNames(), ", "))
	}
	m, ok := env.Config.Module(moduleParam)
	if !ok {
		return prober.Request{}, http.StatusBadRequest, fmt.Errorf("unknown module %q", moduleParam)
	}
	if pt.Port != 0 && pt.Port != m.Port {
		return prober.Request{}, http.StatusForbidden, fmt.Errorf("%w: target %q: port %d is not the module's port %d", errRefused, rawTarget, pt.Port, m.Port)
	}
	var req prober.Request
	switch {
	case pt.IP.IsValid():
		if !h.Allow.allowsIP(pt.IP) {
			return prober.Request{}, http.StatusForbidden, fmt.Errorf("%w: target %q is an IP address; IP targets must be allowed explicitly with --probe.allow", errRefused, rawTarget)
		}
		// The address is the target: it overrides any resolution.
		req, err = env.Network.request(env.Config, config.Target{Hostname: pt.Host, Module: moduleParam, Resolve: pt.IP.String()}, v)
	default:
		if _, known := h.Lookup(Key{Hostname: pt.Host, Vantage: vname}); !known && !h.Allow.allowsName(pt.Host) {
			return prober.Request{}, http.StatusForbidden, fmt.Errorf("%w: target %q is neither a configured or discovered target nor allowed by --probe.allow", errRefused, rawTarget)
		}
		req, err = env.Network.Request(env.Config, pt.Host, moduleParam, v)
	}
	if err != nil {
		return prober.Request{}, http.StatusBadRequest, err
	}
	return req, 0, nil
}

func (h *Handler) logger() log.Logger {
	if h.Logger == nil {
		return log.NewNopLogger()
	}
	return h.Logger
}

func scrapeTimeout(r *http.Request) (time.Duration, bool) {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return 0, false
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s <= 0 {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

// IsRefused reports whether err is a /probe refusal.
func IsRefused(err error) bool { return errors.Is(err, errRefused) }

// resultCollector exposes one result into a per-request registry.
type resultCollector struct {
	descs resultDescs
	r     prober.Result
}

func (c resultCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c resultCollector) Collect(ch chan<- prometheus.Metric) { c.descs.emit(ch, c.r) }
