package tailnetpolicy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sourceFunc is a Source whose Read is the function.
type sourceFunc func(ctx context.Context) ([]byte, error)

func (f sourceFunc) String() string                           { return "fake source" }
func (f sourceFunc) Read(ctx context.Context) ([]byte, error) { return f(ctx) }

// answers is a Source that gives one answer per Read, in order, and then
// the last one again.
type answers struct {
	mu   sync.Mutex
	next int
	list []answer
}

type answer struct {
	data string
	err  error
}

func (a *answers) source() sourceFunc {
	return func(context.Context) ([]byte, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		an := a.list[min(a.next, len(a.list)-1)]
		a.next++
		return []byte(an.data), an.err
	}
}

// updater lets a registry gather what Update sends.
type updater struct{ r *Reader }

func (u updater) Describe(chan<- *prometheus.Desc) {}
func (u updater) Collect(ch chan<- prometheus.Metric) {
	if err := u.r.Update(ch); err != nil {
		panic(err) // Update has no failure of its own
	}
}

// scrape returns the series Update writes as sorted `name{labels} value`
// lines, through a pedantic registry that refuses duplicates.
func scrape(t *testing.T, r *Reader) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updater{r})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(ls, ","), v))
		}
	}
	slices.Sort(out)
	return out
}

// missing returns the lines of want missing from got.
func missing(got []string, want ...string) []string {
	var miss []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			miss = append(miss, w)
		}
	}
	return miss
}

// funnelGranted gives tag:k8s the funnel attribute and members 443.
const funnelGranted = `{
	// kept in git, with comments and trailing commas
	"tagOwners": {"tag:k8s": ["autogroup:admin"]},
	"nodeAttrs": [{"target": ["tag:k8s"], "attr": ["funnel"]}],
	"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]},],
}`

// funnelMissing is the same without the attribute.
const funnelMissing = `{
	"tagOwners": {"tag:k8s": ["autogroup:admin"]},
	"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:k8s:443"]}],
}`

const notHuJSON = "{\n  \"acls\": [\n    {\"src\": [\"*\"] \"dst\": []},\n  ],\n}"

func check(check, port, verdict string) string {
	return fmt.Sprintf(`tailscale_tunnel_policy_check{check=%q,hostname="web.t.ts.net",port=%q,verdict=%q} 1`, check, port, verdict)
}

func readErrors(kind string, n int) string {
	return fmt.Sprintf(`tailscale_tunnel_policy_read_errors_total{kind=%q} %d`, kind, n)
}

// TestReader walks the reader through a good read, a failure, a policy
// that does not parse and a recovery with another policy.
func TestReader(t *testing.T) {
	unauthorized := &source.Error{Source: "fake source", Kind: source.KindUnauthorized,
		Err: errors.New("401 Unauthorized: the API key is not valid")}
	src := &answers{list: []answer{
		{data: funnelGranted},
		{err: unauthorized},
		{data: notHuJSON},
		{data: funnelMissing},
	}}
	eps := []discovery.Endpoint{
		{Kind: discovery.KindIngress, Hostname: "web.t.ts.net", Provisioned: true, RequestedHostname: "web", Funnel: true},
		// a second endpoint of the same hostname is checked once
		{Kind: discovery.KindIngress, Hostname: "web.t.ts.net", Provisioned: true, RequestedHostname: "web", Funnel: true},
	}
	var logs bytes.Buffer
	now := time.Unix(1700000000, 0)
	r := New(Options{
		Source:    src.source(),
		Endpoints: func() []discovery.Endpoint { return eps },
		Logger:    log.NewLogfmtLogger(log.NewSyncWriter(&logs)),
		Now:       func() time.Time { return now },
	})
	ctx := context.Background()

	steps := []struct {
		name    string
		want    []string
		absent  []string
		logs    []string // in the log lines of this step
		nolines bool     // the step logs nothing
	}{
		{
			name: "before the first read: only the read status, errors at zero",
			want: []string{
				`tailscale_tunnel_policy_last_read_success_timestamp_seconds{} 0`,
				readErrors("unauthorized", 0), readErrors("parse", 0), readErrors("timeout", 0),
			},
			absent:  []string{`tailscale_tunnel_policy_read_success{} 0`, `tailscale_tunnel_policy_read_success{} 1`, check("funnel_attribute", "", "yes")},
			nolines: true,
		},
		{
			name: "good read: verdicts of the policy",
			want: []string{
				`tailscale_tunnel_policy_read_success{} 1`,
				`tailscale_tunnel_policy_last_read_success_timestamp_seconds{} 1.7000001e+09`,
				check("funnel_attribute", "", "yes"), check("tag_owners", "", "yes"), check("tailnet_access", "443", "yes"),
				readErrors("unauthorized", 0),
			},
			logs: []string{`level=info`, `msg="tailnet policy read"`, `source="fake source"`},
		},
		{
			name: "failure after a good read: last verdicts kept, read_success 0, unauthorized +1",
			want: []string{
				`tailscale_tunnel_policy_read_success{} 0`,
				`tailscale_tunnel_policy_last_read_success_timestamp_seconds{} 1.7000001e+09`,
				check("funnel_attribute", "", "yes"), check("tailnet_access", "443", "yes"),
				readErrors("unauthorized", 1), readErrors("parse", 0),
			},
			logs: []string{`level=warn`, `kind=unauthorized`, `the last policy read stays in use`, `401 Unauthorized`},
		},
		{
			name: "policy that does not parse: an error naming the line, verdicts kept",
			want: []string{
				`tailscale_tunnel_policy_read_success{} 0`,
				check("funnel_attribute", "", "yes"),
				readErrors("unauthorized", 1), readErrors("parse", 1),
			},
			logs: []string{`level=error`, `msg="tailnet policy does not parse; the last policy read stays in use"`, `line=3`, `fake source:3:`},
		},
		{
			name: "recovery with another policy: its verdicts, counters kept",
			want: []string{
				`tailscale_tunnel_policy_read_success{} 1`,
				`tailscale_tunnel_policy_last_read_success_timestamp_seconds{} 1.7000004e+09`,
				check("funnel_attribute", "", "no"), check("tailnet_access", "443", "yes"),
				readErrors("unauthorized", 1), readErrors("parse", 1),
			},
			absent: []string{check("funnel_attribute", "", "yes")},
			logs:   []string{`level=info`, `msg="tailnet policy read"`},
		},
	}
	for i, st := range steps {
		if i > 0 {
			now = now.Add(100 * time.Second)
			r.read(ctx)
		}
		got := scrape(t, r)
		if miss := missing(got, st.want...); len(miss) > 0 {
			t.Errorf("%s: missing %q in\n%s", st.name, miss, strings.Join(got, "\n"))
		}
		for _, a := range st.absent {
			if slices.Contains(got, a) {
				t.Errorf("%s: %s present", st.name, a)
			}
		}
		if n := strings.Count(strings.Join(got, "\n"), "tailscale_tunnel_policy_check{"); i > 0 && n != 3*3 {
			t.Errorf("%s: %d check series, want 9 (3 checks of one hostname, 3 verdicts each)", st.name, n)
		}
		line := logs.String()
		logs.Reset()
		if st.nolines && line != "" {
			t.Errorf("%s: logged %q", st.name, line)
		}
		for _, l := range st.logs {
			if !strings.Contains(line, l) {
				t.Errorf("%s: log %q lacks %q", st.name, line, l)
			}
		}
	}
	if s := r.Status(); s.Errors["unauthorized"] != 1 || s.Errors[KindParse] != 1 || !s.Success {
		t.Errorf("Status = %+v", s)
	}
}

