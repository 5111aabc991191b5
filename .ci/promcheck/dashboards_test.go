package promcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Grafana 10.4 / 11.0 write schemaVersion 39; older numbers mean an old Grafana.
const minSchemaVersion = 39

var wantDashboards = []string{"endpoint.json", "overview.json"}

func TestDashboardFilesPresent(t *testing.T) {
	var got []string
	for _, f := range DashboardFiles() {
		got = append(got, filepath.Base(f))
	}
	if len(got) != len(wantDashboards) || got[0] != wantDashboards[0] || got[1] != wantDashboards[1] {
		t.Fatalf("dashboards/*.json = %v, want %v", got, wantDashboards)
	}
}

// TestDashboards decodes each dashboard strictly into the SDK's typed structs
// and checks the conventions every panel must follow.
func TestDashboards(t *testing.T) {
	uids := map[string]string{}
	for _, f := range DashboardFiles() {
		t.Run(filepath.Base(f), func(t *testing.T) {
			d, err := LoadDashboard(f)
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			if d.SchemaVersion < minSchemaVersion {
				t.Errorf("schemaVersion %d, want >= %d", d.SchemaVersion, minSchemaVersion)
			}
			if d.Uid == nil || *d.Uid == "" {
				t.Errorf("no uid: links between dashboards need a stable one")
			} else if other, dup := uids[*d.Uid]; dup {
				t.Errorf("uid %q also used by %s", *d.Uid, other)
			} else {
				uids[*d.Uid] = f
			}
			if d.Title == nil || *d.Title == "" {
				t.Errorf("no title")
			}
			checkVariables(t, d)
			checkPanels(t, d)
			if len(d.Links) == 0 {
				t.Errorf("no dashboard links (to the other dashboard and the runbooks)")
			}
		})
	}
}

func checkVariables(t *testing.T, d *dashboard.Dashboard) {
	t.Helper()
	byName := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		byName[v.Name] = v
	}
	ds, ok := byName["datasource"]
	switch {
	case !ok:
		t.Errorf("no datasource variable")
	case ds.Type != dashboard.VariableTypeDatasource:
		t.Errorf("variable datasource has type %q, want datasource", ds.Type)
	case VariableQuery(ds) != "prometheus":
		t.Errorf("variable datasource selects %q data sources, want prometheus", VariableQuery(ds))
	}
	for _, name := range []string{"namespace", "hostname", "vantage"} {
		v, ok := byName[name]
		if !ok {
			t.Errorf("no %s variable", name)
			continue
		}
		if v.Type != dashboard.VariableTypeQuery {
			t.Errorf("variable %s has type %q, want query", name, v.Type)
		}
		checkDatasource(t, "variable "+name, v.Datasource)
		if _, ok, err := VariableExpr(VariableQuery(v)); err != nil || !ok {
			t.Errorf("variable %s: query %q has no PromQL to check (err %v)", name, VariableQuery(v), err)
		}
	}
}

// checkDatasource requires the ${datasource} variable as a Prometheus data
// source: no hard-coded UIDs.
func checkDatasource(t *testing.T, where string, ref *common.DataSourceRef) {
	t.Helper()
	switch {
	case ref == nil:
		t.Errorf("%s: no datasource", where)
	case ref.Uid == nil || *ref.Uid != DatasourceUID:
		t.Errorf("%s: datasource uid %v, want %q", where, deref(ref.Uid), DatasourceUID)
	case ref.Type == nil || *ref.Type != "prometheus":
		t.Errorf("%s: datasource type %v, want prometheus", where, deref(ref.Type))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}

func checkPanels(t *testing.T, d *dashboard.Dashboard) {
	t.Helper()
	panels := Panels(d)
	if len(panels) == 0 {
		t.Fatalf("no panels")
	}
	ids := map[uint32]bool{}
	for _, p := range panels {
		title := PanelTitle(p)
		if title == "" {
			t.Errorf("panel of type %s without title", p.Type)
		}
		if p.Id == nil {
			t.Errorf("panel %q: no id", title)
		} else if ids[*p.Id] {
			t.Errorf("panel %q: id %d used twice", title, *p.Id)
		} else {
			ids[*p.Id] = true
		}
		if p.Description == nil || *p.Description == "" {
			t.Errorf("panel %q: no description", title)
		}
		if p.GridPos == nil {
			t.Errorf("panel %q: no gridPos", title)
		}
		checkDatasource(t, "panel "+title, p.Datasource)
		if p.FieldConfig == nil || p.FieldConfig.Defaults.Unit == nil || *p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q: no unit in fieldConfig.defaults", title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", title)
		}
		refs := map[string]bool{}
		for i, tg := range p.Targets {
			q, err := PromTarget(tg)
			if err != nil {
				t.Errorf("panel %q target %d: %v", title, i, err)
				continue
			}
			checkDatasource(t, "panel "+title+" target", q.Datasource)
			if q.RefId == nil || refs[*q.RefId] {
				t.Errorf("panel %q target %d: missing or duplicate refId", title, i)
			} else {
				refs[*q.RefId] = true
			}
			if q.Expr == "" {
				t.Errorf("panel %q target %d: empty expr", title, i)
			}
		}
	}
}

// TestStrictDecodeRejects proves the decoding is strict: an unknown panel
// option and a target without a Prometheus datasource are caught.
func TestStrictDecodeRejects(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(RepoRoot, "dashboards", "overview.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(string) string{
		"unknown stat option": func(s string) string {
			return strings.Replace(s, `"textMode": "auto"`, `"textMode": "auto", "noSuchOption": 1`, 1)
		},
		"unknown dashboard field": func(s string) string {
			return strings.Replace(s, `"schemaVersion": 39`, `"schemaVersion": 39, "noSuchField": true`, 1)
		},
	} {
		bad := mutate(string(raw))
		if bad == string(raw) {
			t.Fatalf("%s: mutation did not apply", name)
		}
		p := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadDashboard(p); err == nil {
			t.Errorf("%s: strict decoding accepted it", name)
		}
	}
	if _, err := PromTarget("not a query"); err == nil {
		t.Errorf("PromTarget accepted a non-Prometheus target")
	}
}
