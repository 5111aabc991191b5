package diagnose

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// goldenReport is a report whose output in every format is kept in
// testdata/<name>.txt, .json and .md.
type goldenReport struct {
	name   string
	report func() Report
}

// goldenReports are checked byte for byte by TestWriteGolden. To keep
// another report, add it here (or append to it from an init func of
// another test file) and run go test -run TestWrite -update.
var goldenReports = []goldenReport{
	{"incident", sampleReportIncident},
	// What the rule table makes of the incident's evidence: the report the
	// note on the issue shows.
	{"incident-diagnosed", func() Report { return Diagnose(sampleReportIncident().Evidence) }},
	{"healthy", sampleReportHealthy},
	{"hostile", sampleReportHostile},
}

// goldenExt is the file extension of each format's golden files.
var goldenExt = map[string]string{"text": ".txt", "json": ".json", "markdown": ".md"}

func TestWriteGolden(t *testing.T) {
	for _, g := range goldenReports {
		for _, format := range Formats {
			t.Run(g.name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := Write(&b, g.report(), format, false); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", g.name+goldenExt[format])
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/diagnose -run TestWrite -update to create it)", err)
				}
				if got := b.String(); got != string(want) {
					t.Errorf("output differs from %s: %s\n(if the change is meant, run go test ./internal/diagnose -run TestWrite -update and review the diff)", path, firstDifference(got, string(want)))
				}
			})
		}
	}
}

// firstDifference describes where got and want part, line by line.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("first difference at line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "same lines, different bytes"
}

// sgrCode matches the SGR sequences the text report emits.
var sgrCode = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestWriteColor(t *testing.T) {
	for _, g := range goldenReports {
		t.Run(g.name, func(t *testing.T) {
			var plain, colored bytes.Buffer
			if err := Write(&plain, g.report(), "text", false); err != nil {
				t.Fatal(err)
			}
			if err := Write(&colored, g.report(), "text", true); err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsRune(plain.Bytes(), 0x1b) {
				t.Errorf("color=false output contains an escape:\n%q", plain.String())
			}
			// Every escape of the coloured output is one the report
			// emits: without them it is the plain output, which has none.
			if stripped := sgrCode.ReplaceAllString(colored.String(), ""); stripped != plain.String() {
				t.Errorf("color=true output without its SGR codes differs from color=false: %s", firstDifference(stripped, plain.String()))
			}
			for _, f := range g.report().Findings {
				want := paint(true, strings.ToUpper(string(f.Severity)), severitySGR(f.Severity))
				if !strings.Contains(colored.String(), want) {
					t.Errorf("color=true output lacks the %s severity in its colour %q", f.Severity, want)
				}
			}
		})
	}
	t.Run("severity colours", func(t *testing.T) {
		for sev, sgr := range map[Severity]string{SeverityCritical: "\x1b[1;31m", SeverityWarning: "\x1b[33m", SeverityInfo: "\x1b[36m"} {
			r := Report{Findings: []Finding{{Rule: "r", Severity: sev, Title: "t"}}}
			var b bytes.Buffer
			if err := Write(&b, r, "text", true); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), sgr+strings.ToUpper(string(sev))+"\x1b[0m") {
				t.Errorf("%s is not coloured %q:\n%q", sev, sgr, b.String())
			}
		}
	})
}

// TestWriteFindingCause: a finding that names a cause shows the cause's
// meaning and a link to its runbook, in text and Markdown; JSON keeps its
// schema. A finding without a cause shows neither.
func TestWriteFindingCause(t *testing.T) {
	c := causes.Get(causes.TLSHandshakeStalling)
	r := Report{Findings: []Finding{
		{Rule: "tls-handshake-stalls", Cause: c.ID, Severity: SeverityCritical, Likelihood: 80, Title: c.Title},
		{Rule: "hand-made", Severity: SeverityInfo, Likelihood: 1, Title: "no cause"},
	}}
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"text", []string{"     meaning: " + c.Meaning + "\n", "     runbook: " + c.Runbook() + "\n"}},
		{"markdown", []string{"   - Meaning: " + mdText(c.Meaning) + "\n", "   - Runbook: [" + string(c.ID) + "](" + c.Runbook() + ")\n"}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, r, tc.format, false); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if strings.Count(b.String(), w) != 1 {
					t.Errorf("output has not once %q:\n%s", w, b.String())
				}
			}
			if n := strings.Count(strings.ToLower(b.String()), "runbook: "); n != 1 {
				t.Errorf("%d runbook lines, want 1: the finding without a cause has none", n)
			}
		})
	}
}

