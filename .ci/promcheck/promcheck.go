// Package promcheck checks the dashboards and Prometheus rules of
// tailscale-tunnel-exporter: Grafana dashboards decode strictly into the typed
// structs of grafana-foundation-sdk, every PromQL expression (dashboards and
// rules) parses with the Prometheus parser, and every metric it references is
// one the exporter really exposes.
//
// It is its own module so that neither prometheus/prometheus nor the Grafana SDK
// enter the exporter's go.mod. The checks are its tests: go test ./...
package promcheck

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// RepoRoot is the exporter's repository, relative to this package's directory.
const RepoRoot = "../.."

// DatasourceUID is the only datasource reference dashboards may use.
const DatasourceUID = "${datasource}"

var registerOnce sync.Once

// Query is one PromQL expression and where it was found.
type Query struct {
	Where string // e.g. "dashboards/overview.json panel 3 \"Endpoints down\" target A"
	Expr  string // as written, with Grafana variables
}

// LoadDashboard decodes a dashboard file strictly: unknown fields, wrong types
// and panel options or queries that do not match their plugin's schema fail.
func LoadDashboard(path string) (*dashboard.Dashboard, error) {
	registerOnce.Do(plugins.RegisterDefaultPlugins)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard.Dashboard
	if err := d.UnmarshalJSONStrict(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// Panels returns every panel of a dashboard, those inside collapsed rows
// included; rows themselves are not panels.
func Panels(d *dashboard.Dashboard) []dashboard.Panel {
	var ps []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			ps = append(ps, *p.Panel)
		case p.RowPanel != nil:
			ps = append(ps, p.RowPanel.Panels...)
		}
	}
	return ps
}

// PanelTitle is the title of a panel, or "" if it has none.
func PanelTitle(p dashboard.Panel) string {
	if p.Title == nil {
		return ""
	}
	return *p.Title
}

// PromTarget returns a panel target as a Prometheus query, or an error when the
// target decoded as another (or an unknown) kind of query.
func PromTarget(t any) (*prometheus.Dataquery, error) {
	switch q := t.(type) {
	case *prometheus.Dataquery:
		return q, nil
	case prometheus.Dataquery:
		return &q, nil
	default:
		return nil, fmt.Errorf("target is %T, not a Prometheus query (does it carry datasource.type \"prometheus\"?)", t)
	}
}

