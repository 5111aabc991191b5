package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    string
		line, col int
		msg       string // a part of Msg
	}{
		{name: "missing comma", policy: "{\n  \"acls\": [\n    {\"src\": [\"*\"] \"dst\": []},\n  ],\n}",
			line: 3, col: 19, msg: "invalid character"},
		{name: "unterminated", policy: "{\n  \"acls\": [\n", line: 3, col: 1, msg: "unexpected EOF"},
		{name: "unterminated comment", policy: "{\n  /* grants\n}", line: 2, col: 3, msg: "comment"},
		{name: "empty", policy: "", line: 1, col: 1, msg: "EOF"},
		{name: "not an object", policy: `["acls"]`, line: 1, col: 1, msg: "the policy is an array, want an object"},
		{name: "a string", policy: "\n  \"acls\"", line: 2, col: 3, msg: "the policy is a string"},
		{name: "acls an object", policy: "{\n  \"acls\": {},\n}", line: 2, col: 11, msg: "acls is an object, want an array"},
		{name: "src a string", policy: "{\"grants\": [{\"src\": \"autogroup:member\"}]}", line: 1, col: 21, msg: "grants[0].src is a string, want an array"},
		{name: "dst element a number", policy: "{\"acls\": [{\"dst\": [\"tag:k8s:443\", 443]}]}", line: 1, col: 35, msg: "acls[0].dst[1] is a number, want a string"},
		{name: "action a boolean", policy: "{\"acls\": [{\"action\": true}]}", line: 1, col: 22, msg: "acls[0].action is a boolean, want a string"},
		{name: "rule a string", policy: "{\"grants\": [\"*\"]}", line: 1, col: 13, msg: "grants[0] is a string, want an object"},
		{name: "group a string", policy: "{\"groups\": {\"group:a\": \"alice@\"}}", line: 1, col: 24, msg: `groups["group:a"] is a string, want an array`},
		{name: "host a number", policy: "{\"hosts\": {\"a\": 1}}", line: 1, col: 17, msg: `hosts["a"] is a number, want a string`},
		{name: "attr element a number", policy: "{\"nodeAttrs\": [{\"attr\": [1]}]}", line: 1, col: 26, msg: "nodeAttrs[0].attr[0] is a number"},
		{name: "services an array", policy: "{\"autoApprovers\": {\"services\": []}}", line: 1, col: 32, msg: "autoApprovers.services is an array, want an object"},
		{name: "tagOwners twice", policy: "{\"tagOwners\": {},\n \"tagOwners\": {}}", line: 2, col: 2, msg: `"tagOwners" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("policy.hujson", []byte(tc.policy))
			if p != nil || err == nil {
				t.Fatalf("Parse = %v, %v; want an error", p, err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if se.Line != tc.line || se.Column != tc.col || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("got %d:%d %q, want %d:%d and %q", se.Line, se.Column, se.Msg, tc.line, tc.col, tc.msg)
			}
			if s := err.Error(); !strings.HasPrefix(s, "policy policy.hujson:") || strings.Contains(s, "hujson: line") {
				t.Errorf("Error() = %q, want it to name the input and its position once", s)
			}
		})
	}
}

func TestParseTolerates(t *testing.T) {
	for _, tc := range []struct{ name, policy string }{
		{"comments and trailing commas", "// top\n{\n  /* block */ \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"],}, // rule\n  ],\n}\n"},
		{"null sections", `{"acls": null, "grants": null, "groups": null, "autoApprovers": {"services": null}, "nodeAttrs": [{"target": null, "attr": null}]}`},
		{"sections it does not read", `{"ssh": [{"action": "check"}], "postures": {"posture:x": ["node:os == 'linux'"]}, "randomizeClientPort": true, "ipsets": {"ipset:x": ["10.0.0.0/8"]}, "tests": [], "derpMap": {"Regions": {}}}`},
		{"fields it does not read", `{"acls": [{"action": "accept", "#comment": 1, "via": ["tag:x"], "src": ["*"], "dst": ["*:*"]}], "grants": [{"src": ["*"], "dst": ["*"], "via": ["tag:x"], "app": {"x": [1, 2]}}], "nodeAttrs": [{"target": ["*"], "attr": ["funnel"], "ipPool": ["100.80.0.0/16"]}]}`},
		{"a future selector and port syntax", `{"grants": [{"src": ["ipset:x", "autogroup:future"], "dst": ["tag:k8s"], "ip": ["tcp:https", "quic:443"]}]}`},
		{"a hosts address that is not one", `{"hosts": {"web": "not-an-ip"}, "grants": [{"src": ["web"], "dst": ["web"], "ip": ["*"]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("policy.hujson", []byte(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			clients, err := ParseSelector("web")
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range []Endpoint{proxy, service} {
				for _, r := range p.Check(ep, clients) {
					if r.Verdict != Yes && r.Verdict != No && r.Verdict != Unknown {
						t.Errorf("%s: verdict %q", r.Check, r.Verdict)
					}
				}
			}
		})
	}
}

func TestParseSelector(t *testing.T) {
	for _, s := range []string{
		"autogroup:member", "autogroup:tagged", "alice@example.com", "alice@", "group:eng",
		"tag:ci", "laptop", "100.101.1.2", "100.64.0.0/10", "fd7a:115c:a1e0::1", "*", " tag:ci ",
	} {
		sel, err := ParseSelector(s)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", s, err)
		} else if sel.String() != strings.TrimSpace(s) {
			t.Errorf("ParseSelector(%q).String() = %q", s, sel.String())
		}
	}
	for _, s := range []string{
		"", "autogroup:admin", "autogroup:self", "svc:web", "group:", "tag:a b", "@example.com",
		"alice@@example.com", "ipset:x", "a/b", "100.64.0.0/33", "two words",
	} {
		if _, err := ParseSelector(s); err == nil {
			t.Errorf("ParseSelector(%q) succeeded", s)
		} else if !strings.Contains(err.Error(), "client selector") {
			t.Errorf("ParseSelector(%q): %v does not say what it read", s, err)
		}
	}
	if got := (Selector{}).String(); got != "autogroup:member" {
		t.Errorf("zero Selector is %q", got)
	}
}

// TestExamples checks the example policies in testdata: the operator's
// documented setup, and a headscale policy as the real-tailnet tests use.
func TestExamples(t *testing.T) {
	headscaleProxy := Endpoint{Hostname: "web", Tags: []string{"tag:k8s"}, Ports: []int{443, 80}}
	for _, tc := range []struct {
		file    string
		ep      Endpoint
		clients string
		want    map[string]Verdict // check/port → verdict
	}{
		{file: "operator-default.hujson", ep: proxy, want: map[string]Verdict{
			"funnel_attribute/0": Yes, "tag_owners/0": Yes, "tailnet_access/443": Yes,
		}},
		{file: "operator-default.hujson", ep: service, want: map[string]Verdict{
			"tag_owners/0": Yes, "tailnet_access/443": Unknown, "service_approval/0": Yes,
		}},
		{file: "headscale.hujson", ep: headscaleProxy, clients: "alice@", want: map[string]Verdict{
			"tag_owners/0": Yes, "tailnet_access/80": No, "tailnet_access/443": Yes,
		}},
		{file: "headscale.hujson", ep: headscaleProxy, clients: "bob@", want: map[string]Verdict{
			"tag_owners/0": Yes, "tailnet_access/80": No, "tailnet_access/443": No,
		}},
		{file: "headscale.hujson", ep: headscaleProxy, clients: "tag:ci", want: map[string]Verdict{
			"tag_owners/0": Yes, "tailnet_access/80": Yes, "tailnet_access/443": Yes,
		}},
	} {
		t.Run(tc.file+"/"+tc.clients, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(tc.file, data)
			if err != nil {
				t.Fatal(err)
			}
			clients := Selector{}
			if tc.clients != "" {
				if clients, err = ParseSelector(tc.clients); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]Verdict{}
			for _, r := range p.Check(tc.ep, clients) {
				got[string(r.Check)+"/"+strconv.Itoa(r.Port)] = r.Verdict
			}
			if len(got) != len(tc.want) {
				t.Errorf("results %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %s, want %s", k, got[k], v)
				}
			}
		})
	}
}
