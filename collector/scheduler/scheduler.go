package scheduler

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// ProbeFunc runs one probe; prober.Probe in production.
type ProbeFunc func(context.Context, prober.Request) prober.Result

// SchedulerOptions tune the background probing.
type SchedulerOptions struct {
	Interval    time.Duration // between two probes of one target; default 30s
	Concurrency int           // probes in flight at most; default 256
	// FirstSpread spreads the first probe of new targets over this window so
	// a large target set does not start in one burst; default min(Interval, 2s).
	FirstSpread time.Duration
	Probe       ProbeFunc // default prober.Probe
	Logger      log.Logger
}

// Scheduler probes every target on an interval, in the background, with a
// bound on concurrency, so a scrape only reads stored results and stays fast
// however many targets hang.
type Scheduler struct {
	opts   SchedulerOptions
	logger log.Logger
	sem    chan struct{}
	descs  resultDescs

	runs     *prometheus.CounterVec
	failures *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	lag      prometheus.Histogram
	inFlight prometheus.Gauge
	info     *prometheus.Desc

	mu      sync.Mutex
	entries map[Key]*entry
	ctx     context.Context // set by Run; nil before
	wg      sync.WaitGroup
}

type entry struct {
	target Target
	cancel context.CancelFunc
	last   *prober.Result
}

// Status is the last known state of one scheduled target, for the landing page.
type Status struct {
	Target Target
	Last   *prober.Result // nil until the first probe finished
}

// NewScheduler builds a scheduler; targets are set with SetTargets and probed
// once Run is called.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 256
	}
	if opts.FirstSpread <= 0 {
		opts.FirstSpread = min(opts.Interval, 2*time.Second)
	}
	if opts.Probe == nil {
		opts.Probe = prober.Probe
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	target := []string{"hostname", "vantage"}
	return &Scheduler{
		opts:    opts,
		logger:  opts.Logger,
		sem:     make(chan struct{}, opts.Concurrency),
		descs:   newResultDescs(target),
		entries: map[Key]*entry{},
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "probe", Name: "runs_total",
			Help: "Probes run by the scheduler.",
		}, target),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "probe", Name: "failures_total",
			Help: "Failed probes by reason.",
		}, append(target, "reason")),
		latency: newPhaseLatency(),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "probe", Name: "scheduling_lag_seconds",
			Help:                        "How late probes start against their schedule, mostly waiting for a free concurrency slot.",
			Buckets:                     []float64{.001, .01, .1, .5, 1, 5, 10, 30},
			NativeHistogramBucketFactor: 1.1,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "probe", Name: "in_flight",
			Help: "Probes running now.",
		}),
		info: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "probe", "target_info"),
			"A target the scheduler probes, with its module and where it came from (static or discovered).",
			[]string{"hostname", "vantage", "module", "source"}, nil),
	}
}

// SetTargets replaces the target set. New targets start within FirstSpread,
// removed ones stop and their series go, changed ones keep their schedule.
func (s *Scheduler) SetTargets(targets []Target) {
	want := make(map[Key]Target, len(targets))
	vantages := map[string]bool{}
	for _, t := range targets {
		want[t.Key] = t
		vantages[t.Vantage] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		if _, ok := want[k]; !ok {
			if e.cancel != nil {
				e.cancel()
			}
			delete(s.entries, k)
			s.deleteSeries(k)
			if !vantages[k.Vantage] { // the vantage's last target went
				s.latency.DeletePartialMatch(prometheus.Labels{"vantage": k.Vantage})
			}
		}
	}
	for k, t := range want {
		if e, ok := s.entries[k]; ok {
			e.target = t
			continue
		}
		e := &entry{target: t}
		s.entries[k] = e
		if s.ctx != nil {
			s.start(e)
		}
	}
}

func (s *Scheduler) deleteSeries(k Key) {
	match := prometheus.Labels{"hostname": k.Hostname, "vantage": k.Vantage}
	s.runs.DeletePartialMatch(match)
	s.failures.DeletePartialMatch(match)
}

