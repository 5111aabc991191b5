package diagnose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// Formats lists the report formats Write accepts.
var Formats = []string{"text", "json", "markdown"}

// Write writes r to w as format:
//
//   - "text": a report for a terminal, with ANSI colours when color is true;
//   - "json": the schema of jsonReport, for tools;
//   - "markdown": to paste into a GitHub issue.
//
// The output is a function of r alone: maps are sorted, times are UTC
// RFC 3339. Text from the cluster and from logs is untrusted: the text and
// markdown reports strip escape sequences from it and show other control
// characters escaped, so that a log line cannot drive the terminal or break
// out of a table or code block. color is ignored by json and markdown.
func Write(w io.Writer, r Report, format string, color bool) error {
	var b bytes.Buffer
	switch format {
	case "text":
		writeText(&b, newView(r), color)
	case "json":
		if err := writeJSON(&b, r); err != nil {
			return fmt.Errorf("encode json report: %w", err)
		}
	case "markdown":
		writeMarkdown(&b, newView(r))
	default:
		return fmt.Errorf("unknown report format %q (accepted: %s)", format, strings.Join(Formats, ", "))
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	return nil
}

// maxSideBySide is how many endpoints share one side-by-side table with the
// working one; more are split over several tables, which stay readable in
// a terminal of common width.
const maxSideBySide = 2

// ---- the view model ----

// view is everything the text and Markdown reports show, built once from
// a Report. Its strings are cleaned (cleanText): the writers only lay them
// out, and the Markdown writer escapes its markup.
type view struct {
	gathered   string
	verdict    string
	problems   bool
	endpoints  grid   // no rows: no endpoint found
	sideBySide []grid // one per maxSideBySide endpoints, with --compare only
	findings   []findingView
	warnings   []warningView
	operator   string
	opLines    []string // recent warning lines of the operator's log
	missing    []string // permissions the run lacked
	errors     []string
	logs       []logView
	exact      []logView // the proxies' own drop counters, by endpoint
	// policy says where the tailnet policy came from and whether it was
	// read, "" when none was asked for; policies are its verdicts per
	// endpoint (no rows when it was not read).
	policy   string
	policies grid
}

// grid is a table: a header row and rows of cells.
type grid struct {
	head   []string
	rows   []gridRow
	marked bool // rows say whether they differ (side by side)
}

type gridRow struct {
	cells   []gridCell
	differs bool // side by side: differs from the working endpoint
}

type gridCell struct {
	text string
	tone tone
}

// tone is how a cell reads at a glance; the text report colours it.
type tone uint8

const (
	toneNone tone = iota
	toneGood
	toneBad
)

type findingView struct {
	severity   Severity
	likelihood int
	title      string
	where      string // "endpoint ..., rule ..."
	meaning    string // the cause's, "" for a finding without one
	evidence   []string
	next       []string
	cause      string // the cause's ID, "" without one
	runbook    string // the cause's runbook URL
}

type warningView struct{ endpoint, head, message string }

type logView struct {
	endpoint, summary string
	samples           []string
}

func newView(r Report) view {
	ev := r.Evidence
	v := view{
		gathered: reportTime(ev.GatheredAt),
		verdict:  verdict(r),
		problems: r.Problems(),
		operator: operatorLine(ev),
		opLines:  cleanAll(ev.Operator.WarningLines),
		missing:  cleanAll(ev.Missing),
		errors:   cleanAll(ev.Errors),
	}
	all := reportEndpoints(ev)
	v.endpoints = endpointsGrid(all)
	if ev.Policy != nil {
		v.policy = policyLine(ev.Policy)
		v.policies = policyGrid(all)
	}
	if ev.Compare != nil {
		for _, rows := range sideBySideTables(ev) {
			g := grid{head: append([]string{""}, rows[0].cells...), marked: true}
			for _, row := range rows[1:] {
				cells := []gridCell{{text: row.label}}
				for _, c := range row.cells {
					cells = append(cells, gridCell{text: c})
				}
				g.rows = append(g.rows, gridRow{cells: cells, differs: row.differs})
			}
			v.sideBySide = append(v.sideBySide, g)
		}
	}
	for _, f := range r.Findings {
		fv := findingView{
			severity: f.Severity, likelihood: f.Likelihood, title: cleanText(f.Title),
			where: findingWhere(f), evidence: cleanAll(f.Evidence), next: cleanAll(f.Next),
		}
		if c, ok := causes.Lookup(f.Cause); ok {
			fv.meaning, fv.cause, fv.runbook = c.Meaning, string(c.ID), c.Runbook()
		}
		v.findings = append(v.findings, fv)
	}
	for _, e := range all {
		for _, w := range e.Warnings {
			v.warnings = append(v.warnings, warningView{endpointLabel(e), warningHead(w), cleanText(w.Message)})
		}
		if e.Logs.Read || len(e.Logs.Samples) > 0 {
			v.logs = append(v.logs, logView{endpointLabel(e), logsLine(e.Logs), cleanAll(e.Logs.Samples)})
		}
		if len(e.Exact) > 0 {
			v.exact = append(v.exact, exactView(e))
		}
	}
	return v
}

// exactView is an endpoint's exact counts next to its log's, and how the
// read of each proxy pod went.
func exactView(e labelled) logView {
	line := summarizeExact(e.EndpointEvidence).line(e.Logs.Read)
	if line == "" {
		line = "no proxy pod's counters read"
	}
	l := logView{endpoint: endpointLabel(e), summary: line}
	for _, x := range e.Exact {
		l.samples = append(l.samples, cleanText(x.Pod)+": "+exactPodState(x))
	}
	return l
}

func exactPodState(x ExactDrops) string {
	switch x.State {
	case ExactRead:
		var parts []string
		for dir, name := range []string{"inbound", "outbound"} {
			var rs []string
			for r, n := range x.Drops.Count[dir] {
				if n > 0 {
					rs = append(rs, fmt.Sprintf("%s %s", proxymetrics.Reason(r), formatCount(n)))
				}
			}
			if len(rs) == 0 {
				rs = []string{"none"}
			}
			parts = append(parts, name+" "+strings.Join(rs, ", "))
		}
		return "dropped " + strings.Join(parts, "; ")
	case ExactNoPort:
		return "no exact counts (enable ProxyClass spec.metrics.enable)"
	case ExactForbidden:
		return "could not read: forbidden (get pods/proxy)"
	}
	return fmt.Sprintf("could not read (%s): %s", x.ErrorKind, cleanText(x.Error))
}

// endpointsGrid is the table of every endpoint of the report.
func endpointsGrid(all []labelled) grid {
	vantages := reportVantages(all)
	g := grid{head: []string{"Hostname", "Object", "Funnel"}}
	for _, v := range vantages {
		g.head = append(g.head, upperFirst(v)+" probe")
	}
	g.head = append(g.head, "Proxy pods", "Refused 443/80 / relay conns")
	for _, e := range all {
		cells := []gridCell{{text: endpointLabel(e)}, {text: objectCell(e.EndpointEvidence)}, {text: funnelCell(e.EndpointEvidence)}}
		for _, v := range vantages {
			res, ok := e.Probes[v]
			c := gridCell{text: probeCell(res, ok)}
			switch {
			case ok && res.Success:
				c.tone = toneGood
			case ok:
				c.tone = toneBad
			}
			cells = append(cells, c)
		}
		cells = append(cells, gridCell{text: podsCell(e.EndpointEvidence)}, gridCell{text: dropsCell(e.Logs)})
		g.rows = append(g.rows, gridRow{cells: cells})
	}
	return g
}

func cleanAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = cleanText(s)
	}
	return out
}

