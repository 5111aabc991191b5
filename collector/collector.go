// Package collector ties the exporter's metric producers together the way
// node_exporter does: each named part only turns its state into metrics, and
// every scrape reports per part whether that worked and how long it took, so
// a broken part is visible instead of silently missing.
package collector

import (
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is one part of the exporter that produces metrics.
type Collector interface {
	// Update sends the part's current metrics; an error marks the part
	// failed in this scrape without failing the others. A part that cannot
	// report all it should still sends what it can, then returns the error.
	Update(ch chan<- prometheus.Metric) error
}

// Namespace is the prefix of every metric family the exporter writes.
const Namespace = "tailscale_tunnel"

var (
	scrapeDuration = prometheus.NewDesc(Namespace+"_scrape_collector_duration_seconds",
		"Duration of a collector scrape.", []string{"collector"}, nil)
	scrapeSuccess = prometheus.NewDesc(Namespace+"_scrape_collector_success",
		"Whether a collector succeeded.", []string{"collector"}, nil)
)

// Exporter is a prometheus.Collector over named Collectors.
type Exporter struct {
	logger     log.Logger
	mu         sync.RWMutex
	collectors map[string]Collector
}

// NewExporter builds an exporter; Add collectors before or after registering.
func NewExporter(logger log.Logger) *Exporter {
	return &Exporter{logger: logger, collectors: map[string]Collector{}}
}

// Add registers a collector under a name, replacing any of that name.
func (e *Exporter) Add(name string, c Collector) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.collectors[name] = c
}

// Names lists the collectors, sorted.
func (e *Exporter) Names() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.collectors))
	for n := range e.collectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Describe sends no descriptors: the exporter is unchecked, because the set
// of series depends on what is discovered.
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect runs every collector concurrently.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.RLock()
	cs := make(map[string]Collector, len(e.collectors))
	for n, c := range e.collectors {
		cs[n] = c
	}
	e.mu.RUnlock()
	var wg sync.WaitGroup
	for name, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.run(name, c, ch)
		}()
	}
	wg.Wait()
}

func (e *Exporter) run(name string, c Collector, ch chan<- prometheus.Metric) {
	begin := time.Now()
	err := c.Update(ch)
	ok := 1.0
	if err != nil {
		ok = 0
		level.Error(e.logger).Log("msg", "collector failed", "collector", name, "err", err)
	}
	ch <- prometheus.MustNewConstMetric(scrapeDuration, prometheus.GaugeValue, time.Since(begin).Seconds(), name)
	ch <- prometheus.MustNewConstMetric(scrapeSuccess, prometheus.GaugeValue, ok, name)
}
