package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
)

// exported scrapes c the way the exporter serves it, as its "logs"
// collector, and returns tailscale_tunnel_scrape_collector_success and what
// the exporter logged about the failure.
func exported(t testing.TB, c *Counters) (success float64, logged string) {
	t.Helper()
	var buf bytes.Buffer
	e := collector.NewExporter(log.NewLogfmtLogger(&buf))
	e.Add("logs", c)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tailscale_tunnel_scrape_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			return m.GetGauge().GetValue(), buf.String()
		}
	}
	t.Fatal("no tailscale_tunnel_scrape_collector_success")
	return 0, ""
}

func TestLogsCollectorFailsWhenEveryStreamIsDown(t *testing.T) {
	podA := StreamKey{Hostname: "a.tn.ts.net", Pod: "ts-a-0"}
	podB := StreamKey{Hostname: "b.tn.ts.net", Pod: "ts-b-0"}
	host := StreamKey{Hostname: "node.tn.ts.net"}
	tests := []struct {
		name    string
		streams func(c *Counters)
		want    float64
		wantErr string // the message of the error, when it fails
	}{
		{"no stream to follow", func(*Counters) {}, 1, ""},
		{"a stream still opening for the first time", func(c *Counters) { c.hold(podA) }, 1, ""},
		{"a stream up", func(c *Counters) { c.hold(podA).SetUp(true) }, 1, ""},
		{
			"one of two streams down: the per-stream up says it",
			func(c *Counters) {
				c.hold(podA).SetUp(true)
				c.hold(podB).Failed(ErrForbidden)
			}, 1, "",
		},
		{
			"one down, one still opening",
			func(c *Counters) {
				c.hold(podA).Failed(ErrForbidden)
				c.hold(podB)
			}, 1, "",
		},
		{
			"every stream down",
			func(c *Counters) {
				c.hold(podA).Failed(ErrForbidden)
				b := c.hold(podB)
				b.SetUp(true)
				b.SetUp(false)
				b.Failed(ErrNotFound)
			}, 0, "every log stream is down (2): pod ts-a-0: forbidden; pod ts-b-0: not_found",
		},
		{
			"a stream that ended without an error",
			func(c *Counters) {
				s := c.Stream(host)
				s.SetUp(true)
				s.SetUp(false)
			}, 0, `every log stream is down (1): host log "node.tn.ts.net": ended`,
		},
		{
			"back up after failing",
			func(c *Counters) {
				s := c.hold(podA)
				s.Failed(ErrUnreachable)
				s.SetUp(true)
			}, 1, "",
		},
		{
			"a dropped stream does not count",
			func(c *Counters) {
				c.hold(podA).SetUp(true)
				b := c.hold(podB)
				b.Failed(ErrNotFound)
				b.release(podB)
			}, 1, "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCounters()
			tt.streams(c)
			got, logged := exported(t, c)
			if got != tt.want {
				t.Errorf("scrape_collector_success = %v, want %v", got, tt.want)
			}
			err := c.Update(make(chan prometheus.Metric, 1000)) // room for every series: Update sends them all
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Update error = %v, want none", err)
				}
				return
			}
			if !errors.Is(err, ErrAllStreamsDown) || err.Error() != tt.wantErr {
				t.Errorf("Update error = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(logged, "collector=logs") {
				t.Errorf("the exporter did not log the failure: %s", logged)
			}
		})
	}
}

// The message stays bounded with many streams down.
func TestLogsCollectorErrorIsBounded(t *testing.T) {
	c := NewCounters()
	for _, pod := range []string{"ts-0", "ts-1", "ts-2", "ts-3", "ts-4", "ts-5"} {
		c.hold(StreamKey{Pod: pod}).Failed(ErrUnreachable)
	}
	err := c.Update(make(chan prometheus.Metric, 1000)) // room for every series: Update sends them all
	const want = "every log stream is down (6): pod ts-0: unreachable; pod ts-1: unreachable; pod ts-2: unreachable; pod ts-3: unreachable; and 2 more"
	if err == nil || err.Error() != want {
		t.Errorf("Update error = %v, want %q", err, want)
	}
}

// waitSuccess waits until the logs collector over c reports want.
func waitSuccess(t *testing.T, c *Counters, want float64) {
	t.Helper()
	var got float64
	eventually(t, func() string { return fmt.Sprintf("scrape_collector_success = %v, want %v", got, want) },
		func() bool { got, _ = exported(t, c); return got == want })
}

// A stream's error counters exist at 0 for every kind from the moment the
// stream does, so that increase() sees its first error; every error a
// reader meets is counted by one of those kinds.
func TestStreamErrorsStartAtZero(t *testing.T) {
	c := NewCounters()
	h := c.Stream(key)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{c})
	check := func(want map[ErrorKind]float64) {
		t.Helper()
		n, err := testutil.GatherAndCount(reg, "tailscale_tunnel_log_stream_errors_total")
		if err != nil || n != len(streamErrorKinds) {
			t.Errorf("%d stream error series (%v), want %d", n, err, len(streamErrorKinds))
		}
		for _, k := range streamErrorKinds {
			if v, ok := sample(t, c, "tailscale_tunnel_log_stream_errors_total", map[string]string{"pod": key.Pod, "kind": string(k)}); !ok || v != want[k] {
				t.Errorf("stream errors{kind=%s} = %v (present %v), want %v", k, v, ok, want[k])
			}
		}
		if lint, err := testutil.GatherAndLint(reg, "tailscale_tunnel_log_stream_errors_total"); err != nil || len(lint) > 0 {
			t.Errorf("lint: %v %v", lint, err)
		}
	}
	check(nil)
	h.Failed(ErrForbidden)
	check(map[ErrorKind]float64{ErrForbidden: 1})

	gr := schema.GroupResource{Resource: "pods"}
	for _, tt := range []struct {
		err  error
		want ErrorKind
	}{
		{apierrors.NewForbidden(gr, "ts-0", errors.New("rbac")), ErrForbidden},
		{apierrors.NewUnauthorized("token"), ErrForbidden},
		{apierrors.NewNotFound(gr, "ts-0"), ErrNotFound},
		{apierrors.NewServiceUnavailable("down"), ErrUnreachable},
		{io.ErrUnexpectedEOF, ErrUnreachable},
		{apierrors.NewBadRequest("container not started"), ErrOther},
		{apierrors.NewGone("too old"), ErrOther}, // no 410 on a log read; other if ever
		{errors.New("odd"), ErrOther},
	} {
		if got := errorKind(tt.err); got != tt.want || !slices.Contains(streamErrorKinds[:], got) {
			t.Errorf("errorKind(%v) = %q, want %q, one of %v", tt.err, got, tt.want, streamErrorKinds)
		}
	}
}
