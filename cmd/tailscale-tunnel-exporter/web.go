package main

import (
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/scheduler"
)

// routes builds the HTTP surface: landing page, metrics, /probe, probe logs,
// reload and health.
func routes(a *app, reg *prometheus.Registry, metricsPath string, probeHandler http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          promLogger{a.logger},
		EnableOpenMetrics: true, // native histograms reach Prometheus via protobuf; OpenMetrics keeps exemplars
	}))
	mux.Handle("/probe", probeHandler)
	mux.Handle("/sd", scheduler.SDHandler(a.scheduler.Statuses))
	mux.HandleFunc("/logs", func(w http.ResponseWriter, r *http.Request) {
		k := scheduler.Key{Hostname: r.URL.Query().Get("hostname"), Vantage: r.URL.Query().Get("vantage")}
		for _, st := range a.scheduler.Statuses() {
			if st.Target.Key != k {
				continue
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if st.Last == nil {
				fmt.Fprintf(w, "%s (%s) has not been probed yet.\n", k.Hostname, k.Vantage)
				return
			}
			fmt.Fprintf(w, "Last probe of %s (vantage %s) at %s:\n", k.Hostname, k.Vantage, st.Last.Start.Format(time.RFC3339))
			for _, l := range st.Last.Log {
				fmt.Fprintln(w, l)
			}
			return
		}
		http.Error(w, fmt.Sprintf("no scheduled target %q with vantage %q", k.Hostname, k.Vantage), http.StatusNotFound)
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
			return
		}
		if err := a.reload(); err != nil {
			http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Ready") })
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := landing.Execute(w, landingData{MetricsPath: metricsPath, Rows: rows(a.scheduler.Statuses())}); err != nil {
			a.logger.Log("msg", "render landing page", "err", err)
		}
	})
	return mux
}

type landingData struct {
	MetricsPath string
	Rows        []landingRow
}

type landingRow struct {
	Hostname, Vantage, Module, Source string
	Probed, Success                   bool
	Reason, CertProblem, TLSVersion   string
	HTTPStatus                        int
	Phases                            []string
	Duration, LastRun, CertExpiry     string
}

func rows(sts []scheduler.Status) []landingRow {
	out := make([]landingRow, 0, len(sts))
	for _, st := range sts {
		t := st.Target
		row := landingRow{Hostname: t.Hostname, Vantage: t.Vantage, Module: t.Module, Source: t.Source}
		if r := st.Last; r != nil {
			row.Probed, row.Success = true, r.Success
			row.Reason, row.CertProblem, row.TLSVersion = string(r.Reason), string(r.CertProb), r.TLSVersion
			row.HTTPStatus = r.HTTPStatus
			row.Duration = r.Duration.Round(time.Microsecond).String()
			row.LastRun = r.Start.Format(time.RFC3339)
			if !r.CertExpiry.IsZero() {
				row.CertExpiry = r.CertExpiry.Format(time.DateOnly)
			}
			for _, p := range prober.Phases {
				if d, ok := r.Phases[p]; ok {
					row.Phases = append(row.Phases, fmt.Sprintf("%s %s", p, d.Round(time.Microsecond)))
				}
			}
		}
		out = append(out, row)
	}
	return out
}

var landing = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tailscale-tunnel-exporter</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.ok{color:#080}.fail{color:#b00;font-weight:bold}</style>
</head><body>
<h1>tailscale-tunnel-exporter</h1>
<p>Is each ts.net endpoint up, and if not, why. <a href="{{.MetricsPath}}">Metrics</a> · <a href="/-/healthy">Health</a></p>
<h2>Targets</h2>
<table>
<tr><th>Hostname</th><th>Vantage</th><th>Module</th><th>Source</th><th>Result</th><th>Reason</th><th>HTTP</th><th>TLS</th><th>Certificate expires</th><th>Phases</th><th>Duration</th><th>Last run</th><th>Debug</th></tr>
{{range .Rows}}<tr>
<td>{{.Hostname}}</td><td>{{.Vantage}}</td><td>{{.Module}}</td><td>{{.Source}}</td>
{{if not .Probed}}<td>pending</td><td></td><td></td><td></td><td></td><td></td><td></td><td></td>
{{else}}<td class="{{if .Success}}ok{{else}}fail{{end}}">{{if .Success}}up{{else}}DOWN{{end}}</td>
<td>{{.Reason}}{{if .CertProblem}} ({{.CertProblem}}){{end}}</td><td>{{if .HTTPStatus}}{{.HTTPStatus}}{{end}}</td><td>{{.TLSVersion}}</td><td>{{.CertExpiry}}</td>
<td>{{range .Phases}}{{.}}<br>{{end}}</td><td>{{.Duration}}</td><td>{{.LastRun}}</td>{{end}}
<td><a href="/logs?hostname={{.Hostname}}&amp;vantage={{.Vantage}}">last log</a> · <a href="/probe?target={{.Hostname}}&amp;vantage={{.Vantage}}&amp;debug=true">probe now</a></td>
</tr>
{{else}}<tr><td colspan="13">No targets. Add some with --probe.target or --config.file.</td></tr>
{{end}}</table>
</body></html>
`))
