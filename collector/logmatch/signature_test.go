package logmatch

import (
	"fmt"
	"strings"
	"testing"
)

func TestNewRejectsBadSignatures(t *testing.T) {
	many := make([]Signature, MaxSignatures+1)
	for i := range many {
		many[i] = Signature{Name: fmt.Sprintf("s%d", i), Pattern: "x"}
	}
	cases := []struct {
		name    string
		sigs    []Signature
		wantErr string // substring; "" for success
	}{
		{"valid", []Signature{{Name: "backend_refused", Pattern: "connection refused"}}, ""},
		{"none", nil, ""},
		{"upper case name", []Signature{{Name: "Backend", Pattern: "x"}}, `signature 0 "Backend": name must match`},
		{"name with dash", []Signature{{Name: "a-b", Pattern: "x"}}, `"a-b": name must match`},
		{"name starting with digit", []Signature{{Name: "1a", Pattern: "x"}}, `"1a"`},
		{"empty name", []Signature{{Name: "", Pattern: "x"}}, `signature 0 "": name`},
		{"name too long", []Signature{{Name: strings.Repeat("a", 64), Pattern: "x"}}, "name must match"},
		{"duplicate", []Signature{{Name: "a", Pattern: "x"}, {Name: "a", Pattern: "y"}}, `signature "a": duplicate name`},
		{"bad regexp", []Signature{{Name: "broken", Pattern: "a(b"}}, `signature "broken": error parsing regexp`},
		{"empty pattern", []Signature{{Name: "empty", Pattern: ""}}, `signature "empty": empty pattern`},
		{"too many", many, "at most 64"},
		{"all errors reported", []Signature{{Name: "A", Pattern: "x"}, {Name: "b", Pattern: "("}}, `signature "b"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.sigs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if len(m.Signatures()) != len(tc.sigs) {
					t.Errorf("Signatures() = %v", m.Signatures())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestMatchCustom(t *testing.T) {
	m, err := New([]Signature{
		{Name: "backend_refused", Pattern: `^proxy: dial tcp [^ ]+: connect: connection refused$`},
		{Name: "funnel_off", Pattern: `(?i)funnel is OFF`},
		{Name: "port_443", Pattern: `:443\b`},
		{Name: "boot_error", Pattern: `^boot: .*(error|failed)`},
	})
	if err != nil {
		t.Fatal(err)
	}
	set := func(idx ...int) SignatureSet {
		var s SignatureSet
		for _, i := range idx {
			s |= 1 << i
		}
		return s
	}
	cases := []struct {
		name, line string
		want       Event
	}{
		{"anchored on the message after all prefixes",
			"2026-11-24T09:32:16Z 2026/11/24 09:32:16 proxy: dial tcp 10.0.0.1:80: connect: connection refused",
			Event{Kind: KindCustom, Custom: set(0)}},
		{"journald prefix trimmed too",
			"Nov 24 09:32:16 h tailscaled[1]: proxy: dial tcp 10.0.0.1:80: connect: connection refused",
			Event{Kind: KindCustom, Custom: set(0)}},
		{"anchor does not match mid-line",
			"2026/11/24 09:32:16 x proxy: dial tcp 10.0.0.1:80: connect: connection refused", Event{}},
		{"case-insensitive pattern without prefilter",
			"2026/11/24 09:32:16 serve: Funnel is off for k8s.tail.ts.net", Event{Kind: KindCustom, Custom: set(1)}},
		{"built-in and custom together",
			"Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched",
			Event{Kind: KindDrop, Reason: ReasonNoRulesMatched, Protocol: ProtocolTCP, Family: FamilyIPv4, Port: Port443, Length: 60, Custom: set(2)}},
		{"boot line", "2026-11-24T09:32:16Z boot: failed to watch serve config", Event{Kind: KindCustom, Custom: set(3)}},
		{"several signatures", "boot: error dialing 1.2.3.4:443", Event{Kind: KindCustom, Custom: set(2, 3)}},
		{"no match", "2026/11/24 09:32:16 magicsock: derp-1 connected", Event{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := m.Match([]byte(tc.line))
			if want := withDst(t, tc.want, tc.line); got != want || ok != (tc.want.Kind != KindNone) {
				t.Errorf("Match(%q) = %+v, %v; want %+v", tc.line, got, ok, want)
			}
			for i, s := range m.Signatures() {
				if got.Custom.Has(i) != tc.want.Custom.Has(i) {
					t.Errorf("Custom.Has(%d) (%s) = %v", i, s.Name, got.Custom.Has(i))
				}
			}
		})
	}
}

func TestRequiredLiteral(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{`connection refused`, "connection refused"},
		{`^proxy: dial tcp [^ ]+: connect: connection refused$`, ": connect: connection refused"},
		{`cert\(.*\): renew`, "): renew"},
		{`(?i)funnel`, ""},
		{`a|b`, ""},
		{`x*`, ""},
		{`(abc)+def`, "abc"},
		{`(?:hello){2}`, "hellohello"}, // Simplify expands the repeat
		{`héllo wörld`, "héllo wörld"},
		{`.`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			c, err := compile(Signature{Name: "x", Pattern: tc.pattern})
			if err != nil {
				t.Fatal(err)
			}
			if string(c.literal.lit) != tc.want {
				t.Errorf("literal = %q, want %q", c.literal.lit, tc.want)
			}
		})
	}
}
