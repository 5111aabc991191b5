// Command queries prints every PromQL expression of the dashboards and of
// alerts/rules.yml as JSON lines, Grafana variables replaced by placeholders
// (label values "placeholder", $__rate_interval 5m, $__range 6h), so that an
// end-to-end test can evaluate each against a real Prometheus:
//
//	(cd .ci/promcheck && go run ./cmd/queries) > queries.jsonl
//
// Each line is {"where": "...", "expr": "...", "source": "dashboard"|"rule"}.
// Dashboard expressions that filter on a variable select nothing with the
// placeholder; run with -vars=hostname=.*,vantage=.*,namespace=.* to match everything.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/.ci/promcheck"
)

func main() {
	vars := flag.String("vars", "", "comma-separated name=value replacements of the placeholder for dashboard variables in regex matchers")
	flag.Parse()
	if err := os.Chdir(findRoot()); err != nil {
		fail(err)
	}
	qs, _, err := promcheck.AllQueries()
	if err != nil {
		fail(err)
	}
	repl := map[string]string{}
	for _, kv := range strings.Split(*vars, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			repl[k] = v
		}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, q := range qs {
		expr := q.Expr
		for k, v := range repl {
			expr = strings.ReplaceAll(expr, k+`=~"placeholder"`, k+`=~"`+v+`"`)
			expr = strings.ReplaceAll(expr, k+`="placeholder"`, k+`=~"`+v+`"`)
			expr = strings.ReplaceAll(expr, k+`!~"placeholder"`, k+`!~"`+v+`"`)
		}
		source := "dashboard"
		if strings.HasPrefix(q.Where, "alerts/") {
			source = "rule"
		}
		if err := enc.Encode(map[string]string{"where": q.Where, "expr": expr, "source": source}); err != nil {
			fail(err)
		}
	}
}

// findRoot returns the promcheck module directory, where RepoRoot is relative to.
func findRoot() string {
	for _, d := range []string{".", ".ci/promcheck"} {
		if _, err := os.Stat(d + "/promcheck.go"); err == nil {
			return d
		}
	}
	fail(fmt.Errorf("run from the repository root or .ci/promcheck"))
	return ""
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "queries:", err)
	os.Exit(1)
}
