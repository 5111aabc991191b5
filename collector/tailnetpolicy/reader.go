package tailnetpolicy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

// DefaultInterval is how often the policy is read when Options say nothing.
const DefaultInterval = 5 * time.Minute

// Options configure a Reader.
type Options struct {
	Source   source.Source // bounds each read in time itself
	Interval time.Duration // between reads
	// Clients are the tailnet clients whose access is checked.
	Clients policy.Selector
	// DefaultTags apply to endpoints without a tailscale.com/tags annotation.
	DefaultTags []string
	// Endpoints returns the endpoints to check (discovery's current ones);
	// nil means no discovery, and only the read status is exposed.
	Endpoints func() []discovery.Endpoint
	Logger    log.Logger
	Now       func() time.Time // time.Now when nil
}

// Reader reads the tailnet policy in the background and keeps the last
// policy that parsed and how the last read went. Its Update is the
// "tailnet_policy" collector: it checks every endpoint against that policy
// and never waits for a read.
type Reader struct {
	opts Options

	mu     sync.Mutex
	policy *policy.Policy // the last good one; nil until a read succeeds
	status Status

	// checked memoises the checks of each endpoint against checkedWith:
	// they are a pure function of the two, and a scrape of a thousand
	// endpoints would otherwise check a thousand times the same answers
	// (BenchmarkScrape). Rebuilt on every scrape, so gone endpoints drop.
	checkMu     sync.Mutex
	checkedWith *policy.Policy
	checked     map[string][]policy.Result
}

// New builds a Reader; Run reads.
func New(opts Options) *Reader {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if len(opts.DefaultTags) == 0 {
		opts.DefaultTags = []string{DefaultTags}
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reader{opts: opts, status: Status{Errors: map[string]float64{}}}
}

// Run reads the policy at once and then every Interval until ctx ends; it
// returns once its read has stopped.
func (r *Reader) Run(ctx context.Context) {
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		r.read(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// read reads and parses the policy once and records the outcome.
func (r *Reader) read(ctx context.Context) {
	src := r.opts.Source
	data, err := src.Read(ctx)
	if ctx.Err() != nil {
		return // shutting down: not the source's failure
	}
	var p *policy.Policy
	if err == nil {
		p, err = policy.Parse(src.String(), data)
	}
	r.record(p, err)
}

// record keeps p if it parsed, or counts err by kind and logs it.
func (r *Reader) record(p *policy.Policy, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	logger := r.opts.Logger // errors name the source themselves
	kept := ""
	if r.policy != nil {
		kept = "; the last policy read stays in use"
	}
	var syntax *policy.SyntaxError
	switch {
	case errors.As(err, &syntax):
		r.status.Errors[KindParse]++
		level.Error(logger).Log("msg", "tailnet policy does not parse"+kept, "line", syntax.Line, "err", err)
	case err != nil:
		kind := string(source.KindOf(err))
		r.status.Errors[kind]++
		// The source's errors name it and never hold a secret.
		level.Warn(logger).Log("msg", "cannot read the tailnet policy"+kept, "kind", kind, "err", err)
	default:
		if !r.status.Success {
			level.Info(logger).Log("msg", "tailnet policy read", "source", r.opts.Source.String())
		}
		r.policy = p
		r.status.LastSuccess = r.opts.Now()
	}
	r.status.Read, r.status.Success = true, err == nil
}

// Status returns how the reads went so far.
func (r *Reader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Errors = maps.Clone(s.Errors)
	return s
}

// Update writes the read status and, once a policy has been read, every
// endpoint's checks against the last good policy; it is the
// "tailnet_policy" collector (collector.Collector). A failed read is not a
// failed collector: tailscale_tunnel_policy_read_success says so.
func (r *Reader) Update(ch chan<- prometheus.Metric) error {
	r.mu.Lock()
	p, status := r.policy, StatusMetrics(r.status)
	r.mu.Unlock()
	for _, m := range status {
		ch <- m
	}
	if p == nil || r.opts.Endpoints == nil {
		return nil
	}
	r.checkMu.Lock()
	defer r.checkMu.Unlock()
	prev := r.checked
	if r.checkedWith != p {
		prev = nil
	}
	r.checkedWith, r.checked = p, make(map[string][]policy.Result, len(prev))
	seen := map[string]bool{}
	for _, e := range r.opts.Endpoints() {
		ep := EndpointOf(e, r.opts.DefaultTags)
		if seen[ep.Hostname] {
			continue // one endpoint per hostname, as discovery reports them
		}
		seen[ep.Hostname] = true
		key := fmt.Sprintf("%s|%q|%t|%v|%s", ep.Hostname, ep.Tags, ep.Funnel, ep.Ports, ep.Service)
		results, ok := prev[key]
		if !ok {
			results = p.Check(ep, r.opts.Clients)
		}
		r.checked[key] = results
		for _, m := range CheckMetrics(ep.Hostname, results) {
			ch <- m
		}
	}
	return nil
}
