package policy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tailscale/hujson"
)

// FuzzParse: Parse never panics, fails only with a *SyntaxError that points
// into the input, and a policy it accepts never makes Check panic or answer
// outside the closed sets. Seeds: testdata/*.hujson and testdata/fuzz.
func FuzzParse(f *testing.F) {
	examples, err := filepath.Glob(filepath.Join("testdata", "*.hujson"))
	if err != nil || len(examples) == 0 {
		f.Fatalf("no example policies: %v", err)
	}
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	var selectors []Selector
	for _, s := range []string{"autogroup:member", "autogroup:tagged", "alice@", "group:eng", "tag:ci", "laptop", "100.101.1.2", "*"} {
		sel, err := ParseSelector(s)
		if err != nil {
			f.Fatal(err)
		}
		selectors = append(selectors, sel)
	}
	endpoints := []Endpoint{
		proxy, service,
		{Hostname: "bare"},
		{Hostname: "multi", Tags: []string{"tag:a", "tag:ci"}, Funnel: true, Ports: []int{80, 443}, Service: "svc:x", HostTags: []string{"tag:pg"}},
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError: %v", err, err)
			}
			if se.Line < 1 || se.Column < 1 || se.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("position %d:%d outside the input: %v", se.Line, se.Column, err)
			}
			return
		}
		lines := len(p.lineStarts)
		for _, ep := range endpoints {
			for _, sel := range selectors {
				for _, r := range p.Check(ep, sel) {
					switch r.Verdict {
					case Yes, No, Unknown:
					default:
						t.Fatalf("%s: verdict %q", r.Check, r.Verdict)
					}
					for _, l := range r.Evidence {
						if l.N < 1 || l.N > lines {
							t.Fatalf("%s: evidence line %d of %d", r.Check, l.N, lines)
						}
					}
					if r.Fix != "" {
						if _, err := hujson.Parse([]byte("{" + r.Fix + "}")); err != nil {
							t.Fatalf("%s: fix %q is not HuJSON: %v", r.Check, r.Fix, err)
						}
					}
				}
			}
		}
	})
}
