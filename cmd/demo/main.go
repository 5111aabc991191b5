// Command demo reproduces the incident on loopback and runs the real exporter
// against it: no cluster, tailnet or network needed, only Go.
//
//	go run ./cmd/demo            # runs until Ctrl-C
//	go run ./cmd/demo --once     # prints what the exporter found and exits
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/cmd/internal/sim"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9847", "where the exporter listens (loopback)")
	once := flag.Bool("once", false, "print the first results and exit")
	flag.Parse()
	if err := run(*listen, *once, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(listen string, once bool, out io.Writer) error {
	dir, err := os.MkdirTemp("", "tailscale-tunnel-exporter-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	env, err := sim.Start(dir)
	if err != nil {
		return fmt.Errorf("start simulated endpoints: %w", err)
	}
	defer env.Close()
	fmt.Fprintln(out, "Simulated ts.net endpoints on loopback:")
	for _, ep := range env.Endpoints {
		fmt.Fprintf(out, "  %-32s -> %-16s expect %s\n", ep.Hostname, ep.Addr, ep.Want)
	}
	fmt.Fprintf(out, "Simulated proxy log of %s (Funnel relays reach its peer API port, then their TLS handshakes end in EOF): %s\n", sim.Cluster, env.ProxyLog)

	bin := filepath.Join(dir, "tailscale-tunnel-exporter")
	fmt.Fprintln(out, "\nBuilding the exporter ...")
	// Static and -trimpath, as the Dockerfile builds it.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/tailscale-tunnel-exporter")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Dir, err = moduleRoot()
	if err != nil {
		return err
	}
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, b)
	}

	logPath := filepath.Join(dir, "exporter.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exporter := exec.CommandContext(ctx, bin,
		"--config.file="+env.ConfigFile,
		"--web.listen-address="+listen,
		"--probe.interval=10s",
		"--logs.file="+env.ProxyLog,
		"--logs.hostname="+sim.Cluster,
	)
	exporter.Stdout, exporter.Stderr = logFile, logFile
	exporter.Cancel = func() error { return exporter.Process.Signal(syscall.SIGTERM) }
	exporter.WaitDelay = 5 * time.Second
	if err := exporter.Start(); err != nil {
		return fmt.Errorf("start exporter: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- exporter.Wait() }()

	base := "http://" + listen
	fmt.Fprintf(out, "Exporter started on %s (log: %s); waiting for the first probes ...\n\n", base, logPath)
	fams, err := waitForResults(ctx, base+"/metrics", len(env.Endpoints), exited)
	if err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\nexporter log:\n%s", err, b)
	}
	printResults(out, fams)
	printDrops(out, fams)
	if err := runDiagnose(ctx, out, bin, env); err != nil {
		return err
	}
	fmt.Fprintf(out, `
Where to look:
  %[1]s/                         landing page: every target, its last result and debug log
  %[1]s/metrics                  everything Prometheus scrapes
  %[1]s/probe?target=%[2]s&debug=true
                                 one probe now, with its debug log
  curl -s %[1]s/metrics | grep -E 'probe_(success|failure_reason|certificate_problem)|proxy_drops_total'
`, base, sim.Cluster)
	if once {
		stop()
		<-exited
		return nil
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		<-exited
		return nil
	case err := <-exited:
		return fmt.Errorf("exporter exited: %v (log: %s)", err, logPath)
	}
}

// runDiagnose runs the exporter's diagnose command on the failing
// endpoints, with the working one side by side and the proxy log as a
// plain host's file (the demo has no cluster). Exit code 1 means problems
// found, which is the point here.
func runDiagnose(ctx context.Context, out io.Writer, bin string, env *sim.Env) error {
	args := []string{"diagnose", sim.Cluster, sim.Expired, "--compare=" + sim.Whoami,
		"--config.file=" + env.ConfigFile, "--logs.file=" + env.ProxyLog, "--logs.hostname=" + sim.Cluster}
	fmt.Fprintf(out, "\n$ tailscale-tunnel-exporter %s\n", strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "KUBECONFIG=") // the demo has no cluster, whatever this machine has
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("diagnose: %w\n%s", err, stderr.String())
	}
	return nil
}

// waitForResults scrapes until every target has a result, at most 30 s.
func waitForResults(ctx context.Context, url string, targets int, exited <-chan error) (map[string]*dto.MetricFamily, error) {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("exporter exited early: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		fams, err := scrape(ctx, url)
		if err != nil {
			last = err
			continue
		}
		if f := fams["tailscale_tunnel_probe_success"]; f != nil && len(f.GetMetric()) == targets && fams["tailscale_tunnel_proxy_drops_total"] != nil {
			return fams, nil
		}
	}
	return nil, fmt.Errorf("no results for all %d targets after 30s (last error: %v)", targets, last)
}

func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

func printResults(out io.Writer, fams map[string]*dto.MetricFamily) {
	type row struct {
		host, vantage, result, reason string
		phases                        map[string]time.Duration
	}
	byKey := map[string]*row{}
	key := func(m *dto.Metric) (*row, map[string]string) {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		k := ls["hostname"] + "/" + ls["vantage"]
		if byKey[k] == nil {
			byKey[k] = &row{host: ls["hostname"], vantage: ls["vantage"], phases: map[string]time.Duration{}}
		}
		return byKey[k], ls
	}
	for _, m := range fams["tailscale_tunnel_probe_success"].GetMetric() {
		r, _ := key(m)
		r.result = map[bool]string{true: "UP", false: "DOWN"}[m.GetGauge().GetValue() == 1]
	}
	for _, m := range fams["tailscale_tunnel_probe_failure_reason"].GetMetric() {
		r, ls := key(m)
		r.reason = ls["reason"]
	}
	for _, m := range fams["tailscale_tunnel_probe_certificate_problem"].GetMetric() {
		r, ls := key(m)
		r.reason += " (" + ls["problem"] + ")"
	}
	for _, m := range fams["tailscale_tunnel_probe_phase_duration_seconds"].GetMetric() {
		r, ls := key(m)
		r.phases[ls["phase"]] = time.Duration(m.GetGauge().GetValue() * float64(time.Second)).Round(100 * time.Microsecond)
	}
	rows := make([]*row, 0, len(byKey))
	for _, r := range byKey {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].host < rows[j].host })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tVANTAGE\tRESULT\tREASON\tPHASES")
	for _, r := range rows {
		var phases []string
		for _, p := range prober.Phases {
			if d, ok := r.phases[string(p)]; ok {
				phases = append(phases, fmt.Sprintf("%s=%s", p, d))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.host, r.vantage, r.result, r.reason, strings.Join(phases, " "))
	}
	tw.Flush()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the demo from inside the tailscale-tunnel-exporter checkout")
	}
	return filepath.Dir(mod), nil
}

func printDrops(out io.Writer, fams map[string]*dto.MetricFamily) {
	fmt.Fprintln(out, "\nDrops in the proxy logs (a lower bound: tailscaled rate-limits drop logging;")
	fmt.Fprintln(out, "port peerapi: Funnel relay connections, logged as drops and let through, not a failure):")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tREASON\tPROTOCOL\tFAMILY\tPORT\tLINES")
	for _, m := range fams["tailscale_tunnel_proxy_drops_total"].GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f\n", ls["hostname"], ls["reason"], ls["protocol"], ls["family"], ls["port"], m.GetCounter().GetValue())
	}
	tw.Flush()
}
