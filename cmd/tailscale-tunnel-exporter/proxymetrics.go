package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
)

// proxyMetricsFlags select a plain host's tailscaled user metrics, the
// exact drop counts; in a cluster they come from discovered proxy pods.
type proxyMetricsFlags struct {
	url    *string
	socket *string
}

func addProxyMetricsFlags(a *kingpin.Application) proxyMetricsFlags {
	return proxyMetricsFlags{
		url:    a.Flag("proxy.metrics-url", "tailscaled's user metrics to read the exact drop counts from (a proxy's http://HOST:9002/metrics); their hostname label is --logs.hostname.").PlaceHolder("URL").String(),
		socket: a.Flag("proxy.localapi-socket", "tailscaled's LocalAPI socket to read the exact drop counts from (/localapi/v0/usermetrics); their hostname label is --logs.hostname.").PlaceHolder("PATH").String(),
	}
}

// scraper builds the reader of exact drop counts, or nil when there is
// nothing to read: no discovery and neither flag. It reads on the probe
// interval.
func (f proxyMetricsFlags) scraper(hostname string, interval time.Duration, discovery bool, logger log.Logger) (*proxymetrics.Scraper, error) {
	var static []proxymetrics.Target
	switch {
	case *f.url != "" && *f.socket != "":
		return nil, errors.New("--proxy.metrics-url and --proxy.localapi-socket: give one")
	case *f.url != "":
		u, err := url.Parse(*f.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--proxy.metrics-url %q: want http://HOST:PORT/PATH", *f.url)
		}
		static = []proxymetrics.Target{{Hostname: hostname, Enabled: true, URL: *f.url}}
	case *f.socket != "":
		static = []proxymetrics.Target{{Hostname: hostname, Enabled: true, URL: proxymetrics.LocalAPIURL, Socket: *f.socket}}
	case !discovery:
		return nil, nil
	}
	return proxymetrics.New(proxymetrics.Options{Interval: interval, Static: static, Logger: log.With(logger, "component", "proxy-metrics")}), nil
}
