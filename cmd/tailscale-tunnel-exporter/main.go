// Command tailscale-tunnel-exporter probes ts.net endpoints blackbox-style
// and tells Prometheus whether each works and, if not, why.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/scheduler"
)

// defaultListenAddress: 9100-9999 is fully allocated on the Prometheus
// default-port wiki; 9847 is the port this exporter documents.
const defaultListenAddress = ":9847"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	a := kingpin.New("tailscale-tunnel-exporter", "Probes Tailscale ts.net endpoints (TLS handshake, HTTP) and exports whether each works and why not.")
	var src configSource
	a.Flag("config.file", "YAML file with modules, targets and vantages. Reloaded on SIGHUP and POST /-/reload.").PlaceHolder("FILE").StringVar(&src.file)
	a.Flag("probe.target", "A hostname to probe with the default module from every vantage. Repeatable.").PlaceHolder("HOSTNAME").StringsVar(&src.flags.Targets)
	a.Flag("probe.resolve", "Resolve override, curl --resolve style. Repeatable.").PlaceHolder("HOSTNAME=IP[:PORT]").StringsVar(&src.flags.Resolves)
	a.Flag("probe.tailnet-socks5-address", "tailscaled's SOCKS5 server (--socks5-server); enables the tailnet vantage.").PlaceHolder("HOST:PORT").StringVar(&src.flags.TailnetSOCKS5)
	var (
		interval      = a.Flag("probe.interval", "How often each target is probed in the background.").Default("30s").Duration()
		concurrency   = a.Flag("probe.concurrency", "Background probes in flight at most.").Default("256").Int()
		allow         = a.Flag("probe.allow", "Hostname globs ('*' crosses dots), IPs or CIDR prefixes that /probe may probe besides configured and discovered targets. Repeatable.").Default(scheduler.DefaultAllow).Strings()
		metricsPath   = a.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		shutdownGrace = a.Flag("web.shutdown-timeout", "How long to wait for in-flight requests on shutdown.").Default("5s").Duration()
		kube          = addKubeFlags(a)
		logSources    = addLogSourceFlags(a)
		proxyMetrics  = addProxyMetricsFlags(a)
		tailnetPolicy = addTailnetPolicyFlags(a)
		webFlags      = kingpinflag.AddFlags(a, defaultListenAddress)
		logging       = addLogFlags(a)
	)
	a.Command("serve", "Run the exporter (the default).").Default()
	diag := addDiagnoseCommand(a)
	a.Version(version.Print("tailscale-tunnel-exporter"))
	a.HelpFlag.Short('h')
	cmd, err := a.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tailscale-tunnel-exporter: %v; try --help\n", err)
		return 2
	}
	if cmd == diag.cmd.FullCommand() {
		return diag.run(src, kube, logSources, tailnetPolicy, os.Stdout, os.Stderr)
	}
	logger := logging.logger(os.Stderr)
	level.Info(logger).Log("msg", "starting tailscale-tunnel-exporter", "version", version.Info(), "build_context", version.BuildContext())

	if f := *webFlags.WebConfigFile; f != "" {
		if err := web.Validate(f); err != nil {
			level.Error(logger).Log("msg", "bad web configuration", "file", f, "err", err)
			return 1
		}
	}
	allowlist, err := scheduler.NewAllowlist(*allow)
	if err != nil {
		level.Error(logger).Log("msg", "bad flag", "err", err)
		return 2
	}
	disc, kubeClient, err := kube.discovery(logger)
	if err != nil {
		level.Error(logger).Log("msg", "Kubernetes discovery not set up", "err", err)
		return 1
	}
	exact, err := proxyMetrics.scraper(*logSources.hostname, *interval, disc != nil, logger)
	if err != nil {
		level.Error(logger).Log("msg", "bad flag", "err", err)
		return 2
	}
	policyReader, err := tailnetPolicy.reader(disc, os.Getenv, logger)
	if err != nil {
		level.Error(logger).Log("msg", "bad flag", "err", err)
		return 2
	}
	network := scheduler.Network{}
	sched := scheduler.NewScheduler(scheduler.SchedulerOptions{Interval: *interval, Concurrency: *concurrency, Logger: logger})
	matcher := logs.NewMatcherRef(nil)
	counters := logs.NewCounters()
	var podLogs *logs.PodLogs
	if disc != nil && *logSources.podLogs {
		podLogs = &logs.PodLogs{Client: kubeClient, Matcher: matcher, Counters: counters, Logger: log.With(logger, "component", "pod-logs"), MaxLineLength: int(*logSources.maxLineLength)}
	}
	app := newApp(logger, src, network, sched, disc, scheduler.DirectProbes(*kube.direct))
	app.matcher, app.podLogs, app.proxyMetrics = matcher, podLogs, exact
	if err := app.reload(); err != nil {
		return 1
	}

	exporter := collector.NewExporter(logger)
	exporter.Add("probe", sched)
	if disc != nil {
		exporter.Add("discovery", disc)
	}
	exporter.Add("logs", counters)
	if exact != nil {
		exporter.Add("proxy_metrics", exact)
	}
	if policyReader != nil {
		exporter.Add("tailnet_policy", policyReader)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		exporter, app,
		versioncollector.NewCollector(collector.Namespace+"_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	probeHandler := &scheduler.Handler{Env: app.Env, Lookup: sched.Lookup, Allow: allowlist, Logger: logger}
	server := &http.Server{Handler: routes(app, reg, *metricsPath, probeHandler), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go reloadOnSIGHUP(ctx, app)
	var wg sync.WaitGroup
	wg.Go(func() { sched.Run(ctx) })
	if disc != nil {
		wg.Go(func() {
			if err := disc.Run(ctx); err != nil {
				level.Error(logger).Log("msg", "discovery stopped", "err", err)
			}
		})
		wg.Go(func() { app.followDiscovery(ctx) })
	}
	logSources.startHostSources(ctx, &wg, matcher, counters, logger)
	if exact != nil {
		wg.Go(func() { exact.Run(ctx) })
	}
	if policyReader != nil {
		wg.Go(func() { policyReader.Run(ctx) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, webFlags, slogger(logger)) }()
	select {
	case err := <-serveErr:
		level.Error(logger).Log("msg", "HTTP server stopped", "err", err)
		stop()
		wg.Wait()
		return 1
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownGrace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Warn(logger).Log("msg", "HTTP shutdown", "err", err)
	}
	wg.Wait()
	return 0
}

func reloadOnSIGHUP(ctx context.Context, a *app) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = a.reload() // logged and exported by reload
		}
	}
}

func init() {
	// go install stamps the module version; ldflags (Dockerfile, CI) win.
	if version.Version == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			version.Version = bi.Main.Version
		}
	}
}