// TestReaderWithoutDiscovery: with no endpoints to check only the read
// status is exposed.
// TestReaderRechecksChangedEndpoints: the memoised checks follow an
// endpoint's change (its tags here) at the next scrape, with one policy.
func TestReaderRechecksChangedEndpoints(t *testing.T) {
	ep := discovery.Endpoint{Kind: discovery.KindIngress, Hostname: "web.t.ts.net", Provisioned: true, Funnel: true}
	r := New(Options{
		Source:    sourceFunc(func(context.Context) ([]byte, error) { return []byte(funnelGranted), nil }),
		Endpoints: func() []discovery.Endpoint { return []discovery.Endpoint{ep} },
	})
	r.read(context.Background())
	for _, step := range []struct {
		tags, verdict string
	}{
		{"", "yes"},        // the default tag:k8s has the attribute
		{"tag:web", "no"},  // tag:web has not
		{"tag:web", "no"},  // a second scrape from the memo
		{"tag:k8s", "yes"}, // and back
	} {
		ep.Tags = step.tags
		if miss := missing(scrape(t, r), check("funnel_attribute", "", step.verdict)); len(miss) > 0 {
			t.Errorf("tags %q: missing %q", step.tags, miss)
		}
	}
}

func TestReaderWithoutDiscovery(t *testing.T) {
	r := New(Options{Source: sourceFunc(func(context.Context) ([]byte, error) { return []byte(funnelGranted), nil })})
	r.read(context.Background())
	got := scrape(t, r)
	if miss := missing(got, `tailscale_tunnel_policy_read_success{} 1`); len(miss) > 0 {
		t.Errorf("missing %q in %q", miss, got)
	}
	for _, l := range got {
		if strings.HasPrefix(l, "tailscale_tunnel_policy_check") {
			t.Errorf("a check without discovery: %s", l)
		}
	}
}

// TestRun: the first read is at start, the next on the interval, a scrape
// never waits for a read in flight, and Run returns when ctx ends, even
// during a read (which is then not counted as the source's failure).
func TestRun(t *testing.T) {
	reads := make(chan struct{}, 10)
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	src := sourceFunc(func(ctx context.Context) ([]byte, error) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		reads <- struct{}{}
		if first {
			return []byte(funnelGranted), nil
		}
		select { // the second read hangs until released or cancelled
		case <-release:
			return []byte(funnelGranted), nil
		case <-ctx.Done():
			return nil, &source.Error{Source: "fake source", Kind: source.KindTimeout, Err: ctx.Err()}
		}
	})
	r := New(Options{Source: src, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	for i := range 2 {
		select {
		case <-reads:
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d did not happen", i+1)
		}
	}
	// The second read hangs; a scrape answers from the first.
	scraped := make(chan []string, 1)
	go func() { scraped <- scrape(t, r) }()
	select {
	case got := <-scraped:
		if miss := missing(got, `tailscale_tunnel_policy_read_success{} 1`); len(miss) > 0 {
			t.Errorf("scrape during a read: missing %q in %q", miss, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a scrape waited for the read in flight")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if s := r.Status(); s.Errors[string(source.KindTimeout)] != 0 || !s.Success {
		t.Errorf("the read cut by shutdown was counted: %+v", s)
	}
}
