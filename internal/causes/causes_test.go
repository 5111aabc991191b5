package causes

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestCatalogEntries(t *testing.T) {
	seen := map[ID]bool{}
	for _, c := range All() {
		t.Run(string(c.ID), func(t *testing.T) {
			if !kebab.MatchString(string(c.ID)) {
				t.Errorf("ID %q is not kebab-case", c.ID)
			}
			if seen[c.ID] {
				t.Errorf("ID %q is twice in the catalog", c.ID)
			}
			seen[c.ID] = true
			if c.Title == "" || strings.Contains(c.Title, "\n") || strings.HasSuffix(c.Title, ".") {
				t.Errorf("title %q is not one line without a full stop", c.Title)
			}
			if c.Meaning == "" || strings.Contains(c.Meaning, "{{") || strings.Contains(c.Meaning, "\n") {
				t.Errorf("meaning %q is empty, templated or more than a paragraph", c.Meaning)
			}
			if len(c.Next) == 0 {
				t.Error("no next step")
			}
			for _, n := range c.Next {
				if strings.TrimSpace(n) == "" {
					t.Error("an empty next step")
				}
			}
			if got, want := c.Runbook(), RunbookBase+string(c.ID)+".md"; got != want {
				t.Errorf("runbook %q, want %q", got, want)
			}
			if got, ok := Lookup(c.ID); !ok || got.ID != c.ID {
				t.Errorf("Lookup(%q) = %v, %v", c.ID, got.ID, ok)
			}
		})
	}
	if _, ok := Lookup("no-such-cause"); ok {
		t.Error("Lookup found a cause that is not in the catalog")
	}
	if c := Get("no-such-cause"); c.Title != "no-such-cause" {
		t.Errorf("Get of an unknown ID titled %q, want the ID", c.Title)
	}
}

// TestRunbooks: every cause has its runbook, and every runbook is a cause's.
func TestRunbooks(t *testing.T) {
	dir := filepath.Join(repoRoot, RunbookDir)
	for _, c := range All() {
		b, err := os.ReadFile(filepath.Join(dir, string(c.ID)+".md"))
		if err != nil {
			t.Errorf("cause %s: %v", c.ID, err)
			continue
		}
		if !strings.HasPrefix(string(b), "# ") {
			t.Errorf("runbook of %s does not start with a heading", c.ID)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no runbook in %s", dir)
	}
	for _, f := range files {
		id := ID(strings.TrimSuffix(filepath.Base(f), ".md"))
		if _, ok := Lookup(id); !ok {
			t.Errorf("runbook %s belongs to no cause", filepath.Base(f))
		}
	}
}

// alertRules is the part of alerts/rules.yml this test reads.
type alertRules struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertsQuoteTheCatalog: every alert links the runbook of a cause, its
// summary starts with the cause's title and its description contains the
// cause's meaning word for word.
func TestAlertsQuoteTheCatalog(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("alerts/rules.yml: %v", err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			a := r.Annotations
			name, ok := strings.CutPrefix(a["runbook_url"], RunbookBase)
			id := ID(strings.TrimSuffix(name, ".md"))
			c, known := Lookup(id)
			if !ok || !strings.HasSuffix(name, ".md") || !known {
				t.Errorf("alert %s: runbook_url %q names no cause (want %s<ID>.md)", r.Alert, a["runbook_url"], RunbookBase)
				continue
			}
			if s := oneLine(a["summary"]); !strings.HasPrefix(s, c.Title) {
				t.Errorf("alert %s: summary %q does not start with the title of %s: %q", r.Alert, s, c.ID, c.Title)
			}
			if d := oneLine(a["description"]); !strings.Contains(d, c.Meaning) {
				t.Errorf("alert %s: description does not contain the meaning of %s:\n%q\nin\n%q", r.Alert, c.ID, c.Meaning, d)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alert in alerts/rules.yml")
	}
}

// oneLine joins the lines of s with single spaces, as a folded YAML
// scalar does.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestCertificateProblems(t *testing.T) {
	for _, problem := range []string{"expired", "not_yet_valid", "name_mismatch", "unknown_authority"} {
		t.Run(problem, func(t *testing.T) {
			d, ok := CertificateProblems[problem]
			if !ok || d.Says == "" || d.Next == "" {
				t.Errorf("problem %s: %+v, %v; want what it says and a next step", problem, d, ok)
			}
		})
	}
	if len(CertificateProblems) != 4 {
		t.Errorf("%d certificate problems, want the 4 above (other has no detail)", len(CertificateProblems))
	}
}

func TestOperatorEvents(t *testing.T) {
	for _, tc := range []struct{ reason, mentions string }{
		{"NoValidBackends", "backend"},
		{"INVALIDSERVICE", "Service"},
		{"IngressClassError", "Ingress class"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			if got := OperatorEvents[tc.reason]; !strings.Contains(got, tc.mentions) {
				t.Errorf("advice %q does not mention %q", got, tc.mentions)
			}
		})
	}
	if _, ok := OperatorEvents["HTTPSNotEnabled"]; ok {
		t.Error("HTTPSNotEnabled is a cause of its own, not an operator event detail")
	}
	if len(OperatorEvents) != 3 {
		t.Errorf("%d operator events, want the 3 above", len(OperatorEvents))
	}
}