// start launches the loop of one entry; s.mu must be held.
func (s *Scheduler) start(e *entry) {
	ctx, cancel := context.WithCancel(s.ctx)
	e.cancel = cancel
	s.wg.Add(1)
	go s.loop(ctx, e)
}

// Run probes until ctx is done, then waits for running probes to return.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	for _, e := range s.entries {
		s.start(e)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, e *entry) {
	defer s.wg.Done()
	next := time.Now().Add(rand.N(s.opts.FirstSpread))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-ctx.Done():
			return
		case s.sem <- struct{}{}:
		}
		s.lag.Observe(max(0, time.Since(next).Seconds()))
		s.mu.Lock()
		t := e.target
		s.mu.Unlock()
		s.inFlight.Inc()
		r := s.opts.Probe(ctx, t.Request)
		s.inFlight.Dec()
		<-s.sem
		if ctx.Err() != nil {
			return // removed or shutting down: the result is of a target that is gone
		}
		s.record(e, t, r)

		// Keep the cadence, with ±5% jitter so targets do not fall into
		// lockstep; skip slots a slow probe overran instead of bursting.
		j := s.opts.Interval / 20
		next = next.Add(s.opts.Interval + rand.N(2*j+1) - j)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		timer.Reset(time.Until(next))
	}
}

func (s *Scheduler) record(e *entry, t Target, r prober.Result) {
	if !r.Success {
		level.Debug(s.logger).Log("msg", "probe failed", "hostname", t.Hostname, "vantage", t.Vantage, "reason", r.Reason, "err", r.Err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries[t.Key] != e {
		return // removed meanwhile: SetTargets deleted its series, keep them deleted
	}
	e.last = &r
	s.runs.WithLabelValues(t.Hostname, t.Vantage).Inc()
	if !r.Success {
		s.failures.WithLabelValues(t.Hostname, t.Vantage, string(r.Reason)).Inc()
	}
	for p, d := range r.Phases {
		s.latency.WithLabelValues(t.Vantage, string(p)).Observe(d.Seconds())
	}
}

// Statuses returns every target with its last result, sorted.
func (s *Scheduler) Statuses() []Status {
	s.mu.Lock()
	out := make([]Status, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, Status{Target: e.target, Last: e.last})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Target.Key.less(out[j].Target.Key) })
	return out
}

// Lookup returns the scheduled target for a hostname and vantage.
func (s *Scheduler) Lookup(k Key) (Target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[k]
	if !ok {
		return Target{}, false
	}
	return e.target, true
}

// Update writes the scheduler's metrics; it is the "probe" collector.
//
// It never fails: it reads results the background probes stored, and
// everything that can keep a target from having a fresh one is already
// said per target, where an alert can name it. A target scheduled without
// a result has probe_target_info and no probe_success
// (TailscaleTunnelProbeResultsMissing); one whose probes stopped starting
// has an old probe_last_run_timestamp_seconds (TailscaleTunnelProbesStale);
// probes waiting for a concurrency slot show in
// probe_scheduling_lag_seconds (TailscaleTunnelProbeSchedulingLag); a
// probe that failed is a result (probe_success 0). A collector failure
// would only repeat these without the target's name.
func (s *Scheduler) Update(ch chan<- prometheus.Metric) error {
	for _, st := range s.Statuses() {
		t := st.Target
		ch <- prometheus.MustNewConstMetric(s.info, prometheus.GaugeValue, 1, t.Hostname, t.Vantage, t.Module, t.Source)
		if st.Last != nil {
			s.descs.emit(ch, *st.Last, t.Hostname, t.Vantage)
		}
	}
	s.runs.Collect(ch)
	s.failures.Collect(ch)
	s.latency.Collect(ch)
	s.lag.Collect(ch)
	s.inFlight.Collect(ch)
	return nil
}
