package proxymetrics

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultInterval    = 30 * time.Second
	DefaultTimeout     = 5 * time.Second
	DefaultMaxBytes    = 1 << 20 // tailscaled's page is a few KiB
	DefaultConcurrency = 16
)

// Options configure a Scraper.
type Options struct {
	Interval    time.Duration // between reads of every target
	Timeout     time.Duration // bounds one read; at most Interval
	MaxBytes    int64         // bounds one body
	Concurrency int           // reads in flight at most
	// Static targets are read besides the discovered ones (a plain host's
	// --proxy.metrics-url or --proxy.localapi-socket).
	Static []Target
	Logger log.Logger
}

// Scraper reads the user metrics of its targets in the background and
// keeps the last result of each; its Update is the "proxy_metrics"
// collector and never waits for a read.
type Scraper struct {
	opts Options
	http *http.Client
	kick chan struct{} // a target to read appeared

	mu     sync.Mutex
	order  []key // sorted
	states map[key]*state
}

type key struct{ hostname, pod string }

type state struct {
	target Target
	client *http.Client
	read   bool // a read of the current URL finished
	health Health
	totals Totals
}

// New builds a Scraper over opts.Static; Run reads.
func New(opts Options) *Scraper {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	opts.Timeout = min(opts.Timeout, opts.Interval)
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	s := &Scraper{opts: opts, http: NewHTTPClient(), kick: make(chan struct{}, 1), states: map[key]*state{}}
	s.SetTargets(nil)
	return s
}

// SetTargets replaces the discovered targets. A target keeps its counts
// while its hostname and pod stay; the series of one that goes go with it.
func (s *Scraper) SetTargets(discovered []Target) {
	all := slices.Concat(s.opts.Static, discovered)
	s.mu.Lock()
	defer s.mu.Unlock()
	states := make(map[key]*state, len(all))
	order := make([]key, 0, len(all))
	fresh := false
	for _, t := range all {
		k := key{t.Hostname, t.Pod}
		if _, dup := states[k]; dup {
			continue
		}
		st := s.states[k]
		if st == nil {
			st = &state{health: Health{Errors: map[ErrorKind]float64{}}}
		}
		if st.target != t {
			if st.client != nil && st.client != s.http {
				st.client.CloseIdleConnections() // a socket client of the old target
			}
			st.target, st.read, st.client = t, false, s.http
			if t.Socket != "" {
				st.client = NewLocalAPIClient(t.Socket)
			}
			fresh = fresh || t.URL != ""
		}
		states[k] = st
		order = append(order, k)
	}
	slices.SortFunc(order, func(a, b key) int { return cmp.Or(cmp.Compare(a.hostname, b.hostname), cmp.Compare(a.pod, b.pod)) })
	s.states, s.order = states, order
	if fresh {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Run reads every target at once and then every Interval, and a new
// target as soon as it is set, until ctx ends; it returns once its reads
// have stopped.
func (s *Scraper) Run(ctx context.Context) {
	defer s.closeIdle()
	tick := time.NewTicker(s.opts.Interval)
	defer tick.Stop()
	all := true
	for {
		s.readTargets(ctx, all)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			all = true
		case <-s.kick:
			all = false
		}
	}
}

// closeIdle closes the connections kept for the next reads.
func (s *Scraper) closeIdle() {
	s.http.CloseIdleConnections()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.states {
		st.client.CloseIdleConnections()
	}
}

// readTargets reads every target with a URL, or only those not read yet,
// and waits for the reads.
func (s *Scraper) readTargets(ctx context.Context, all bool) {
	type job struct {
		k key
		t Target
		c *http.Client
	}
	var jobs []job
	s.mu.Lock()
	for _, k := range s.order {
		if st := s.states[k]; st.target.URL != "" && (all || !st.read) {
			jobs = append(jobs, job{k, st.target, st.client})
		}
	}
	s.mu.Unlock()
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
			d, err := Read(rctx, j.c, j.t.URL, s.opts.MaxBytes)
			cancel()
			if ctx.Err() != nil {
				return // shutting down: not the proxy's failure
			}
			s.record(j.k, j.t, d, err)
		})
	}
	wg.Wait()
}

// record keeps the result of a read of t, unless t changed meanwhile.
func (s *Scraper) record(k key, t Target, d Drops, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.states[k]
	if st == nil || st.target != t {
		return
	}
	logger := log.With(s.opts.Logger, "hostname", k.hostname, "pod", k.pod)
	if err != nil {
		if st.health.Up || !st.read {
			level.Warn(logger).Log("msg", "cannot read the proxy's user metrics", "kind", KindOf(err), "err", err)
		}
		st.health.Up, st.read = false, true
		st.health.Errors[KindOf(err)]++
		return
	}
	if !st.health.Up && st.read {
		level.Info(logger).Log("msg", "proxy's user metrics readable again")
	}
	if st.totals.Observe(d) {
		st.health.Resets++
		level.Info(logger).Log("msg", "proxy's drop counters went down: tailscaled started again; counting on from its new counts")
	}
	st.health.Up, st.read = true, true
}

// ErrAllDown is the collector's failure: proxies serve user metrics, and
// not one of them could be read the last time.
var ErrAllDown = errors.New("no proxy's user metrics could be read")

// Update writes every target's series from the last reads; it is the
// "proxy_metrics" collector (collector.Collector).
func (s *Scraper) Update(ch chan<- prometheus.Metric) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tried, up := 0, 0
	for _, k := range s.order {
		st := s.states[k]
		ch <- EnabledMetric(k.hostname, k.pod, st.target.Enabled)
		if st.target.URL == "" {
			continue
		}
		for _, m := range HealthMetrics(k.hostname, k.pod, st.health) {
			ch <- m
		}
		for _, m := range DropMetrics(k.hostname, k.pod, st.totals.Drops) {
			ch <- m
		}
		if st.read {
			tried++
			if st.health.Up {
				up++
			}
		}
	}
	if tried > 0 && up == 0 {
		return ErrAllDown
	}
	return nil
}
