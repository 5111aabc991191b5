package tailnetpolicy

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

// constCollector serves fixed metrics, to compare them as exposition text.
type constCollector []prometheus.Metric

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// lint fails the test when the metrics do not pass promlint through a
// pedantic registry (which also refuses duplicate series).
func lint(t *testing.T, ms []prometheus.Metric) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(constCollector(ms))
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

const checkHeader = `# HELP tailscale_tunnel_policy_check What the tailnet policy says about an endpoint, as a state set: 1 for the current verdict (yes, no, unknown: depends on users or devices the policy does not list), 0 for the others. check is funnel_attribute (a Funnel endpoint's tags have the funnel node attribute), tag_owners, tailnet_access (the tailnet clients may reach the served port, in port) or service_approval (a ProxyGroup's Tailscale Service is auto-approved); port is empty but for tailnet_access. From the last policy read successfully: after a failed read these are the last good policy's verdicts (see tailscale_tunnel_policy_read_success).
# TYPE tailscale_tunnel_policy_check gauge
`

func TestCheckMetrics(t *testing.T) {
	tests := []struct {
		name    string
		results []policy.Result
		want    string
	}{
		{
			name: "funnel endpoint lacking the attribute, unknown access on 80, allowed on 443",
			results: []policy.Result{
				{Check: policy.FunnelAttribute, Verdict: policy.No},
				{Check: policy.TailnetAccess, Port: 80, Verdict: policy.Unknown},
				{Check: policy.TailnetAccess, Port: 443, Verdict: policy.Yes},
			},
			want: `
tailscale_tunnel_policy_check{check="funnel_attribute",hostname="web.t.ts.net",port="",verdict="no"} 1
tailscale_tunnel_policy_check{check="funnel_attribute",hostname="web.t.ts.net",port="",verdict="unknown"} 0
tailscale_tunnel_policy_check{check="funnel_attribute",hostname="web.t.ts.net",port="",verdict="yes"} 0
tailscale_tunnel_policy_check{check="tailnet_access",hostname="web.t.ts.net",port="443",verdict="no"} 0
tailscale_tunnel_policy_check{check="tailnet_access",hostname="web.t.ts.net",port="443",verdict="unknown"} 0
tailscale_tunnel_policy_check{check="tailnet_access",hostname="web.t.ts.net",port="443",verdict="yes"} 1
tailscale_tunnel_policy_check{check="tailnet_access",hostname="web.t.ts.net",port="80",verdict="no"} 0
tailscale_tunnel_policy_check{check="tailnet_access",hostname="web.t.ts.net",port="80",verdict="unknown"} 1
tailscale_tunnel_policy_check{check="tailnet_access",hostname="web.t.ts.net",port="80",verdict="yes"} 0
`,
		},
		{
			name: "non-port checks have an empty port whatever Port says",
			results: []policy.Result{
				{Check: policy.TagOwners, Port: 443, Verdict: policy.Yes},
				{Check: policy.ServiceApproval, Verdict: policy.Unknown},
			},
			want: `
tailscale_tunnel_policy_check{check="service_approval",hostname="web.t.ts.net",port="",verdict="no"} 0
tailscale_tunnel_policy_check{check="service_approval",hostname="web.t.ts.net",port="",verdict="unknown"} 1
tailscale_tunnel_policy_check{check="service_approval",hostname="web.t.ts.net",port="",verdict="yes"} 0
tailscale_tunnel_policy_check{check="tag_owners",hostname="web.t.ts.net",port="",verdict="no"} 0
tailscale_tunnel_policy_check{check="tag_owners",hostname="web.t.ts.net",port="",verdict="unknown"} 0
tailscale_tunnel_policy_check{check="tag_owners",hostname="web.t.ts.net",port="",verdict="yes"} 1
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := CheckMetrics("web.t.ts.net", tt.results)
			if err := testutil.CollectAndCompare(constCollector(ms), strings.NewReader(checkHeader+tt.want)); err != nil {
				t.Error(err)
			}
			lint(t, ms)
		})
	}
	if ms := CheckMetrics("web.t.ts.net", nil); len(ms) != 0 {
		t.Errorf("no results gave %d series, want none", len(ms))
	}
}

func TestStatusMetrics(t *testing.T) {
	const header = `# HELP tailscale_tunnel_policy_last_read_success_timestamp_seconds When the tailnet policy was last read and parsed successfully; 0 if never.
# TYPE tailscale_tunnel_policy_last_read_success_timestamp_seconds gauge
# HELP tailscale_tunnel_policy_read_errors_total Failed reads of the tailnet policy by kind: the source's (read, unauthorized, forbidden, not_found, rate_limited, server_error, timeout, unreachable, too_large, credential, other) or parse (the policy is not valid HuJSON; the log names the line).
# TYPE tailscale_tunnel_policy_read_errors_total counter
`
	const successHeader = `# HELP tailscale_tunnel_policy_read_success Whether the last read of the tailnet policy succeeded and the policy parsed (1) or not (0).
# TYPE tailscale_tunnel_policy_read_success gauge
`
	// errors renders the counter with every kind at 0 but those given.
	errors := func(counts map[string]float64) string {
		var b strings.Builder
		for _, k := range ErrorKinds {
			b.WriteString(`tailscale_tunnel_policy_read_errors_total{kind="` + k + `"} `)
			b.WriteString(strconv.FormatFloat(counts[k], 'g', -1, 64))
			b.WriteString("\n")
		}
		return b.String()
	}
	at := time.Unix(1700000000, 500_000_000)
	tests := []struct {
		name string
		s    Status
		want string
	}{
		{
			name: "before the first read: no read_success, every kind at zero",
			want: header + "tailscale_tunnel_policy_last_read_success_timestamp_seconds 0\n" + errors(nil),
		},
		{
			name: "read and parsed",
			s:    Status{Read: true, Success: true, LastSuccess: at, Errors: map[string]float64{}},
			want: header + successHeader + "tailscale_tunnel_policy_last_read_success_timestamp_seconds 1.7000000005e+09\n" +
				errors(nil) + "tailscale_tunnel_policy_read_success 1\n",
		},
		{
			name: "failed after a success: the success time stays",
			s: Status{Read: true, LastSuccess: at,
				Errors: map[string]float64{string(source.KindUnauthorized): 2, KindParse: 1}},
			want: header + successHeader + "tailscale_tunnel_policy_last_read_success_timestamp_seconds 1.7000000005e+09\n" +
				errors(map[string]float64{string(source.KindUnauthorized): 2, KindParse: 1}) + "tailscale_tunnel_policy_read_success 0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := StatusMetrics(tt.s)
			if err := testutil.CollectAndCompare(constCollector(ms), strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			lint(t, ms)
		})
	}
}

func TestErrorKinds(t *testing.T) {
	if got, want := len(ErrorKinds), len(source.Kinds())+1; got != want {
		t.Errorf("%d error kinds, want the source's %d and parse", got, want-1)
	}
	seen := map[string]bool{}
	for _, k := range ErrorKinds {
		if seen[k] {
			t.Errorf("kind %q twice", k)
		}
		seen[k] = true
	}
	if !seen[KindParse] || !seen[string(source.KindUnauthorized)] || !seen[string(source.KindTimeout)] {
		t.Errorf("ErrorKinds %v lack parse, unauthorized or timeout", ErrorKinds)
	}
}