// ---- text ----

// SGR parameters of the text report.
const (
	sgrBold      = "1"
	sgrBoldRed   = "1;31"
	sgrBoldGreen = "1;32"
	sgrYellow    = "33"
	sgrCyan      = "36"
	sgrDim       = "2"
)

// paint colours s with the SGR parameters when on.
func paint(on bool, s, sgr string) string {
	if !on || s == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

func severitySGR(s Severity) string {
	switch s {
	case SeverityCritical:
		return sgrBoldRed
	case SeverityWarning:
		return sgrYellow
	}
	return sgrCyan
}

func writeText(b *bytes.Buffer, v view, color bool) {
	fmt.Fprintf(b, "%s, gathered %s\n", paint(color, "tailscale-tunnel-exporter diagnose", sgrBold), v.gathered)
	verdictSGR := sgrBoldGreen
	if v.problems {
		verdictSGR = sgrBoldRed
	}
	b.WriteString(paint(color, v.verdict, verdictSGR) + "\n")
	if v.policy != "" {
		b.WriteString("tailnet policy: " + v.policy + "\n")
	}
	heading := func(s string) { b.WriteString("\n" + paint(color, s, sgrBold) + "\n") }

	heading("Endpoints")
	if len(v.endpoints.rows) == 0 {
		b.WriteString("  none found\n")
	} else {
		writeTextGrid(b, v.endpoints, color)
	}
	for i, g := range v.sideBySide {
		if i == 0 {
			heading("Side by side (* differs from the working endpoint)")
		} else {
			b.WriteString("\n")
		}
		writeTextGrid(b, g, color)
	}
	if len(v.policies.rows) > 0 {
		heading(policyHeading)
		writeTextGrid(b, v.policies, color)
	}

	heading("Findings")
	if len(v.findings) == 0 {
		b.WriteString("  none\n")
	}
	for i, f := range v.findings {
		fmt.Fprintf(b, "%3d. %s (%d%%) %s\n", i+1,
			paint(color, strings.ToUpper(string(f.severity)), severitySGR(f.severity)), f.likelihood, paint(color, f.title, sgrBold))
		if f.where != "" {
			b.WriteString("     " + f.where + "\n")
		}
		if f.meaning != "" {
			b.WriteString("     meaning: " + f.meaning + "\n")
		}
		writeTextList(b, "evidence", f.evidence)
		writeTextList(b, "next", f.next)
		if f.runbook != "" {
			b.WriteString("     runbook: " + f.runbook + "\n")
		}
	}

	if len(v.warnings) > 0 {
		heading("Warning events")
		for _, w := range v.warnings {
			fmt.Fprintf(b, "  %s: %s\n", w.endpoint, paint(color, w.head, sgrYellow))
			if w.message != "" {
				b.WriteString("    " + w.message + "\n")
			}
		}
	}

	heading("Operator")
	b.WriteString("  " + v.operator + "\n")
	if len(v.opLines) > 0 {
		b.WriteString("  recent warning lines:\n")
		for _, l := range v.opLines {
			b.WriteString("    " + l + "\n")
		}
	}
	for _, sec := range v.lists() {
		heading(sec.title)
		for _, s := range sec.items {
			b.WriteString("  - " + s + "\n")
		}
	}
	if len(v.exact) > 0 {
		heading(exactHeading)
		for _, l := range v.exact {
			fmt.Fprintf(b, "  %s: %s\n", l.endpoint, l.summary)
			for _, p := range l.samples {
				b.WriteString("    " + p + "\n")
			}
		}
	}
	if len(v.logs) > 0 {
		heading("Proxy log samples")
		for _, l := range v.logs {
			fmt.Fprintf(b, "  %s: %s\n", l.endpoint, l.summary)
			for _, s := range l.samples {
				b.WriteString("    " + paint(color, s, sgrDim) + "\n")
			}
		}
	}
}

func writeTextList(b *bytes.Buffer, name string, items []string) {
	if len(items) == 0 {
		return
	}
	b.WriteString("     " + name + ":\n")
	for _, s := range items {
		b.WriteString("       - " + s + "\n")
	}
}

// writeTextGrid lays a grid out with text/tabwriter, indented by two
// spaces. tabwriter counts colour codes as width, so with colour every
// cell carries codes of the same length (gridSGR): the columns stay
// aligned, and without the codes the output is the uncoloured one.
func writeTextGrid(b *bytes.Buffer, g grid, color bool) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	line := func(cells []string, sgr func(i int) string) {
		for i, c := range cells {
			if i > 0 {
				tw.Write([]byte{'\t'})
			}
			if color {
				c = "\x1b[" + sgr(i) + "m" + c + "\x1b[0m"
			}
			io.WriteString(tw, c)
		}
		tw.Write([]byte{'\n'})
	}
	tw.Write([]byte("  "))
	line(g.head, func(int) string { return "01;39" })
	for _, row := range g.rows {
		cells := make([]string, len(row.cells))
		for i, c := range row.cells {
			cells[i] = c.text
		}
		switch {
		case row.differs:
			cells[0] = "* " + cells[0]
		case g.marked:
			cells[0] = "  " + cells[0]
		}
		tw.Write([]byte("  "))
		line(cells, func(i int) string { return gridSGR(row, i) })
	}
	tw.Flush()
}

// gridSGR is the colour of cell i of a row, always five characters.
func gridSGR(row gridRow, i int) string {
	switch {
	case row.differs:
		return "01;33"
	case row.cells[i].tone == toneGood:
		return "00;32"
	case row.cells[i].tone == toneBad:
		return "00;31"
	}
	return "00;39"
}

// exactHeading heads the proxies' own counters in the text and Markdown
// reports.
const exactHeading = "Exact drop counts (the proxies' own metrics, through the API server's pod proxy)"

// section is a heading with a list, as the text and Markdown reports share.
type section struct {
	title string
	items []string
}

func (v view) lists() []section {
	var out []section
	if len(v.missing) > 0 {
		out = append(out, section{"Could not check (permissions the run lacked)", v.missing})
	}
	if len(v.errors) > 0 {
		out = append(out, section{"Errors while gathering", v.errors})
	}
	return out
}

// ---- markdown ----