func TestWriteHostileInput(t *testing.T) {
	r := sampleReportHostile()
	for _, format := range Formats {
		for _, color := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/color=%v", format, color), func(t *testing.T) {
				var b bytes.Buffer
				if err := Write(&b, r, format, color); err != nil {
					t.Fatal(err)
				}
				out := sgrCode.ReplaceAllString(b.String(), "")
				if format == "text" && color {
					// Only the report's own codes, never one from the data.
					if strings.Contains(b.String(), "\x1b[31mred") || strings.Contains(b.String(), "\x1b[2J") {
						t.Errorf("an escape sequence from the data reached the output")
					}
				}
				for i, c := range out {
					if c != '\n' && (unicode.IsControl(c) || unicode.Is(unicode.Cf, c)) {
						t.Fatalf("raw %U at byte %d: %q", c, i, out[max(0, i-40):min(len(out), i+40)])
					}
				}
				switch format {
				case "markdown":
					checkMarkdownStructure(t, out, r)
				case "json":
					var decoded struct {
						Endpoints []struct {
							Logs struct {
								Samples []string `json:"samples"`
							} `json:"logs"`
							Warnings []struct {
								Message string `json:"message"`
							} `json:"warnings"`
						} `json:"endpoints"`
					}
					if err := json.Unmarshal(b.Bytes(), &decoded); err != nil {
						t.Fatal(err)
					}
					// JSON keeps the data verbatim: escaping is the encoder's.
					if got, want := decoded.Endpoints[0].Logs.Samples, r.Evidence.Endpoints[0].Logs.Samples; !slices.Equal(got, want) {
						t.Errorf("samples do not round-trip:\n got %q\nwant %q", got, want)
					}
					if got, want := decoded.Endpoints[0].Warnings[0].Message, r.Evidence.Endpoints[0].Warnings[0].Message; got != want {
						t.Errorf("warning message does not round-trip:\n got %q\nwant %q", got, want)
					}
				}
			})
		}
	}
}

// checkMarkdownStructure checks that no data broke the report's
// structure: every table row has its header's cell count, the only
// headings are the report's, and every log sample sits whole in a code
// block.
func checkMarkdownStructure(t *testing.T, md string, r Report) {
	t.Helper()
	blocks, outside := markdownCodeBlocks(t, md)
	headings := []string{
		"## tailscale-tunnel-exporter diagnose", "### Endpoints", "### Side by side", "### Findings",
		"### Warning events", "### Operator", "### Could not check (permissions the run lacked)",
		"### Errors while gathering", "### " + exactHeading, "### Proxy log samples", "### " + policyHeading,
	}
	cells := -1
	for _, line := range outside {
		if strings.HasPrefix(line, "#") && !slices.Contains(headings, line) {
			t.Errorf("heading %q is not the report's", line)
		}
		if !strings.HasPrefix(line, "|") {
			cells = -1
			continue
		}
		n := unescapedPipes(line)
		if cells == -1 {
			cells = n
		} else if n != cells {
			t.Errorf("table row has %d separators, its header %d: %q", n, cells, line)
		}
	}
	inBlocks := strings.Join(blocks, "\n")
	for _, e := range r.Evidence.Endpoints {
		for _, s := range e.Logs.Samples {
			if !slices.Contains(strings.Split(inBlocks, "\n"), cleanText(s)) {
				t.Errorf("sample %q is not a line of a code block", cleanText(s))
			}
		}
	}
}

// markdownCodeBlocks splits md into the contents of its fenced code blocks
// and the lines outside them, as CommonMark reads fences: a block ends at
// a line of only backticks at least as many as its opening fence.
func markdownCodeBlocks(t *testing.T, md string) (blocks, outside []string) {
	t.Helper()
	fence := ""
	var cur []string
	for line := range strings.SplitSeq(md, "\n") {
		if fence == "" {
			if n := len(line) - len(strings.TrimLeft(line, "`")); n >= 3 {
				fence = line[:n]
				cur = nil
				continue
			}
			outside = append(outside, line)
			continue
		}
		if trimmed := strings.TrimRight(line, " "); strings.Trim(trimmed, "`") == "" && len(trimmed) >= len(fence) {
			blocks = append(blocks, strings.Join(cur, "\n"))
			fence = ""
			continue
		}
		cur = append(cur, line)
	}
	if fence != "" {
		t.Errorf("code block opened with %s is never closed", fence)
	}
	return blocks, outside
}

func unescapedPipes(line string) int {
	n, backslashes := 0, 0
	for _, c := range line {
		switch {
		case c == '\\':
			backslashes++
			continue
		case c == '|' && backslashes%2 == 0:
			n++
		}
		backslashes = 0
	}
	return n
}

