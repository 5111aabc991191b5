package promcheck

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestQueriesParse parses every PromQL expression of the dashboards and the
// rules, and requires each recorded name used anywhere to be defined.
func TestQueriesParse(t *testing.T) {
	qs, groups, err := AllQueries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 50 {
		t.Fatalf("only %d queries found; the extraction is broken", len(qs))
	}
	recorded := RecordedNames(groups)
	for _, q := range qs {
		names, err := MetricNames(q.Expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", q.Where, err, q.Expr)
			continue
		}
		for _, n := range names {
			if strings.Contains(n, ":") && !recorded[n] {
				t.Errorf("%s: %s is not recorded by alerts/rules.yml", q.Where, n)
			}
		}
	}
}

// TestSubstitute covers the placeholders Grafana variables turn into.
func TestSubstitute(t *testing.T) {
	vars := map[string]bool{"hostname": true}
	got, err := Substitute(`rate(x{hostname=~"$hostname",a="${hostname:regex}"}[$__rate_interval]) / $__range_s`, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := `rate(x{hostname=~"placeholder",a="placeholder"}[5m]) / 21600`
	if got != want {
		t.Errorf("Substitute = %s, want %s", got, want)
	}
	if _, err := Substitute(`x{a="$nosuch"}`, vars); err == nil {
		t.Errorf("Substitute accepted an undefined variable")
	}
	if _, err := MetricNames(`sum(rate(x[5m])`); err == nil {
		t.Errorf("MetricNames accepted invalid PromQL")
	}
}

// TestMetricNamesExist compares every metric name the dashboards and rules
// select with a real scrape of the exporter's /metrics.
//
// PROMCHECK_SCRAPE names a file with a scrape of the full end-to-end
// environment (Kubernetes discovery, proxy pod logs, probes): every name must be
// in it. Without it (a local run) the test makes its own scrape by running the
// demo (probes and a followed proxy log, no Kubernetes): names found there are
// verified live; the rest (discovery and pod-only families) must at least be
// declared as a metric name in the exporter's non-test Go source, and are
// listed as not verified live. In CI (CI=true) the file is required.
func TestMetricNamesExist(t *testing.T) {
	qs, groups, err := AllQueries()
	if err != nil {
		t.Fatal(err)
	}
	recorded := RecordedNames(groups)
	used := map[string][]string{} // name -> where
	for _, q := range qs {
		names, err := MetricNames(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		for _, n := range names {
			if !recorded[n] {
				used[n] = append(used[n], q.Where)
			}
		}
	}

	path := os.Getenv("PROMCHECK_SCRAPE")
	if path == "" && os.Getenv("CI") == "true" {
		t.Fatal("CI=true but PROMCHECK_SCRAPE is not set: give it the /metrics scrape of the end-to-end run")
	}
	var scrape []byte
	if path != "" {
		scrape, err = os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		scrape = demoScrape(t)
	}
	live, err := ScrapeNames(bytes.NewReader(scrape))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	if !live["tailscale_tunnel_exporter_build_info"] {
		t.Fatalf("the scrape is not the exporter's: no tailscale_tunnel_exporter_build_info")
	}

	// tailscaled's own names (the recording rule for users whose Prometheus
	// scrapes the proxies through the operator's ServiceMonitor) are not the
	// exporter's: they must be on a real tailscaled's user metrics page.
	tailscaled := tailscaledNames(t)
	var declared map[string]bool
	var notLive []string
	for _, n := range sortedKeys(used) {
		if live[n] {
			continue
		}
		if strings.HasPrefix(n, "tailscaled_") {
			if !tailscaled[n] {
				t.Errorf("%s is not on tailscaled's user metrics page %s; used by:\n  %s", n, tailscaledPage, strings.Join(used[n], "\n  "))
			}
			continue
		}
		if path != "" {
			t.Errorf("%s is not in the scrape %s; used by:\n  %s", n, path, strings.Join(used[n], "\n  "))
			continue
		}
		if declared == nil {
			declared = sourceMetricNames(t)
		}
		if !declared[n] {
			t.Errorf("%s is neither in the demo's scrape nor declared in the exporter's source; used by:\n  %s", n, strings.Join(used[n], "\n  "))
			continue
		}
		notLive = append(notLive, n)
	}
	if len(notLive) > 0 {
		t.Logf("declared in the source but not verified live (set PROMCHECK_SCRAPE to a full end-to-end scrape): %s",
			strings.Join(notLive, ", "))
	}
	t.Logf("%d metric names used, %d verified against the scrape", len(used), len(used)-len(notLive))
}

// tailscaledPage is a real tailscaled 1.98.10's user metrics, as captured
// for the exporter's own tests.
var tailscaledPage = filepath.Join(RepoRoot, "collector", "proxymetrics", "testdata", "usermetrics-1.98.10-acl-drops.txt")

func tailscaledNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(tailscaledPage)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := ScrapeNames(f)
	if err != nil {
		t.Fatalf("parse %s: %v", tailscaledPage, err)
	}
	if !names["tailscaled_inbound_dropped_packets_total"] {
		t.Fatalf("%s is not tailscaled's user metrics page", tailscaledPage)
	}
	return names
}

func sortedKeys(m map[string][]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// demoScrape builds and runs the demo (`go run ./cmd/demo` without the go run
// wrapper, so that SIGINT reaches it and it stops its exporter) on a free
// loopback port and returns one scrape of /metrics once its first results are in.
func demoScrape(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "demo")
	build := exec.Command("go", "build", "-o", bin, "./cmd/demo")
	build.Dir = RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/demo: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var out syncBuffer
	cmd := exec.Command(bin, "--listen="+addr)
	cmd.Dir = RepoRoot
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// done is closed when the demo has exited, so that both the wait below
	// and the cleanup can see it (a value sent once is seen only once).
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()

	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case <-done:
			t.Fatalf("demo exited: %v\n%s", waitErr, out.String())
		case <-deadline:
			t.Fatalf("demo did not report results in 3 minutes:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v", resp.StatusCode, err)
	}
	return b
}

// syncBuffer collects the demo's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// metricLiteral finds metric names in the exporter's source: the full name as
// a string literal, or the part after the common prefix (`namespace+"_probe_success"`).
var metricLiteral = regexp.MustCompile(`"(tailscale_tunnel)?(_[a-z0-9_]+)"`)

// sourceMetricNames returns the names the exporter's non-test Go source
// declares: every `"_suffix"` string literal joined to the tailscale_tunnel
// prefix, with the series names of counters, histograms and summaries.
func sourceMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, dir := range []string{"collector", "cmd"} {
		err := filepath.Walk(filepath.Join(RepoRoot, dir), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range metricLiteral.FindAllStringSubmatch(string(b), -1) {
				n := "tailscale_tunnel" + m[2]
				names[n] = true
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[n+s] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(fmt.Errorf("read source: %w", err))
		}
	}
	return names
}
