package policy

import (
	"strings"
	"testing"

	"github.com/tailscale/hujson"
)

// applyFix merges a Result.Fix into a policy the way its doc says a person
// would: each top-level member goes into the section of the same name,
// arrays are appended to and objects merged, sections missing are added.
func applyFix(t *testing.T, policy, fix string) string {
	t.Helper()
	root, err := hujson.Parse([]byte(policy))
	if err != nil {
		t.Fatalf("policy does not parse: %v", err)
	}
	patch, err := hujson.Parse([]byte("{" + fix + "}"))
	if err != nil {
		t.Fatalf("fix %q is not a HuJSON member: %v", fix, err)
	}
	merge(t, &root, &patch)
	return string(root.Pack())
}

func merge(t *testing.T, into, from *hujson.Value) {
	t.Helper()
	switch f := from.Value.(type) {
	case *hujson.Object:
		o, ok := into.Value.(*hujson.Object)
		if !ok {
			t.Fatalf("fix merges an object into %c", into.Value.Kind())
		}
	members:
		for _, fm := range f.Members {
			name := fm.Name.Value.(hujson.Literal).String()
			for i := range o.Members {
				if o.Members[i].Name.Value.(hujson.Literal).String() == name {
					merge(t, &o.Members[i].Value, &fm.Value)
					continue members
				}
			}
			o.Members = append(o.Members, hujson.ObjectMember{Name: fm.Name, Value: fm.Value})
		}
	case *hujson.Array:
		a, ok := into.Value.(*hujson.Array)
		if !ok {
			t.Fatalf("fix merges an array into %c", into.Value.Kind())
		}
		a.Elements = append(a.Elements, f.Elements...)
	default:
		*into = *from
	}
}

// find returns the result of one check (and port, for TailnetAccess).
func find(t *testing.T, results []Result, c Check, port int) Result {
	t.Helper()
	for _, r := range results {
		if r.Check == c && (c != TailnetAccess || r.Port == port) {
			return r
		}
	}
	t.Fatalf("no %s result (port %d) in %+v", c, port, results)
	return Result{}
}

func lineNumbers(ls []Line) []int {
	out := []int{}
	for _, l := range ls {
		out = append(out, l.N)
	}
	return out
}

// dedent lets a policy be written indented in a Go literal; its first line
// is line 1.
func dedent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	lines := strings.Split(s, "\n")
	indent := len(lines[0]) - len(strings.TrimLeft(lines[0], "\t"))
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, strings.Repeat("\t", indent))
	}
	return strings.Join(lines, "\n")
}