func writeMarkdown(b *bytes.Buffer, v view) {
	b.WriteString("## tailscale-tunnel-exporter diagnose\n\n")
	fmt.Fprintf(b, "Gathered %s: **%s**.\n", v.gathered, v.verdict)
	if v.policy != "" {
		b.WriteString("\nTailnet policy: " + mdText(v.policy) + ".\n")
	}

	b.WriteString("\n### Endpoints\n\n")
	if len(v.endpoints.rows) == 0 {
		b.WriteString("None found.\n")
	} else {
		mdTable(b, v.endpoints)
	}
	if len(v.sideBySide) > 0 {
		b.WriteString("\n### Side by side\n\nRows in bold differ from the working endpoint.\n")
		for _, g := range v.sideBySide {
			b.WriteString("\n")
			mdTable(b, g)
		}
	}
	if len(v.policies.rows) > 0 {
		b.WriteString("\n### " + policyHeading + "\n\n")
		mdTable(b, v.policies)
	}

	b.WriteString("\n### Findings\n\n")
	if len(v.findings) == 0 {
		b.WriteString("None.\n")
	}
	for i, f := range v.findings {
		num := strconv.Itoa(i+1) + ". "
		indent := strings.Repeat(" ", len(num))
		fmt.Fprintf(b, "%s**%s** (likelihood %d%%) %s", num, strings.ToUpper(string(f.severity)), f.likelihood, mdText(f.title))
		if f.where != "" {
			b.WriteString(" — " + mdText(f.where))
		}
		b.WriteString("\n")
		if f.meaning != "" {
			b.WriteString(indent + "- Meaning: " + mdText(f.meaning) + "\n")
		}
		for _, part := range []section{{"Evidence", f.evidence}, {"Next", f.next}} {
			if len(part.items) == 0 {
				continue
			}
			b.WriteString(indent + "- " + part.title + ":\n")
			for _, s := range part.items {
				b.WriteString(indent + "  - " + mdText(s) + "\n")
			}
		}
		if f.runbook != "" {
			// Both come from the catalog, not from the cluster.
			b.WriteString(indent + "- Runbook: [" + f.cause + "](" + f.runbook + ")\n")
		}
	}

	if len(v.warnings) > 0 {
		b.WriteString("\n### Warning events\n\n")
		for _, w := range v.warnings {
			fmt.Fprintf(b, "- %s: **%s**", mdText(w.endpoint), mdText(w.head))
			if w.message != "" {
				b.WriteString(": " + mdText(w.message))
			}
			b.WriteString("\n")
		}
	}

	b.WriteString("\n### Operator\n\n")
	b.WriteString(upperFirst(mdText(v.operator)) + ".\n")
	if len(v.opLines) > 0 {
		b.WriteString("\nRecent warning lines:\n\n")
		mdCodeBlock(b, v.opLines)
	}
	for _, sec := range v.lists() {
		b.WriteString("\n### " + sec.title + "\n\n")
		for _, s := range sec.items {
			b.WriteString("- " + mdText(s) + "\n")
		}
	}
	if len(v.exact) > 0 {
		b.WriteString("\n### " + exactHeading + "\n")
		for _, l := range v.exact {
			fmt.Fprintf(b, "\n**%s**: %s\n\n", mdText(l.endpoint), mdText(l.summary))
			for _, p := range l.samples {
				b.WriteString("- " + mdText(p) + "\n")
			}
		}
	}
	if len(v.logs) > 0 {
		b.WriteString("\n### Proxy log samples\n")
		for _, l := range v.logs {
			fmt.Fprintf(b, "\n**%s**: %s\n", mdText(l.endpoint), mdText(l.summary))
			if len(l.samples) > 0 {
				b.WriteString("\n")
				mdCodeBlock(b, l.samples)
			}
		}
	}
}