func TestWriteJSON(t *testing.T) {
	topKeys := []string{"compare", "endpoints", "errors", "findings", "gathered_at", "missing", "operator", "policy", "problems"}
	endpointKeys := []string{
		"backend", "exact_drops", "funnel", "hostname", "http_redirect", "invalid", "logged_served_drops", "logs", "object",
		"obtained_hostname", "pods_listed", "policy", "probes", "provisioned", "proxy_class", "proxy_group", "proxy_pods",
		"requested_hostname", "suffixed", "tags", "warnings",
	}
	probeKeys := []string{
		"cert_expiry", "cert_problem", "duration_seconds", "error", "failed_phase", "http_status", "ip",
		"phases", "reason", "success", "tls_version",
	}
	for _, g := range goldenReports {
		t.Run(g.name, func(t *testing.T) {
			r := g.report()
			var b bytes.Buffer
			if err := Write(&b, r, "json", false); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(b.Bytes(), []byte("}\n")) || !bytes.HasPrefix(b.Bytes(), []byte("{\n  \"")) {
				t.Errorf("not an object indented by 2 spaces ending in a newline: %q...", b.String()[:min(40, b.Len())])
			}
			var m map[string]any
			if err := json.Unmarshal(b.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			checkKeys(t, "report", m, topKeys)
			if m["problems"] != r.Problems() {
				t.Errorf("problems = %v, Report.Problems() = %v", m["problems"], r.Problems())
			}
			if _, err := time.Parse(time.RFC3339, m["gathered_at"].(string)); err != nil {
				t.Errorf("gathered_at: %v", err)
			}
			if (m["compare"] == nil) != (r.Evidence.Compare == nil) {
				t.Errorf("compare = %v, Evidence.Compare = %v", m["compare"], r.Evidence.Compare)
			}
			for _, list := range []string{"findings", "endpoints", "missing", "errors"} {
				if _, ok := m[list].([]any); !ok {
					t.Errorf("%s = %v, want a list", list, m[list])
				}
			}
			if got := len(m["findings"].([]any)); got != len(r.Findings) {
				t.Errorf("%d findings, want %d", got, len(r.Findings))
			}
			for i, f := range m["findings"].([]any) {
				checkKeys(t, "finding", f.(map[string]any), []string{"evidence", "hostname", "likelihood", "next", "rule", "severity", "title"})
				if got := f.(map[string]any)["rule"]; got != r.Findings[i].Rule {
					t.Errorf("finding %d is %v, want %s: findings keep their order", i, got, r.Findings[i].Rule)
				}
			}
			checkKeys(t, "operator", m["operator"].(map[string]any), []string{"found", "pod", "ready", "version", "warning_lines"})
			if (m["policy"] == nil) != (r.Evidence.Policy == nil) {
				t.Errorf("policy = %v, Evidence.Policy = %v", m["policy"], r.Evidence.Policy)
			}
			if p, ok := m["policy"].(map[string]any); ok {
				checkKeys(t, "policy", p, []string{"clients", "default_tags", "error", "error_kind", "lines", "read", "source", "syntax"})
			}
			eps := m["endpoints"].([]any)
			if c, ok := m["compare"].(map[string]any); ok {
				eps = append(eps, c)
			}
			for _, e := range eps {
				e := e.(map[string]any)
				checkKeys(t, "endpoint", e, endpointKeys)
				checkKeys(t, "backend", e["backend"].(map[string]any), []string{"checked", "found", "known", "ready_addresses", "service"})
				checkKeys(t, "logs", e["logs"].(map[string]any), []string{"drops", "events", "lines", "proxies", "rate_limited", "read", "samples", "since"})
				if o, ok := e["object"].(map[string]any); ok {
					checkKeys(t, "object", o, []string{"kind", "name", "namespace", "resource"})
				}
				for _, p := range e["proxy_pods"].([]any) {
					checkKeys(t, "proxy pod", p.(map[string]any), []string{"image", "name", "namespace", "phase", "ready", "restarts", "version"})
				}
				for _, x := range e["exact_drops"].([]any) {
					checkKeys(t, "exact drops", x.(map[string]any), []string{"error", "error_kind", "inbound", "outbound", "pod", "state"})
				}
				for _, w := range e["warnings"].([]any) {
					checkKeys(t, "warning", w.(map[string]any), []string{"count", "last", "message", "reason"})
				}
				for _, ev := range e["logs"].(map[string]any)["events"].([]any) {
					checkKeys(t, "log event", ev.(map[string]any), []string{"count", "family", "kind", "port", "protocol", "reason", "tls_cause"})
				}
				for v, p := range e["probes"].(map[string]any) {
					checkKeys(t, "probe "+v, p.(map[string]any), probeKeys)
				}
				if p, ok := e["policy"].(map[string]any); ok {
					checkKeys(t, "endpoint policy", p, []string{"assumed", "default_tags", "funnel", "ports", "results", "service", "tags"})
					for _, c := range p["results"].([]any) {
						checkKeys(t, "policy check", c.(map[string]any), []string{"check", "fix", "lines", "port", "reason", "verdict"})
					}
				}
			}
		})
	}
	t.Run("incident values", func(t *testing.T) {
		var b bytes.Buffer
		if err := Write(&b, sampleReportIncident(), "json", false); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Endpoints []struct {
				Logs struct {
					Events  []jsonLogEvent   `json:"events"`
					Drops   []jsonDrop       `json:"drops"`
					Proxies []jsonProxyFacts `json:"proxies"`
				} `json:"logs"`
				Probes map[string]jsonProbe `json:"probes"`
			} `json:"endpoints"`
		}
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		direct := got.Endpoints[0].Probes[config.VantageDirect]
		if direct.DurationSeconds != 10 || direct.Phases["connect"] != 0.002 || direct.Reason != "tls_handshake_timeout" || direct.CertExpiry != nil {
			t.Errorf("direct probe = %+v", direct)
		}
		wantFirst := jsonLogEvent{Kind: "drop", Reason: "no_rules_matched", Protocol: "tcp", Family: "ipv6", Port: "other", TLSCause: "none", Count: 6}
		if evs := got.Endpoints[0].Logs.Events; len(evs) == 0 || evs[0] != wantFirst {
			t.Errorf("events = %+v, want first %+v", evs, wantFirst)
		}
		wantDrops := []jsonDrop{{Reason: "no_rules_matched", Family: "ipv6", Class: "peerapi", PortSource: "learned", Count: 6}}
		if drops := got.Endpoints[0].Logs.Drops; !slices.Equal(drops, wantDrops) {
			t.Errorf("drops = %+v, want %+v", drops, wantDrops)
		}
		wantProxy := jsonProxyFacts{Pod: "tailscale/ts-traefik-ingress-abcde-0", Version: "1.80.3", VersionFrom: "log", PeerAPIPort: "learned", PeerAPIIPv6: 36311, HeadRead: true}
		if ps := got.Endpoints[0].Logs.Proxies; len(ps) != 1 || ps[0] != wantProxy {
			t.Errorf("proxies = %+v, want %+v", ps, wantProxy)
		}
	})
}