// DashboardQueries returns the PromQL of every panel target and of every query
// variable (the selector of label_values(selector, label), the expression of
// query_result(expr)).
func DashboardQueries(name string, d *dashboard.Dashboard) ([]Query, error) {
	var qs []Query
	for _, p := range Panels(d) {
		for i, t := range p.Targets {
			pq, err := PromTarget(t)
			if err != nil {
				return nil, fmt.Errorf("%s panel %q target %d: %w", name, PanelTitle(p), i, err)
			}
			ref := ""
			if pq.RefId != nil {
				ref = *pq.RefId
			}
			qs = append(qs, Query{Where: fmt.Sprintf("%s panel %q target %s", name, PanelTitle(p), ref), Expr: pq.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != dashboard.VariableTypeQuery {
			continue
		}
		q := VariableQuery(v)
		expr, ok, err := VariableExpr(q)
		if err != nil {
			return nil, fmt.Errorf("%s variable %s: %w", name, v.Name, err)
		}
		if ok {
			qs = append(qs, Query{Where: fmt.Sprintf("%s variable %s", name, v.Name), Expr: expr})
		}
	}
	return qs, nil
}

// VariableQuery is the query text of a query variable ("" if none).
func VariableQuery(v dashboard.VariableModel) string {
	if v.Query == nil {
		return ""
	}
	if v.Query.String != nil {
		return *v.Query.String
	}
	if s, ok := v.Query.Map["query"].(string); ok {
		return s
	}
	return ""
}

// VariableExpr extracts the PromQL of a Prometheus variable query.
// label_names() and label_values(label) have none (ok false).
func VariableExpr(q string) (expr string, ok bool, err error) {
	q = strings.TrimSpace(q)
	inner := func(fn string) (string, bool) {
		if !strings.HasPrefix(q, fn+"(") || !strings.HasSuffix(q, ")") {
			return "", false
		}
		return strings.TrimSpace(q[len(fn)+1 : len(q)-1]), true
	}
	if in, found := inner("query_result"); found {
		return in, true, nil
	}
	if in, found := inner("label_values"); found {
		i := strings.LastIndex(in, ",")
		if i < 0 {
			return "", false, nil // label_values(label)
		}
		return strings.TrimSpace(in[:i]), true, nil
	}
	if in, found := inner("label_names"); found {
		return in, in != "", nil
	}
	return "", false, fmt.Errorf("unsupported variable query %q (want label_values, label_names or query_result)", q)
}

var (
	grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)
	// Grafana's built-in variables, replaced by values of the right type.
	builtins = map[string]string{
		"__rate_interval": "5m", "__interval": "1m", "__range": "6h",
		"__interval_ms": "60000", "__range_s": "21600", "__range_ms": "21600000",
	}
)

// Substitute replaces Grafana variables with valid placeholders: built-in
// intervals with durations, the dashboard's own variables (which only appear in
// label matcher values) with a plain string. A variable the dashboard does not
// define is an error.
func Substitute(expr string, vars map[string]bool) (string, error) {
	var bad []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sm := grafanaVar.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		if vars[name] {
			return "placeholder"
		}
		bad = append(bad, m)
		return m
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("undefined Grafana variables %v", bad)
	}
	return out, nil
}

// MetricNames parses an expression and returns the metric names it selects.
// A selector without a metric name is an error: everything here is about
// named families.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var nameless []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			nameless = append(nameless, vs.String())
			return nil
		}
		seen[name] = true
		return nil
	})
	if len(nameless) > 0 {
		return nil, fmt.Errorf("selectors without a metric name: %v", nameless)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// LoadRules parses a rule file with Prometheus' own loader (which also parses
// every expression and template).
func LoadRules(path string) (*rulefmt.RuleGroups, error) {
	groups, errs := rulefmt.ParseFile(path, false)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", path, errs)
	}
	return groups, nil
}

// ScrapeNames reads a Prometheus text exposition and returns every name a
// query may select: each family's name, plus _bucket/_sum/_count for
// histograms (the bare name is the native histogram) and _sum/_count for
// summaries.
func ScrapeNames(r io.Reader) (map[string]bool, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names, nil
}

// RecordedNames are the names recording rules define.
func RecordedNames(groups *rulefmt.RuleGroups) map[string]bool {
	rec := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				rec[r.Record] = true
			}
		}
	}
	return rec
}

// RuleQueries returns the expression of every rule.
func RuleQueries(file string, groups *rulefmt.RuleGroups) []Query {
	var qs []Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			qs = append(qs, Query{Where: fmt.Sprintf("%s group %s rule %s", file, g.Name, name), Expr: r.Expr})
		}
	}
	return qs
}

// AllQueries collects every PromQL expression of the dashboards and the rules,
// with Grafana variables substituted.
func AllQueries() ([]Query, *rulefmt.RuleGroups, error) {
	var all []Query
	for _, f := range DashboardFiles() {
		d, err := LoadDashboard(f)
		if err != nil {
			return nil, nil, err
		}
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		qs, err := DashboardQueries(rel(f), d)
		if err != nil {
			return nil, nil, err
		}
		for _, q := range qs {
			s, err := Substitute(q.Expr, vars)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", q.Where, err)
			}
			all = append(all, Query{Where: q.Where, Expr: s})
		}
	}
	groups, err := LoadRules(RulesFile())
	if err != nil {
		return nil, nil, err
	}
	return append(all, RuleQueries(rel(RulesFile()), groups)...), groups, nil
}

// DashboardFiles are the dashboards shipped in the repository.
func DashboardFiles() []string {
	fs, _ := filepath.Glob(filepath.Join(RepoRoot, "dashboards", "*.json"))
	sort.Strings(fs)
	return fs
}

// RulesFile and RulesTestFile are the Prometheus rules and their unit tests.
func RulesFile() string     { return filepath.Join(RepoRoot, "alerts", "rules.yml") }
func RulesTestFile() string { return filepath.Join(RepoRoot, "alerts", "rules_test.yml") }

func rel(p string) string {
	r, err := filepath.Rel(RepoRoot, p)
	if err != nil {
		return p
	}
	return r
}
