package promcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const runbookBase = "https://github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/blob/main/alerts/runbooks/"

// promtool is Debian's /usr/bin/promtool (package prometheus), or the one on PATH.
// Missing promtool fails the test: .ci/test.sh installs it.
func promtool(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/promtool"); err == nil {
		return "/usr/bin/promtool"
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (apt-get install prometheus, or run .ci/test.sh)")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = filepath.Join(RepoRoot, "alerts")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := runPromtool(t, "check", "rules", "rules.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	out := runPromtool(t, "test", "rules", "rules_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}

// TestAlertConventions: every alert has a severity, a summary, a description
// and a runbook_url into alerts/runbooks/ whose file exists.
func TestAlertConventions(t *testing.T) {
	groups, err := LoadRules(RulesFile())
	if err != nil {
		t.Fatal(err)
	}
	runbooks := map[string]bool{}
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				if !strings.Contains(r.Record, ":") {
					t.Errorf("recording rule %s: name is not level:metric:operations", r.Record)
				}
				continue
			}
			alerts++
			if !strings.HasPrefix(r.Alert, "TailscaleTunnel") {
				t.Errorf("alert %s: name does not start with TailscaleTunnel", r.Alert)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			u := r.Annotations["runbook_url"]
			name, ok := strings.CutPrefix(u, runbookBase)
			if !ok || !strings.HasSuffix(name, ".md") || strings.Contains(name, "/") {
				t.Errorf("alert %s: runbook_url %q is not %s<name>.md", r.Alert, u, runbookBase)
				continue
			}
			if _, err := os.Stat(filepath.Join(RepoRoot, "alerts", "runbooks", name)); err != nil {
				t.Errorf("alert %s: runbook %s: %v", r.Alert, name, err)
			}
			runbooks[name] = true
		}
	}
	if alerts < 15 {
		t.Errorf("only %d alerts", alerts)
	}
	// A runbook may belong to a cause only diagnose finds: internal/causes
	// checks that every runbook is a cause's and every cause has one.
	if len(runbooks) == 0 {
		t.Error("no alert links a runbook")
	}
}

// unitTests is the part of a promtool unit test file this check reads.
type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromqlExprTests []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// TestEveryRuleIsUnitTested: for every alert the unit tests show it firing with
// its annotations, per severity, and silent at least once (before its `for`
// elapses or for a healthy endpoint); every recorded series is evaluated by a
// promql_expr_test.
func TestEveryRuleIsUnitTested(t *testing.T) {
	groups, err := LoadRules(RulesFile())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(RulesTestFile())
	if err != nil {
		t.Fatal(err)
	}
	var ut unitTests
	if err := yaml.Unmarshal(b, &ut); err != nil {
		t.Fatal(err)
	}
	if len(ut.RuleFiles) != 1 || ut.RuleFiles[0] != "rules.yml" {
		t.Errorf("rules_test.yml rule_files = %v, want [rules.yml]", ut.RuleFiles)
	}
	firing := map[string]bool{} // alertname/severity
	silent := map[string]bool{}
	var exprs []string
	for _, tc := range ut.Tests {
		for _, a := range tc.AlertRuleTests {
			if len(a.ExpAlerts) == 0 {
				silent[a.Alertname] = true
			}
			for _, e := range a.ExpAlerts {
				if len(e.ExpAnnotations) == 0 {
					t.Errorf("a firing %s in rules_test.yml does not check its annotations", a.Alertname)
				}
				firing[a.Alertname+"/"+e.ExpLabels["severity"]] = true
			}
		}
		for _, e := range tc.PromqlExprTests {
			exprs = append(exprs, e.Expr)
		}
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				tested := false
				for _, e := range exprs {
					if strings.Contains(e, r.Record) {
						tested = true
					}
				}
				if !tested {
					t.Errorf("recording rule %s has no promql_expr_test", r.Record)
				}
				continue
			}
			if !firing[r.Alert+"/"+r.Labels["severity"]] {
				t.Errorf("alert %s (severity %s) is never shown firing", r.Alert, r.Labels["severity"])
			}
			if !silent[r.Alert] {
				t.Errorf("alert %s is never shown silent", r.Alert)
			}
		}
	}
}