func checkKeys(t *testing.T, what string, m map[string]any, want []string) {
	t.Helper()
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
		t.Errorf("%s keys = %q, want %q", what, got, want)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteErrors(t *testing.T) {
	t.Run("unknown format", func(t *testing.T) {
		err := Write(&bytes.Buffer{}, sampleReportHealthy(), "yaml", false)
		if err == nil || !strings.Contains(err.Error(), `"yaml"`) || !strings.Contains(err.Error(), "text, json, markdown") {
			t.Errorf("err = %v, want one naming yaml and the accepted formats", err)
		}
	})
	for _, format := range Formats {
		t.Run("failing writer/"+format, func(t *testing.T) {
			broken := errors.New("broken pipe")
			err := Write(failingWriter{broken}, sampleReportIncident(), format, false)
			if !errors.Is(err, broken) || !strings.Contains(err.Error(), format) {
				t.Errorf("err = %v, want the writer's error wrapped with the format", err)
			}
		})
	}
}

func TestWriteDeterministic(t *testing.T) {
	// Maps iterate in a new order every time; the output must not.
	for _, format := range Formats {
		var first bytes.Buffer
		if err := Write(&first, sampleReportIncident(), format, true); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			var b bytes.Buffer
			if err := Write(&b, sampleReportIncident(), format, true); err != nil {
				t.Fatal(err)
			}
			if b.String() != first.String() {
				t.Fatalf("%s output changes between runs: %s", format, firstDifference(b.String(), first.String()))
			}
		}
	}
}

