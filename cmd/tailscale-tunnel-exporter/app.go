package main

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/scheduler"
)

// configSource is how to build the configuration: a file (optional) plus the
// flags that add to it. It is re-read on every reload.
type configSource struct {
	file  string
	flags config.Flags
}

func (s configSource) load() (*config.Config, error) { return config.Load(s.file, s.flags) }

// app holds the state that a reload swaps: the config, its vantages and the
// scheduled targets, static and discovered. A failed reload keeps all of it
// as it was.
type app struct {
	logger    log.Logger
	source    configSource
	network   scheduler.Network
	scheduler *scheduler.Scheduler
	discovery *discovery.Discovery // nil without --kubernetes.discovery
	direct    scheduler.DirectProbes
	matcher   *logs.MatcherRef // swapped on reload: log signatures
	podLogs   *logs.PodLogs    // nil without discovery or with --no-kubernetes.pod-logs
	// proxyMetrics reads the exact drop counts; nil without discovery
	// and without --proxy.metrics-url or --proxy.localapi-socket.
	proxyMetrics *proxymetrics.Scraper

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge

	mu     sync.Mutex // serialises reloads and target updates
	env    scheduler.Env
	static []scheduler.Target
}

func newApp(logger log.Logger, source configSource, network scheduler.Network, sched *scheduler.Scheduler, d *discovery.Discovery, direct scheduler.DirectProbes) *app {
	return &app{
		logger: logger, source: source, network: network, scheduler: sched, discovery: d, direct: direct,
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: collector.Namespace + "_exporter_config_last_reload_successful",
			Help: "Whether the last configuration load succeeded (1) or failed and the previous configuration is still in use (0).",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: collector.Namespace + "_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully.",
		}),
	}
}

// reload loads the configuration and applies it; on error nothing changes.
func (a *app) reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.apply()
	if err != nil {
		a.reloadOK.Set(0)
		if a.env.Config != nil {
			err = fmt.Errorf("%w; the previous configuration stays in use", err)
		}
		level.Error(a.logger).Log("msg", "configuration not loaded", "err", err)
		return err
	}
	a.reloadOK.Set(1)
	a.reloadTime.SetToCurrentTime()
	return nil
}

func (a *app) apply() error {
	cfg, err := a.source.load()
	if err != nil {
		return err
	}
	vantages, err := a.network.Vantages(cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	a.env = scheduler.Env{Config: cfg, Vantages: vantages, Network: a.network}
	if a.matcher != nil {
		a.matcher.Store(cfg.Matcher)
	}
	a.static = a.network.StaticTargets(cfg, vantages)
	n := a.syncTargets()
	level.Info(a.logger).Log("msg", "configuration loaded", "file", a.source.file, "static_targets", len(cfg.Targets), "probes", n, "vantages", fmt.Sprint(cfg.VantageNames()))
	return nil
}

// syncTargets hands the scheduler the static targets plus the discovered
// ones; a.mu must be held. It returns the number of scheduled probes.
func (a *app) syncTargets() int {
	targets := a.static
	if a.discovery != nil {
		targets = append(slices.Clip(targets), a.network.DiscoveredTargets(a.discovery.Endpoints(), a.env.Config, a.env.Vantages, a.direct, a.static)...)
	}
	a.scheduler.SetTargets(targets)
	return len(targets)
}

// followDiscovery updates the scheduled targets, the followed proxy pod
// logs and the proxies whose user metrics are read whenever discovery sees
// a change, until ctx ends; then it waits for the log followers to stop.
func (a *app) followDiscovery(ctx context.Context) {
	changes, cancel := a.discovery.Subscribe()
	defer cancel()
	if a.podLogs != nil {
		defer a.podLogs.Wait()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			a.mu.Lock()
			n := a.syncTargets()
			a.mu.Unlock()
			pods, eps := a.discovery.ProxyPods(), a.discovery.Endpoints()
			if a.podLogs != nil {
				a.podLogs.Sync(ctx, logs.FollowTargets(pods, eps))
			}
			if a.proxyMetrics != nil {
				a.proxyMetrics.SetTargets(proxymetrics.TargetsFromPods(pods, eps))
			}
			level.Debug(a.logger).Log("msg", "discovered endpoints changed", "probes", n)
		}
	}
}

// Env is the configuration /probe uses now.
func (a *app) Env() scheduler.Env {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.env
}

func (a *app) Describe(ch chan<- *prometheus.Desc) {
	a.reloadOK.Describe(ch)
	a.reloadTime.Describe(ch)
}

func (a *app) Collect(ch chan<- prometheus.Metric) {
	a.reloadOK.Collect(ch)
	a.reloadTime.Collect(ch)
}
