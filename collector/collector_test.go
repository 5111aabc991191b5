package collector

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeCollector struct {
	desc *prometheus.Desc
	err  error
}

func (f fakeCollector) Update(ch chan<- prometheus.Metric) error {
	ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, 1)
	return f.err
}

// A failing collector is reported as failed without hiding the others.
func TestExporterReportsEachCollector(t *testing.T) {
	e := NewExporter(log.NewNopLogger())
	e.Add("good", fakeCollector{desc: prometheus.NewDesc("tailscale_tunnel_good", "Good.", nil, nil)})
	e.Add("broken", fakeCollector{desc: prometheus.NewDesc("tailscale_tunnel_partial", "Sent before failing.", nil, nil), err: errors.New("API unreachable")})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	want := `
# HELP tailscale_tunnel_good Good.
# TYPE tailscale_tunnel_good gauge
tailscale_tunnel_good 1
# HELP tailscale_tunnel_partial Sent before failing.
# TYPE tailscale_tunnel_partial gauge
tailscale_tunnel_partial 1
# HELP tailscale_tunnel_scrape_collector_success Whether a collector succeeded.
# TYPE tailscale_tunnel_scrape_collector_success gauge
tailscale_tunnel_scrape_collector_success{collector="broken"} 0
tailscale_tunnel_scrape_collector_success{collector="good"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tailscale_tunnel_good", "tailscale_tunnel_partial", "tailscale_tunnel_scrape_collector_success"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(reg, "tailscale_tunnel_scrape_collector_duration_seconds"); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
	if got := strings.Join(e.Names(), ","); got != "broken,good" {
		t.Errorf("Names() = %s", got)
	}
}