func TestReportCleanText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched", "Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched"},
		{"colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"colour with parameters", "\x1b[1;38;5;196mbold\x1b[m", "bold"},
		{"clear screen", "a\x1b[2Jb\x1b[Hc", `a\x1b[2Jb\x1b[Hc`},
		{"window title", "\x1b]0;pwned\x07after", `\x1b]0;pwned\x07after`},
		{"two-byte escape", "reset\x1bc!", `reset\x1bc!`},
		{"unfinished SGR", "cut\x1b[31", `cut\x1b[31`},
		{"lone escape", "end\x1b", `end\x1b`},
		{"newlines", "one\ntwo\r\n", `one\ntwo\r\n`},
		{"tab", "a\tb", "a b"},
		{"bell and NUL", "a\x07b\x00", `a\x07b\x00`},
		{"C1 CSI", "a\u009b31mb", `a\x9b31mb`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"zero width", "a\u200bb", `a\u200bb`},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
		{"unicode kept", "Grüße …", "Grüße …"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanText(tc.in); got != tc.want {
				t.Errorf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReportVerdict(t *testing.T) {
	f := func(host string, s Severity) Finding { return Finding{Rule: "r", Hostname: host, Severity: s} }
	for _, tc := range []struct {
		name     string
		findings []Finding
		want     string
	}{
		{"none", nil, "no problem found"},
		{"notes only", []Finding{f("a", SeverityInfo), f("b", SeverityInfo)}, "no problem found (2 notes)"},
		{"one", []Finding{f("a", SeverityCritical), f("b", SeverityInfo)}, "1 problem found on 1 endpoint"},
		{"several", []Finding{f("a", SeverityCritical), f("a", SeverityWarning), f("b", SeverityWarning)}, "3 problems found on 2 endpoints"},
		{"not about an endpoint", []Finding{f("", SeverityWarning)}, "1 problem found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict(Report{Findings: tc.findings}); got != tc.want {
				t.Errorf("verdict = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReportProbeCell(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    prober.Result
		ok   bool
		want string
	}{
		{"not probed", prober.Result{}, false, "-"},
		{"ok", prober.Result{Success: true, HTTPStatus: 200, Duration: 35400 * time.Microsecond}, true, "ok 200 in 35ms"},
		{"ok tls only", prober.Result{Success: true, Duration: 1234567 * time.Microsecond}, true, "ok in 1.235s"},
		{"sub-millisecond", prober.Result{Success: true, Duration: 300 * time.Microsecond}, true, "ok in <1ms"},
		{"timeout", prober.Result{Reason: prober.ReasonTLSHandshakeTimeout, Duration: 10 * time.Second}, true, "FAIL tls_handshake_timeout after 10s"},
		{"certificate", prober.Result{Reason: prober.ReasonTLSCertInvalid, CertProb: prober.CertExpired, Duration: 85 * time.Millisecond}, true, "FAIL tls_certificate_invalid (expired) after 85ms"},
		{"status", prober.Result{Reason: prober.ReasonHTTPStatus, HTTPStatus: 503, Duration: 40 * time.Millisecond}, true, "FAIL http_status 503 after 40ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probeCell(tc.r, tc.ok); got != tc.want {
				t.Errorf("probeCell = %q, want %q", got, tc.want)
			}
		})
	}
}

// ---- fixtures ----

var sampleReportAt = time.Date(2026, 11, 24, 9, 33, 0, 0, time.UTC)

const sampleTailnet = ".tailnet-1234.ts.net"

// sampleProxyPod is a ready proxy pod of an Ingress, as the operator names them.
func sampleProxyPod(ns, ingress, suffix string) discovery.ProxyPod {
	return discovery.ProxyPod{
		Namespace: "tailscale", Name: "ts-" + ingress + "-" + suffix + "-0",
		Parent: discovery.Parent{Type: discovery.ParentIngress, Namespace: ns, Name: ingress},
		Ready:  true, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3", Phase: "Running",
	}
}

func sampleOKProbe(d time.Duration) prober.Result {
	return prober.Result{
		Success: true, Start: sampleReportAt.Add(-3 * time.Second), Duration: d,
		Phases: map[prober.Phase]time.Duration{
			prober.PhaseResolve: time.Millisecond, prober.PhaseConnect: 4 * time.Millisecond,
			prober.PhaseTLS: 18 * time.Millisecond, prober.PhaseHTTP: d - 23*time.Millisecond,
		},
		HTTPStatus: 200, TLSVersion: "TLS 1.3",
		CertExpiry: time.Date(2027, 2, 1, 8, 0, 0, 0, time.UTC),
		IP:         net.ParseIP("100.101.102.103"),
	}
}

// sampleReportIncident is REFERENCE.md §1 as the report sees it: the
// cluster tunnel k8s (Ingress kube-system/traefik-ingress) times out in
// the TLS handshake while its proxy drops IPv6 connections; whoami, a
// Funnel in default, is the working endpoint it is compared with.
func sampleReportIncident() Report {
	k8s := EndpointEvidence{
		Hostname: "k8s" + sampleTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindIngress, Namespace: "kube-system", Name: "traefik-ingress",
			Hostname: "k8s" + sampleTailnet, RequestedHostname: "k8s", Provisioned: true,
			Funnel: true, Tags: "tag:k8s", Backend: "traefik:80",
		},
		Warnings: []Warning{{
			Reason: "HTTPSNotEnabled", Message: "HTTPS is not enabled on the tailnet; ingress may not work",
			Count: 3, Last: time.Date(2026, 11, 24, 9, 30, 12, 0, time.UTC),
		}},
		Pods:       []discovery.ProxyPod{sampleProxyPod("kube-system", "traefik-ingress", "abcde")},
		PodsListed: true,
		Probes: map[string]prober.Result{
			config.VantageDirect: {
				Reason: prober.ReasonTLSHandshakeTimeout, FailedPhase: prober.PhaseTLS,
				Start: sampleReportAt.Add(-11 * time.Second), Duration: 10 * time.Second,
				Phases: map[prober.Phase]time.Duration{
					prober.PhaseResolve: time.Millisecond, prober.PhaseConnect: 2 * time.Millisecond,
					prober.PhaseTLS: 10*time.Second - 3*time.Millisecond,
				},
				IP:  net.ParseIP("100.101.102.104"),
				Err: errors.New("tls handshake: context deadline exceeded"),
			},
		},
		Backend: BackendEvidence{Service: "kube-system/traefik:80", Known: true, Found: true},
	}
	whoami := EndpointEvidence{
		Hostname: "whoami" + sampleTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindIngress, Namespace: "default", Name: "whoami",
			Hostname: "whoami" + sampleTailnet, RequestedHostname: "whoami", Provisioned: true,
			Funnel: true, Tags: "tag:k8s", Backend: "whoami:80",
		},
		Pods:       []discovery.ProxyPod{sampleProxyPod("default", "whoami", "fghij")},
		PodsListed: true,
		Logs:       LogSummary{Read: true, Lines: 212, Since: sampleReportAt.Add(-15 * time.Minute)},
		Probes:     map[string]prober.Result{config.VantageDirect: sampleOKProbe(35 * time.Millisecond)},
		Backend:    BackendEvidence{Service: "default/whoami:80", Known: true, Found: true, Checked: true, ReadyAddr: 1},
	}
	// The incident as tailscaled logs it (REFERENCE.md §8, case c): relay
	// connections to the peer API port, then a handshake EOF from each
	// same relay, in a window of 500 lines.
	withLog(&k8s, append([]string{programStarting("v1.80.3"), peerAPIServing}, relayStory()...)...)
	k8s.Logs.Lines, k8s.Logs.Since = 500, sampleReportAt.Add(-15*time.Minute)
	return Report{
		Evidence: Evidence{
			GatheredAt: sampleReportAt,
			Endpoints:  []EndpointEvidence{k8s},
			Compare:    &whoami,
			Operator: OperatorEvidence{
				Found: true, Pod: "operator-6c9d7f8b5-q2w8x", Version: "v1.80.3", Ready: true,
				WarningLines: []string{`{"level":"warn","ts":"2026-11-24T09:30:12Z","logger":"ingress-reconciler","msg":"HTTPS is not enabled on the tailnet; ingress may not work"}`},
			},
			Missing: []string{"list endpointslices.discovery.k8s.io in namespace kube-system"},
		},
		Findings: []Finding{
			{
				Rule: "drops-no-rules-matched", Hostname: "k8s" + sampleTailnet, Severity: SeverityCritical, Likelihood: 90,
				Title: "The proxy's packet filter drops connections to port 443, from IPv6 sources only",
				Evidence: []string{
					"40 logged drops \"no rules matched\" to port 443 since 2026-11-24T09:18:00Z, all from IPv6 sources (a lower bound: tailscaled rate-limited its filter logs)",
					"direct probe failed: tls_handshake_timeout in the tls phase after 9.997s; TCP connected in 2ms",
					"2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:443} 80 no rules matched",
				},
				Next: []string{
					"check the tailnet policy: a grant must let the Funnel relays and your devices reach tag:k8s on port 443",
					"kubectl logs -n tailscale ts-traefik-ingress-abcde-0 -c tailscale | grep 'Drop:'",
				},
			},
			{
				Rule: "funnel-annotation-differs", Hostname: "k8s" + sampleTailnet, Severity: SeverityWarning, Likelihood: 60,
				Title: "Funnel is on for the working endpoint, off for this one",
				Evidence: []string{
					`whoami.tailnet-1234.ts.net: tailscale.com/funnel: "true"`,
					"k8s.tailnet-1234.ts.net: no tailscale.com/funnel annotation",
				},
				Next: []string{`kubectl annotate ingress -n kube-system traefik-ingress tailscale.com/funnel="true"`},
			},
			{
				Rule: "permission-missing", Severity: SeverityInfo, Likelihood: 10,
				Title:    "The backend's readiness could not be checked",
				Evidence: []string{"missing permission: list endpointslices.discovery.k8s.io in namespace kube-system"},
				Next:     []string{"grant list on endpointslices.discovery.k8s.io in kube-system to see whether Traefik has ready pods"},
			},
		},
	}
}

// sampleReportHealthy has nothing wrong and no --compare: the exit-0 case,
// with one note.
func sampleReportHealthy() Report {
	whoami := EndpointEvidence{
		Hostname: "whoami" + sampleTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindIngress, Namespace: "default", Name: "whoami",
			Hostname: "whoami" + sampleTailnet, RequestedHostname: "whoami", Provisioned: true,
			Funnel: true, Backend: "whoami:80",
		},
		Pods:       []discovery.ProxyPod{sampleProxyPod("default", "whoami", "fghij")},
		PodsListed: true,
		Logs:       LogSummary{Read: true, Lines: 87, Since: sampleReportAt.Add(-15 * time.Minute)},
		Probes: map[string]prober.Result{
			config.VantageDirect:  sampleOKProbe(35 * time.Millisecond),
			config.VantageTailnet: sampleOKProbe(48 * time.Millisecond),
		},
		Backend: BackendEvidence{Service: "default/whoami:80", Known: true, Found: true, Checked: true, ReadyAddr: 2},
	}
	web := EndpointEvidence{
		Hostname: "web-1" + sampleTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindService, Namespace: "apps", Name: "web",
			Hostname: "web-1" + sampleTailnet, RequestedHostname: "web", Provisioned: true, Suffixed: true,
			Tags: "tag:k8s,tag:web", ProxyClass: "metrics", Backend: "web:8080",
		},
		Pods: []discovery.ProxyPod{{
			Namespace: "tailscale", Name: "ts-web-klmno-0",
			Parent: discovery.Parent{Type: discovery.ParentService, Namespace: "apps", Name: "web"},
			Ready:  true, Restarts: 1, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3", Phase: "Running",
		}},
		PodsListed: true,
		Logs:       LogSummary{Read: true, Lines: 40, Since: sampleReportAt.Add(-15 * time.Minute)},
		Probes: map[string]prober.Result{
			config.VantageDirect:  sampleOKProbe(41 * time.Millisecond),
			config.VantageTailnet: sampleOKProbe(1234567 * time.Microsecond),
		},
		Backend: BackendEvidence{Service: "apps/web:8080", Known: true, Found: true, Checked: true, ReadyAddr: 1},
	}
	return Report{
		Evidence: Evidence{
			GatheredAt: sampleReportAt,
			Endpoints:  []EndpointEvidence{web, whoami},
			Operator:   OperatorEvidence{Found: true, Pod: "operator-6c9d7f8b5-q2w8x", Version: "v1.80.3", Ready: true},
		},
		Findings: []Finding{{
			Rule: "hostname-suffixed", Hostname: "web-1" + sampleTailnet, Severity: SeverityInfo, Likelihood: 5,
			Title:    "The device got the name web-1, not the requested web",
			Evidence: []string{"Service apps/web asks for web; its status says web-1.tailnet-1234.ts.net"},
			Next:     []string{"remove the stale device named web in the admin console if clients should use web"},
		}},
	}
}

// Hostile strings: what a log line or an Event message could hold to
// drive a terminal or break a Markdown table or code block.
const (
	hostileMessage = "\x1b[31mred\x1b[0m | pipe ``` fence\nsecond line \u202egnp.exe\u009b2J <script>x</script>"
	hostileTitle   = "\x1b]0;pwned\x07title set"
)

// sampleReportHostile carries hostile text in every string that comes from
// the cluster or a log, an endpoint no object claims, and one not
// provisioned yet.
func sampleReportHostile() Report {
	evil := EndpointEvidence{
		Hostname: "evil" + sampleTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindIngress, Namespace: "default", Name: "evil",
			Hostname: "evil" + sampleTailnet, RequestedHostname: "evil", Provisioned: true,
			Tags: "tag:a|b", Backend: "evil:80", Invalid: []string{discovery.AnnotationTags},
		},
		Warnings: []Warning{{Reason: "Bad|Reason\x1b[2J", Message: hostileMessage, Count: 1}},
		Pods: []discovery.ProxyPod{{
			Namespace: "tailscale", Name: "ts-evil-zzzzz-0", Ready: false, Restarts: 7,
			Image: "tailscale/tailscale:v1.78.0|x", Version: "v1.78.0|x", Phase: "Running",
		}},
		PodsListed: true,
		Logs: LogSummary{
			Read: true, Lines: 3, Since: sampleReportAt.Add(-15 * time.Minute),
			Events: map[logmatch.Event]int{
				{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched, Protocol: logmatch.ProtocolUDP, Family: logmatch.FamilyIPv4, Port: logmatch.PortOther}: 2,
				{Kind: logmatch.KindDrop, Reason: logmatch.ReasonOther, Protocol: logmatch.ProtocolTCP, Family: logmatch.FamilyIPv4, Port: logmatch.Port80}:             1,
			},
			Samples: []string{
				hostileTitle,
				"```\n### injected heading\n```",
				"a|b|c \x1b[2J cleared?",
				"bell\x07 c1\u009b31m tab\tend \u2028 line separator",
				strings.Repeat("A", MaxSampleLength) + "…",
				"````` five backticks",
			},
		},
		Probes: map[string]prober.Result{
			config.VantageDirect: {Reason: prober.ReasonTLSCertInvalid, CertProb: prober.CertExpired, FailedPhase: prober.PhaseTLS, Duration: 85 * time.Millisecond,
				Phases:     map[prober.Phase]time.Duration{prober.PhaseConnect: 3 * time.Millisecond, prober.PhaseTLS: 82 * time.Millisecond},
				CertExpiry: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Err: errors.New("x509: certificate has expired\x1b[0m")},
		},
		Backend: BackendEvidence{Service: "default/evil:80", Known: true, Found: false},
		Exact: []ExactDrops{{Pod: "tailscale/ts-evil-zzzzz-0", State: ExactFailed, ErrorKind: proxymetrics.ErrParse,
			Error: "content type \"text/html\x1b[2J|`x`\", want text/plain"}},
	}
	typo := EndpointEvidence{
		Hostname: "typo\x1b[2J|`x`" + sampleTailnet,
		Probes: map[string]prober.Result{
			config.VantageDirect: {Reason: prober.ReasonDNS, FailedPhase: prober.PhaseResolve, Duration: 12 * time.Millisecond,
				Phases: map[prober.Phase]time.Duration{prober.PhaseResolve: 12 * time.Millisecond}},
		},
	}
	pending := EndpointEvidence{
		Hostname: "pending",
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindService, Namespace: "apps", Name: "pending", RequestedHostname: "pending",
			Backend: "pending:80",
		},
		PodsListed: true,
		Backend:    BackendEvidence{Service: "apps/pending:80", Known: true, Found: true, Checked: true},
	}
	working := EndpointEvidence{
		Hostname: "ok" + sampleTailnet,
		Endpoint: &discovery.Endpoint{
			Kind: discovery.KindIngress, Namespace: "default", Name: "ok",
			Hostname: "ok" + sampleTailnet, RequestedHostname: "ok", Provisioned: true, Backend: "ok:80",
		},
		Warnings:   []Warning{{Reason: "NoValidBackends", Message: "```\n| table | break |\n", Count: 2}},
		Pods:       []discovery.ProxyPod{sampleProxyPod("default", "ok", "ppppp")},
		PodsListed: true,
		Logs:       LogSummary{Read: true, Lines: 10, Samples: []string{"```` four"}},
		Probes:     map[string]prober.Result{config.VantageDirect: sampleOKProbe(30 * time.Millisecond)},
		Backend:    BackendEvidence{Service: "default/ok:80", Known: true, Found: true, Checked: true, ReadyAddr: 1},
	}
	return Report{
		Evidence: Evidence{
			GatheredAt: sampleReportAt,
			Endpoints:  []EndpointEvidence{evil, typo, pending},
			Compare:    &working,
			Operator: OperatorEvidence{
				Found: true, Pod: "operator-\x1b[1mx", Version: "v1.80.3", Ready: false,
				WarningLines: []string{"E1124 09:31:00.000000 1 reflector.go:1] ```\x1b[41m" + hostileMessage},
			},
			Missing: []string{"get pods/log in namespace \x1b[31mtailscale"},
			Errors:  []string{"read log of proxy pod tailscale/ts-evil-zzzzz-0: unexpected EOF\n\x1b[2Jmore"},
		},
		Findings: []Finding{
			{
				Rule: "certificate-invalid", Hostname: "evil" + sampleTailnet, Severity: SeverityCritical, Likelihood: 80,
				Title:    "The certificate is expired | `rm -rf` \x1b[5m",
				Evidence: []string{"sample: " + hostileTitle, hostileMessage},
				Next:     []string{"* not a bullet [link](javascript:x) <b>bold</b>"},
			},
			{
				Rule: "endpoint-not-found", Hostname: "typo\x1b[2J|`x`" + sampleTailnet, Severity: SeverityWarning, Likelihood: 50,
				Title: "No Ingress or Service claims the hostname",
			},
			{
				Rule: "not-provisioned", Hostname: "pending", Severity: SeverityWarning, Likelihood: 40,
				Title: "Service apps/pending has no hostname yet",
			},
		},
	}
}