// mdTable writes a grid as a GitHub table; rows that differ are bold.
func mdTable(b *bytes.Buffer, g grid) {
	row := func(cells []string, bold bool) {
		b.WriteString("|")
		for _, c := range cells {
			c = mdText(c)
			if bold && c != "" {
				c = "**" + c + "**"
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	row(g.head, false)
	b.WriteString("|" + strings.Repeat("---|", len(g.head)) + "\n")
	for _, r := range g.rows {
		cells := make([]string, len(r.cells))
		for i, c := range r.cells {
			cells[i] = c.text
		}
		row(cells, r.differs)
	}
}

// mdCodeBlock writes lines in a fenced code block whose fence is longer
// than any run of backticks in them, so that none can close it.
func mdCodeBlock(b *bytes.Buffer, lines []string) {
	cleaned := make([]string, len(lines))
	longest := 0
	for i, l := range lines {
		cleaned[i] = cleanText(l)
		run := 0
		for _, c := range cleaned[i] {
			if c == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	b.WriteString(fence + "text\n")
	for _, l := range cleaned {
		b.WriteString(l + "\n")
	}
	b.WriteString(fence + "\n")
}

// mdText cleans s and escapes what Markdown would read as markup: emphasis,
// code, links, HTML and table cell separators.
func mdText(s string) string {
	s = cleanText(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*[]<>|~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// ---- shared by text and markdown ----

// labelled is an endpoint of the report with its role.
type labelled struct {
	*EndpointEvidence
	working bool // the --compare endpoint
}

func reportEndpoints(ev Evidence) []labelled {
	var out []labelled
	for i := range ev.Endpoints {
		out = append(out, labelled{EndpointEvidence: &ev.Endpoints[i]})
	}
	if ev.Compare != nil {
		out = append(out, labelled{EndpointEvidence: ev.Compare, working: true})
	}
	return out
}

func endpointLabel(e labelled) string {
	h := cleanText(e.Hostname)
	if h == "" && e.Endpoint != nil {
		h = cleanText(e.Endpoint.HostnameLabel())
	}
	if e.working {
		h += " (working)"
	}
	return h
}

// reportVantages are the probe columns: direct and tailnet always, then any
// other vantage a result names.
func reportVantages(all []labelled) []string {
	out := []string{config.VantageDirect, config.VantageTailnet}
	var more []string
	for _, e := range all {
		for v := range e.Probes {
			if !slices.Contains(out, v) && !slices.Contains(more, v) {
				more = append(more, v)
			}
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// verdict is the report's one-line conclusion.
func verdict(r Report) string {
	problems, notes := 0, 0
	hosts := map[string]bool{}
	for _, f := range r.Findings {
		if f.Severity == SeverityInfo {
			notes++
			continue
		}
		problems++
		if f.Hostname != "" {
			hosts[f.Hostname] = true
		}
	}
	if problems == 0 {
		if notes > 0 {
			return "no problem found (" + plural(notes, "note") + ")"
		}
		return "no problem found"
	}
	v := plural(problems, "problem") + " found"
	if len(hosts) > 0 {
		v += " on " + plural(len(hosts), "endpoint")
	}
	return v
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func findingWhere(f Finding) string {
	var parts []string
	if f.Hostname != "" {
		parts = append(parts, "endpoint "+cleanText(f.Hostname))
	}
	if f.Rule != "" {
		parts = append(parts, "rule "+cleanText(f.Rule))
	}
	return strings.Join(parts, ", ")
}

func objectCell(e *EndpointEvidence) string {
	if e.Endpoint == nil {
		return "no object claims it"
	}
	o := e.Endpoint.Object()
	s := cleanText(o.Resource + " " + o.Namespace + "/" + o.Name)
	if !e.Endpoint.Provisioned {
		s += " (not provisioned)"
	}
	return s
}

func funnelCell(e *EndpointEvidence) string {
	if e.Endpoint == nil {
		return "-"
	}
	return yesNo(e.Endpoint.Funnel)
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// probeCell is one probe in a few words: "ok 200 in 35ms",
// "FAIL tls_handshake_timeout after 10s", "-" when not probed.
func probeCell(r prober.Result, ok bool) string {
	if !ok {
		return "-"
	}
	if r.Success {
		s := "ok"
		if r.HTTPStatus != 0 {
			s += " " + strconv.Itoa(r.HTTPStatus)
		}
		return s + " in " + reportDuration(r.Duration)
	}
	s := "FAIL"
	if r.Reason != prober.ReasonNone {
		s += " " + string(r.Reason)
	}
	if r.CertProb != prober.CertOK {
		s += " (" + string(r.CertProb) + ")"
	}
	if r.HTTPStatus != 0 {
		s += " " + strconv.Itoa(r.HTTPStatus)
	}
	return s + " after " + reportDuration(r.Duration)
}

// phasesCell lists the phases a probe ran, the failed one marked.
func phasesCell(r prober.Result, ok bool) string {
	if !ok || len(r.Phases) == 0 {
		return "-"
	}
	var parts []string
	for _, ph := range prober.Phases {
		d, ran := r.Phases[ph]
		if !ran {
			continue
		}
		s := string(ph) + " " + reportDuration(d)
		if ph == r.FailedPhase {
			s = string(ph) + " failed after " + reportDuration(d)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// reportDuration rounds to the millisecond, the resolution that matters
// to a person.
func reportDuration(d time.Duration) string {
	if d > 0 && d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}

func reportTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func podsCell(e *EndpointEvidence) string {
	switch {
	case e.Endpoint == nil:
		return "-"
	case len(e.Pods) == 0 && !e.PodsListed:
		return "unknown"
	case len(e.Pods) == 0:
		return "none"
	}
	ready, restarts := 0, int32(0)
	for _, p := range e.Pods {
		if p.Ready {
			ready++
		}
		restarts += p.Restarts
	}
	return fmt.Sprintf("%d/%d ready, %s", ready, len(e.Pods), plural(int(restarts), "restart"))
}

func versionsCell(e *EndpointEvidence) string {
	vs := make([]string, 0, len(e.Pods))
	for _, p := range e.Pods {
		vs = append(vs, p.Version)
	}
	return joinDistinct(vs, "-")
}

// joinDistinct lists the distinct cleaned values, sorted, or none when
// there are none.
func joinDistinct(vs []string, none string) string {
	var out []string
	for _, v := range vs {
		if v = cleanText(v); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return none
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// logCounts sums the log events the side-by-side table shows.
type logCounts struct {
	// refused are drops at a served port (443, 80), by source family:
	// clients the tailnet policy does not allow.
	refused map[logmatch.Family]int
	// relays are TCP drops from IPv6 at the peer API port: Funnel relay
	// connections, which tailscaled lets through.
	relays int
	// elsewhere are no-rules drops to any other port (and peer API
	// drops from IPv4 peers), by class.
	elsewhere      map[logmatch.DropClass]int
	otherDrops     map[string]int // by "reason family"
	tlsErrors      int
	tlsByCause     map[logmatch.TLSCause]int
	denied         int
	deniedByFamily map[logmatch.Family]int
}

func countLogs(l LogSummary) logCounts {
	c := logCounts{
		refused: map[logmatch.Family]int{}, elsewhere: map[logmatch.DropClass]int{},
		otherDrops: map[string]int{}, tlsByCause: map[logmatch.TLSCause]int{},
		deniedByFamily: map[logmatch.Family]int{},
	}
	for k, n := range l.Drops {
		switch {
		case k.Reason != logmatch.ReasonNoRulesMatched:
			c.otherDrops[k.Reason.String()+" "+k.Family.String()] += n
		case k.Class == logmatch.DropClassServed:
			c.refused[k.Family] += n
		case k.Class == logmatch.DropClassPeerAPI && k.Family == logmatch.FamilyIPv6:
			c.relays += n
		default:
			c.elsewhere[k.Class] += n
		}
	}
	for ev, n := range l.Events {
		switch ev.Kind {
		case logmatch.KindTLSHandshakeError:
			c.tlsErrors += n
			c.tlsByCause[ev.TLSCause] += n
		case logmatch.KindIngressDenied:
			c.denied += n
			c.deniedByFamily[ev.Family] += n
		}
	}
	return c
}

// dropsCell is the endpoints table's drops: refused at a served port (a
// real drop), then Funnel relay connections (not a failure).
func dropsCell(l LogSummary) string {
	if !l.Read {
		return "-"
	}
	c := countLogs(l)
	refused := 0
	for _, n := range c.refused {
		refused += n
	}
	s := fmt.Sprintf("%d / %d", refused, c.relays)
	if l.RateLimit {
		s += ", rate limited"
	}
	return s
}

// countsCell writes "12 (eof: 12)": a total and its non-zero parts in
// enumeration order.
func countsCell[K ~uint8](total int, parts map[K]int, name func(K) string) string {
	if total == 0 {
		return "none"
	}
	keys := make([]K, 0, len(parts))
	for k, n := range parts {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var ps []string
	for _, k := range keys {
		ps = append(ps, fmt.Sprintf("%s: %d", name(k), parts[k]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(ps, ", "))
}

// nonZero names the keys of parts with a count, sorted: the shape of a
// count, compared between endpoints instead of the numbers.
func nonZero[K comparable](parts map[K]int, name func(K) string) string {
	var ks []string
	for k, n := range parts {
		if n > 0 {
			ks = append(ks, name(k))
		}
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func warningHead(w Warning) string {
	s := cleanText(w.Reason)
	if w.Count > 1 {
		s += fmt.Sprintf(" (x%d)", w.Count)
	}
	if !w.Last.IsZero() {
		s += ", last " + reportTime(w.Last)
	}
	return s
}

func operatorLine(ev Evidence) string {
	o := ev.Operator
	if !o.Found && !podsListed(ev) {
		return "not checked (no pods of the operator namespace were read)"
	}
	if !o.Found {
		return "not found in the operator namespace"
	}
	ready := "not ready"
	if o.Ready {
		ready = "ready"
	}
	version := cleanText(o.Version)
	if version == "" {
		version = "unknown"
	}
	return fmt.Sprintf("pod %s, version %s, %s", cleanText(o.Pod), version, ready)
}

// podsListed reports whether the operator namespace's pods were read.
func podsListed(ev Evidence) bool {
	if ev.Compare != nil && ev.Compare.PodsListed {
		return true
	}
	return slices.ContainsFunc(ev.Endpoints, func(e EndpointEvidence) bool { return e.PodsListed })
}

func logsLine(l LogSummary) string {
	if !l.Read {
		return "no log could be read"
	}
	s := plural(l.Lines, "line") + " read"
	if !l.Since.IsZero() {
		s += " since " + reportTime(l.Since)
	}
	if len(l.Events) == 0 {
		s += ", none matched"
	}
	if l.RateLimit {
		s += "; tailscaled rate-limited its filter logs, so counts are a lower bound"
	}
	if classes := dropClasses(l); classes != "" {
		s += "; drops by where they went: " + classes
	}
	for _, p := range l.Proxies {
		s += "; " + proxyFactsLine(p)
	}
	return s
}

// dropClasses sums the drops by class: "peerapi 6, served 2".
func dropClasses(l LogSummary) string {
	by := map[logmatch.DropClass]int{}
	for k, n := range l.Drops {
		by[k.Class] += n
	}
	var parts []string
	for _, c := range logmatch.DropClasses() {
		if by[c] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c, by[c]))
		}
	}
	return strings.Join(parts, ", ")
}

// proxyFactsLine says what a log read tells about its proxy.
func proxyFactsLine(p ProxyFacts) string {
	version := "version unknown"
	switch p.VersionFrom {
	case VersionFromLog:
		version = "tailscaled " + versionString(p.Version) + " (from its log)"
	case VersionFromImage:
		version = "tailscaled " + versionString(p.Version) + " (from its image tag)"
	}
	return fmt.Sprintf("%s: %s, peer API port %s", cleanText(p.Pod), version, p.PeerAPIFrom)
}

// sideRow is one row of the side-by-side table. key, when set, is what is
// compared instead of the cells (a probe's outcome, not its duration).
type sideRow struct {
	label   string
	cells   []string
	keys    []string
	differs bool
}

// sideBySideTables compares the endpoints asked about with the working
// one, maxSideBySide endpoints per table, the working one last in each.
func sideBySideTables(ev Evidence) [][]sideRow {
	var out [][]sideRow
	for start := 0; start < len(ev.Endpoints) || start == 0; start += maxSideBySide {
		cols := []labelled{}
		for i := start; i < min(start+maxSideBySide, len(ev.Endpoints)); i++ {
			cols = append(cols, labelled{EndpointEvidence: &ev.Endpoints[i]})
		}
		cols = append(cols, labelled{EndpointEvidence: ev.Compare, working: true})
		out = append(out, sideBySide(cols))
	}
	return out
}

func sideBySide(cols []labelled) []sideRow {
	head := sideRow{label: ""}
	for _, e := range cols {
		head.cells = append(head.cells, endpointLabel(e))
	}
	rows := []sideRow{head}
	// add appends a row; identity rows (names) always differ and are not
	// marked.
	add := func(label string, identity bool, value func(e *EndpointEvidence) (cell, key string)) {
		row := sideRow{label: label}
		for _, e := range cols {
			c, k := value(e.EndpointEvidence)
			row.cells = append(row.cells, c)
			row.keys = append(row.keys, k)
		}
		if !slices.ContainsFunc(row.cells, func(c string) bool { return c != "-" }) {
			return // known of no endpoint (no cluster read): noise
		}
		if !identity {
			working := row.keys[len(row.keys)-1]
			row.differs = slices.ContainsFunc(row.keys, func(k string) bool { return k != working })
		}
		rows = append(rows, row)
	}
	same := func(f func(e *EndpointEvidence) string) func(e *EndpointEvidence) (string, string) {
		return func(e *EndpointEvidence) (string, string) { s := f(e); return s, s }
	}
	obj := func(f func(o *discovery.Endpoint) string) func(e *EndpointEvidence) (string, string) {
		return same(func(e *EndpointEvidence) string {
			if e.Endpoint == nil {
				return "-"
			}
			return f(e.Endpoint)
		})
	}
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return cleanText(s)
	}

	add("namespace", false, obj(func(o *discovery.Endpoint) string { return cleanText(o.Namespace) }))
	add("kind", false, obj(func(o *discovery.Endpoint) string { return string(o.Kind) }))
	add("object name", true, obj(func(o *discovery.Endpoint) string { return cleanText(o.Name) }))
	add("requested hostname", true, obj(func(o *discovery.Endpoint) string { return orDash(o.RequestedHostname) }))
	add("obtained hostname", false, func(e *EndpointEvidence) (string, string) {
		if e.Endpoint == nil {
			return "-", "-"
		}
		s := orDash(e.Endpoint.Hostname)
		if e.Endpoint.Suffixed {
			s += " (suffixed)"
		}
		return s, strconv.FormatBool(e.Endpoint.Suffixed)
	})
	add("provisioned", false, obj(func(o *discovery.Endpoint) string { return yesNo(o.Provisioned) }))
	add("funnel", false, obj(func(o *discovery.Endpoint) string { return yesNo(o.Funnel) }))
	add("tags", false, obj(func(o *discovery.Endpoint) string {
		if o.Tags == "" {
			return "operator default"
		}
		return cleanText(o.Tags)
	}))
	add("proxy class", false, obj(func(o *discovery.Endpoint) string { return orDash(o.ProxyClass) }))
	add("proxy group", false, obj(func(o *discovery.Endpoint) string { return orDash(o.ProxyGroup) }))
	add("invalid values", false, obj(func(o *discovery.Endpoint) string {
		if len(o.Invalid) == 0 {
			return "none"
		}
		return cleanText(strings.Join(o.Invalid, ", "))
	}))
	add("backend", false, func(e *EndpointEvidence) (string, string) {
		if e.Endpoint == nil {
			return "-", "-"
		}
		state := backendState(e.Backend)
		if e.Backend.Service == "" {
			return state, state
		}
		return cleanText(e.Backend.Service) + ": " + state, state
	})
	add("warning events", false, same(func(e *EndpointEvidence) string {
		if e.Endpoint == nil {
			return "-"
		}
		rs := make([]string, 0, len(e.Warnings))
		for _, w := range e.Warnings {
			rs = append(rs, w.Reason)
		}
		return joinDistinct(rs, "none")
	}))
	add("proxy pods", false, func(e *EndpointEvidence) (string, string) {
		ready, restarted := true, false
		for _, p := range e.Pods {
			ready = ready && p.Ready
			restarted = restarted || p.Restarts > 0
		}
		return podsCell(e), fmt.Sprint(len(e.Pods) > 0, ready, restarted, e.PodsListed)
	})
	add("proxy version", false, same(versionsCell))
	add("proxy log", false, func(e *EndpointEvidence) (string, string) {
		if !e.Logs.Read {
			return "not read", "not read"
		}
		s := plural(e.Logs.Lines, "line")
		if e.Logs.RateLimit {
			s += ", rate limited"
		}
		return s, strconv.FormatBool(e.Logs.RateLimit)
	})
	logRow := func(label string, value func(c logCounts) (string, string)) {
		add(label, false, func(e *EndpointEvidence) (string, string) {
			if !e.Logs.Read {
				return "-", "-"
			}
			return value(countLogs(e.Logs))
		})
	}
	logRow("refused at 443/80", func(c logCounts) (string, string) {
		total := 0
		for _, n := range c.refused {
			total += n
		}
		return countsCell(total, c.refused, logmatch.Family.String), nonZero(c.refused, logmatch.Family.String)
	})
	logRow("relay connections", func(c logCounts) (string, string) {
		return strconv.Itoa(c.relays), strconv.FormatBool(c.relays > 0)
	})
	logRow("no-rules drops elsewhere", func(c logCounts) (string, string) {
		total := 0
		for _, n := range c.elsewhere {
			total += n
		}
		return countsCell(total, c.elsewhere, logmatch.DropClass.String), nonZero(c.elsewhere, logmatch.DropClass.String)
	})
	logRow("other drops", func(c logCounts) (string, string) {
		var ks []string
		for k, n := range c.otherDrops {
			if n > 0 {
				ks = append(ks, k)
			}
		}
		if len(ks) == 0 {
			return "none", ""
		}
		slices.Sort(ks)
		var ps []string
		for _, k := range ks {
			ps = append(ps, fmt.Sprintf("%s: %d", k, c.otherDrops[k]))
		}
		return strings.Join(ps, ", "), strings.Join(ks, ",")
	})
	logRow("TLS handshake errors", func(c logCounts) (string, string) {
		return countsCell(c.tlsErrors, c.tlsByCause, logmatch.TLSCause.String), nonZero(c.tlsByCause, logmatch.TLSCause.String)
	})
	logRow("ingress denials", func(c logCounts) (string, string) {
		return countsCell(c.denied, c.deniedByFamily, logmatch.Family.String), nonZero(c.deniedByFamily, logmatch.Family.String)
	})
	add("exact drops", false, func(e *EndpointEvidence) (string, string) {
		x := summarizeExact(e)
		if x.read == 0 {
			return "-", "-"
		}
		cell := "none"
		if len(x.inbound) > 0 {
			cell = strings.Join(x.inbound, ", ")
		}
		return cell, strconv.FormatBool(x.acl > 0)
	})
	for _, v := range reportVantages(cols) {
		if !slices.ContainsFunc(cols, func(e labelled) bool { _, ok := e.Probes[v]; return ok }) {
			continue
		}
		add(v+" probe", false, func(e *EndpointEvidence) (string, string) {
			r, ok := e.Probes[v]
			return probeCell(r, ok), fmt.Sprint(ok, r.Success, r.Reason, r.CertProb, r.HTTPStatus)
		})
		add(v+" phases", false, func(e *EndpointEvidence) (string, string) {
			r, ok := e.Probes[v]
			return phasesCell(r, ok), string(r.FailedPhase)
		})
	}
	return rows
}

func backendState(b BackendEvidence) string {
	switch {
	case b.Service == "":
		return "none named"
	case !b.Known:
		return "unknown"
	case !b.Found:
		return "missing"
	case !b.Checked:
		return "exists, readiness unknown"
	case b.ReadyAddr == 0:
		return "exists, no ready address"
	}
	return "exists, " + plural(b.ReadyAddr, "ready address")
}

// cleanText makes a string from the cluster or a log safe to print on a
// terminal and in one table cell. Colour codes (SGR sequences, common in
// logs) are dropped; every other control or format character is shown
// escaped ("\x1b[2J", "\n", "\u202e" for a bidi override, "\x9b" for
// the 8-bit CSI), so an attempt to drive the terminal stays visible but
// inert. Tabs become spaces, invalid UTF-8 becomes U+FFFD.
func cleanText(s string) string {
	if isPlain(s) {
		return s
	}
	s = sgrSequence.ReplaceAllString(strings.ToValidUTF8(s, "\uFFFD"), "")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029':
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII, the common case.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// sgrSequence is an SGR sequence ("ESC [ digits;... m"): colour, which
// cleanText drops.
var sgrSequence = regexp.MustCompile("\x1b\\[[0-9;]*m")

// ---- json ----

// jsonReport is the JSON report. Its field names are a documented,
// stable schema: fields may be added, never renamed or removed. Times are
// RFC 3339 in UTC (null when unknown), durations float seconds, and lists
// are [] rather than null when empty.
type jsonReport struct {
	GatheredAt string         `json:"gathered_at"`
	Problems   bool           `json:"problems"` // a critical or warning finding: the command exits 1
	Findings   []jsonFinding  `json:"findings"` // most likely first
	Endpoints  []jsonEndpoint `json:"endpoints"`
	Compare    *jsonEndpoint  `json:"compare"` // the working endpoint of --compare, or null
	Operator   jsonOperator   `json:"operator"`
	Missing    []string       `json:"missing"` // permissions the run lacked
	Errors     []string       `json:"errors"`  // other failures while gathering
	Policy     *jsonPolicy    `json:"policy"`  // the tailnet policy; null when none was asked for
}

type jsonFinding struct {
	Rule       string   `json:"rule"`
	Hostname   string   `json:"hostname"`
	Severity   string   `json:"severity"`   // critical, warning, info
	Likelihood int      `json:"likelihood"` // 0..100
	Title      string   `json:"title"`
	Evidence   []string `json:"evidence"`
	Next       []string `json:"next"`
}

type jsonEndpoint struct {
	Hostname          string               `json:"hostname"` // as asked, or discovered
	Object            *jsonObject          `json:"object"`   // null when no Ingress or Service claims the hostname
	RequestedHostname string               `json:"requested_hostname"`
	ObtainedHostname  string               `json:"obtained_hostname"` // the status' FQDN, "" until provisioned
	Provisioned       bool                 `json:"provisioned"`
	Suffixed          bool                 `json:"suffixed"`
	Funnel            bool                 `json:"funnel"`
	HTTPRedirect      bool                 `json:"http_redirect"`
	Tags              string               `json:"tags"` // sorted, comma-joined; "" for the operator's default
	ProxyClass        string               `json:"proxy_class"`
	ProxyGroup        string               `json:"proxy_group"`
	Invalid           []string             `json:"invalid"` // annotations the operator will not accept as meant
	Backend           jsonBackend          `json:"backend"`
	Warnings          []jsonWarning        `json:"warnings"` // latest first
	ProxyPods         []jsonProxyPod       `json:"proxy_pods"`
	PodsListed        bool                 `json:"pods_listed"` // false: proxy_pods is unknown, not empty
	Logs              jsonLogs             `json:"logs"`
	Probes            map[string]jsonProbe `json:"probes"` // by vantage: direct, tailnet
	// ExactDrops are the proxy pods' own drop counters, one per proxy pod
	// (pending ones left out); LoggedServedDrops the drop lines to a
	// served port (443, 80) the log read shows, to set beside them.
	ExactDrops        []jsonExactDrops `json:"exact_drops"`
	LoggedServedDrops int              `json:"logged_served_drops"`
	// Policy is what the tailnet policy says about it; null when no
	// policy was read.
	Policy *jsonEndpointPolicy `json:"policy"`
}

// jsonExactDrops is one proxy pod's counters since its tailscaled
// started: state read, no_port (ProxyClass spec.metrics.enable is off),
// forbidden (no get pods/proxy) or failed (error_kind: unreachable,
// http_status, parse, too_large, timeout; error says what happened).
// Counts are by tailscaled's reason, the ones it wrote.
type jsonExactDrops struct {
	Pod       string             `json:"pod"` // namespace/name
	State     string             `json:"state"`
	ErrorKind string             `json:"error_kind"`
	Error     string             `json:"error"`
	Inbound   map[string]float64 `json:"inbound"`
	Outbound  map[string]float64 `json:"outbound"`
}

type jsonObject struct {
	Kind      string `json:"kind"`     // ingress, proxygroup, service: the kind label of the metrics
	Resource  string `json:"resource"` // Ingress or Service
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

type jsonBackend struct {
	Service        string `json:"service"` // namespace/name:port, "" when the endpoint names none
	Known          bool   `json:"known"`   // whether the Service exists could be read
	Found          bool   `json:"found"`
	Checked        bool   `json:"checked"` // ready_addresses could be read
	ReadyAddresses int    `json:"ready_addresses"`
}

type jsonWarning struct {
	Reason  string  `json:"reason"`
	Message string  `json:"message"`
	Count   int32   `json:"count"`
	Last    *string `json:"last"`
}

type jsonProxyPod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Ready     bool   `json:"ready"`
	Restarts  int32  `json:"restarts"`
	Image     string `json:"image"`
	Version   string `json:"version"`
	Phase     string `json:"phase"`
}

type jsonLogs struct {
	Read        bool           `json:"read"`
	Lines       int            `json:"lines"`
	Since       *string        `json:"since"`
	RateLimited bool           `json:"rate_limited"` // counts are a lower bound
	Events      []jsonLogEvent `json:"events"`       // sorted by their fields in enumeration order
	Samples     []string       `json:"samples"`      // verbatim
	// Drops are the drop lines by where they went, in enumeration order.
	Drops []jsonDrop `json:"drops"`
	// Proxies is what each log read says about its proxy.
	Proxies []jsonProxyFacts `json:"proxies"`
}

// jsonDrop counts drop lines of one reason and source family by where
// they went: class served (443, 80), peerapi, other or unknown, and how
// the peer API port compared with was known (port_source learned,
// inferred, unknown; none for a served port).
type jsonDrop struct {
	Reason     string `json:"reason"`
	Family     string `json:"family"`
	Class      string `json:"class"`
	PortSource string `json:"port_source"`
	Count      int    `json:"count"`
}

type jsonProxyFacts struct {
	Pod         string `json:"pod"`          // namespace/name, or a host log's path
	Version     string `json:"version"`      // tailscaled's, "" when unknown
	VersionFrom string `json:"version_from"` // log, image, or "" when unknown
	// PeerAPIPort is how its peer API port is known: learned, inferred
	// or unknown; the ports are those learned, 0 when not.
	PeerAPIPort string `json:"peer_api_port"`
	PeerAPIIPv4 uint16 `json:"peer_api_ipv4"`
	PeerAPIIPv6 uint16 `json:"peer_api_ipv6"`
	HeadRead    bool   `json:"head_read"` // the start of the log was read too
}

// jsonLogEvent is a count of log lines of one kind; fields that do not
// apply to the kind are "none", as in the exporter's metric labels.
type jsonLogEvent struct {
	Kind     string `json:"kind"`
	Reason   string `json:"reason"`
	Protocol string `json:"protocol"`
	Family   string `json:"family"`
	Port     string `json:"port"`
	TLSCause string `json:"tls_cause"`
	Count    int    `json:"count"`
}

type jsonProbe struct {
	Success         bool               `json:"success"`
	Reason          string             `json:"reason"`       // "" on success
	CertProblem     string             `json:"cert_problem"` // "" when none
	FailedPhase     string             `json:"failed_phase"` // "" on success
	DurationSeconds float64            `json:"duration_seconds"`
	Phases          map[string]float64 `json:"phases"`      // seconds, for the phases that ran
	HTTPStatus      int                `json:"http_status"` // 0 without a response
	TLSVersion      string             `json:"tls_version"`
	CertExpiry      *string            `json:"cert_expiry"` // earliest NotAfter of the chain, null if none was seen
	IP              string             `json:"ip"`          // the address dialled
	Error           string             `json:"error"`       // the underlying error text
}

type jsonOperator struct {
	Found        bool     `json:"found"`
	Pod          string   `json:"pod"`
	Version      string   `json:"version"`
	Ready        bool     `json:"ready"`
	WarningLines []string `json:"warning_lines"`
}

func writeJSON(b *bytes.Buffer, r Report) error {
	ev := r.Evidence
	out := jsonReport{
		GatheredAt: reportTime(ev.GatheredAt),
		Problems:   r.Problems(),
		Findings:   []jsonFinding{},
		Endpoints:  []jsonEndpoint{},
		Operator: jsonOperator{
			Found: ev.Operator.Found, Pod: ev.Operator.Pod, Version: ev.Operator.Version,
			Ready: ev.Operator.Ready, WarningLines: orEmpty(ev.Operator.WarningLines),
		},
		Missing: orEmpty(ev.Missing),
		Errors:  orEmpty(ev.Errors),
		Policy:  jsonPolicyOf(ev.Policy),
	}
	if ev.GatheredAt.IsZero() {
		out.GatheredAt = ""
	}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, jsonFinding{
			Rule: f.Rule, Hostname: f.Hostname, Severity: string(f.Severity), Likelihood: f.Likelihood,
			Title: f.Title, Evidence: orEmpty(f.Evidence), Next: orEmpty(f.Next),
		})
	}
	for i := range ev.Endpoints {
		out.Endpoints = append(out.Endpoints, jsonEndpointOf(&ev.Endpoints[i]))
	}
	if ev.Compare != nil {
		c := jsonEndpointOf(ev.Compare)
		out.Compare = &c
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	escapeJSONControls(b, buf.Bytes())
	return nil
}

func jsonEndpointOf(e *EndpointEvidence) jsonEndpoint {
	j := jsonEndpoint{
		Hostname:   e.Hostname,
		Invalid:    []string{},
		Warnings:   []jsonWarning{},
		ProxyPods:  []jsonProxyPod{},
		PodsListed: e.PodsListed,
		Policy:     jsonEndpointPolicyOf(e.Policy),
		Backend: jsonBackend{
			Service: e.Backend.Service, Known: e.Backend.Known, Found: e.Backend.Found,
			Checked: e.Backend.Checked, ReadyAddresses: e.Backend.ReadyAddr,
		},
		Logs: jsonLogs{
			Read: e.Logs.Read, Lines: e.Logs.Lines, Since: jsonTime(e.Logs.Since),
			RateLimited: e.Logs.RateLimit, Events: jsonLogEvents(e.Logs.Events), Samples: orEmpty(e.Logs.Samples),
			Drops: jsonDrops(e.Logs.Drops), Proxies: []jsonProxyFacts{},
		},
		Probes:            map[string]jsonProbe{},
		ExactDrops:        []jsonExactDrops{},
		LoggedServedDrops: servedDrops(e.Logs),
	}
	for _, x := range e.Exact {
		jx := jsonExactDrops{Pod: x.Pod, State: string(x.State), ErrorKind: string(x.ErrorKind), Error: x.Error,
			Inbound: map[string]float64{}, Outbound: map[string]float64{}}
		for dir, m := range []map[string]float64{jx.Inbound, jx.Outbound} {
			for r, seen := range x.Drops.Seen[dir] {
				if seen {
					m[proxymetrics.Reason(r).String()] = x.Drops.Count[dir][r]
				}
			}
		}
		j.ExactDrops = append(j.ExactDrops, jx)
	}
	if o := e.Endpoint; o != nil {
		j.Object = &jsonObject{Kind: string(o.Kind), Resource: o.Object().Resource, Namespace: o.Namespace, Name: o.Name}
		j.RequestedHostname, j.ObtainedHostname = o.RequestedHostname, o.Hostname
		j.Provisioned, j.Suffixed, j.Funnel, j.HTTPRedirect = o.Provisioned, o.Suffixed, o.Funnel, o.HTTPRedirect
		j.Tags, j.ProxyClass, j.ProxyGroup = o.Tags, o.ProxyClass, o.ProxyGroup
		j.Invalid = orEmpty(o.Invalid)
	}
	for _, p := range e.Logs.Proxies {
		f := jsonProxyFacts{Pod: p.Pod, VersionFrom: string(p.VersionFrom), PeerAPIPort: p.PeerAPIFrom.String(),
			PeerAPIIPv4: p.PeerAPI.IPv4, PeerAPIIPv6: p.PeerAPI.IPv6, HeadRead: p.HeadRead}
		if p.VersionFrom != VersionUnknown {
			f.Version = strings.TrimPrefix(versionString(p.Version), "v")
		}
		j.Logs.Proxies = append(j.Logs.Proxies, f)
	}
	for _, w := range e.Warnings {
		j.Warnings = append(j.Warnings, jsonWarning{Reason: w.Reason, Message: w.Message, Count: w.Count, Last: jsonTime(w.Last)})
	}
	for _, p := range e.Pods {
		j.ProxyPods = append(j.ProxyPods, jsonProxyPod{
			Namespace: p.Namespace, Name: p.Name, Ready: p.Ready, Restarts: p.Restarts,
			Image: p.Image, Version: p.Version, Phase: p.Phase,
		})
	}
	for v, r := range e.Probes {
		p := jsonProbe{
			Success: r.Success, Reason: string(r.Reason), CertProblem: string(r.CertProb),
			FailedPhase: string(r.FailedPhase), DurationSeconds: r.Duration.Seconds(),
			Phases: map[string]float64{}, HTTPStatus: r.HTTPStatus, TLSVersion: r.TLSVersion,
			CertExpiry: jsonTime(r.CertExpiry),
		}
		for ph, d := range r.Phases {
			p.Phases[string(ph)] = d.Seconds()
		}
		if r.IP != nil {
			p.IP = r.IP.String()
		}
		if r.Err != nil {
			p.Error = r.Err.Error()
		}
		j.Probes[v] = p
	}
	return j
}

// jsonLogEvents lists counted events in enumeration order. Events that
// differ only in fields the schema leaves out are summed.
func jsonLogEvents(events map[logmatch.Event]int) []jsonLogEvent {
	keys := make([]logmatch.Event, 0, len(events))
	for ev := range events {
		keys = append(keys, ev)
	}
	rank := func(e logmatch.Event) [6]uint8 {
		return [6]uint8{uint8(e.Kind), uint8(e.Reason), uint8(e.Protocol), uint8(e.Family), uint8(e.Port), uint8(e.TLSCause)}
	}
	slices.SortFunc(keys, func(a, b logmatch.Event) int {
		ra, rb := rank(a), rank(b)
		return slices.Compare(ra[:], rb[:])
	})
	out := []jsonLogEvent{}
	for _, ev := range keys {
		j := jsonLogEvent{
			Kind: ev.Kind.String(), Reason: ev.Reason.String(), Protocol: ev.Protocol.String(),
			Family: ev.Family.String(), Port: ev.Port.String(), TLSCause: ev.TLSCause.String(),
		}
		if n := len(out); n > 0 && sameLogEvent(out[n-1], j) {
			out[n-1].Count += events[ev]
			continue
		}
		j.Count = events[ev]
		out = append(out, j)
	}
	return out
}

// sortedDrops lists the drop keys in enumeration order.
func sortedDrops(drops map[DropKey]int) []DropKey {
	keys := make([]DropKey, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b DropKey) int {
		ra := [4]uint8{uint8(a.Reason), uint8(a.Family), uint8(a.Class), uint8(a.Source)}
		rb := [4]uint8{uint8(b.Reason), uint8(b.Family), uint8(b.Class), uint8(b.Source)}
		return slices.Compare(ra[:], rb[:])
	})
	return keys
}

func jsonDrops(drops map[DropKey]int) []jsonDrop {
	out := []jsonDrop{}
	for _, k := range sortedDrops(drops) {
		out = append(out, jsonDrop{Reason: k.Reason.String(), Family: k.Family.String(), Class: k.Class.String(), PortSource: k.Source.String(), Count: drops[k]})
	}
	return out
}

func sameLogEvent(a, b jsonLogEvent) bool {
	a.Count, b.Count = 0, 0
	return a == b
}

func jsonTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := reportTime(t)
	return &s
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// escapeJSONControls copies encoded JSON, writing C1 controls and Unicode
// format characters (which encoding/json leaves raw) as \u escapes: they
// can only occur inside strings, where the escape means the same, and raw
// they could drive a terminal the JSON is printed on.
func escapeJSONControls(b *bytes.Buffer, js []byte) {
	for i := 0; i < len(js); {
		r, size := utf8.DecodeRune(js[i:])
		if r >= 0x80 && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		} else {
			b.Write(js[i : i+size])
		}
		i += size
	}
}
