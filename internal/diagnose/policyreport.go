package diagnose

import (
	"fmt"
	"strings"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
)

// policyHeading heads the policy's verdicts in the text and Markdown
// reports.
const policyHeading = "Tailnet policy (what the file says, not what control did)"

// policyLine is the report's summary of the policy: its source (never a
// secret) and whether it was read.
func policyLine(p *PolicyEvidence) string {
	src := cleanText(p.Source)
	switch {
	case p.Read:
		return fmt.Sprintf("%s, read (%s); access checked for %s; default tags %s",
			src, plural(p.Lines, "line"), cleanText(p.Clients), cleanText(strings.Join(p.DefaultTags, ",")))
	case p.Syntax != nil:
		return fmt.Sprintf("%s, read, but it does not parse (line %d, column %d): nothing checked", src, p.Syntax.Line, p.Syntax.Column)
	}
	return fmt.Sprintf("%s, not read (%s): nothing checked", src, p.ErrorKind)
}

// policyGrid is one compact row per endpoint the policy was checked for.
func policyGrid(all []labelled) grid {
	g := grid{head: []string{"Hostname", "Tags", "Funnel attribute", "Tailnet access", "Tag owners", "Service approval"}}
	for _, e := range all {
		p := e.Policy
		if p == nil {
			continue
		}
		tags := cleanText(strings.Join(p.Checked.Tags, ","))
		switch {
		case p.Assumed:
			tags += " (assumed)"
		case p.Checked.DefaultTags:
			tags += " (default)"
		}
		cells := []gridCell{{text: endpointLabel(e)}, {text: tags},
			verdictCell(p, policy.FunnelAttribute), accessCell(p), verdictCell(p, policy.TagOwners), verdictCell(p, policy.ServiceApproval)}
		g.rows = append(g.rows, gridRow{cells: cells})
	}
	return g
}

// verdictCell is one check's verdict, "-" when it does not apply.
func verdictCell(p *EndpointPolicy, c policy.Check) gridCell {
	r, ok := p.Result(c, 0)
	if !ok {
		return gridCell{text: "-"}
	}
	return gridCell{text: string(r.Verdict), tone: verdictTone(r.Verdict)}
}

// accessCell lists the access verdict per served port: "443 yes, 80 no".
func accessCell(p *EndpointPolicy) gridCell {
	var parts []string
	c := gridCell{tone: toneGood}
	for _, r := range p.Results {
		if r.Check != policy.TailnetAccess {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", r.Port, r.Verdict))
		if t := verdictTone(r.Verdict); t != toneGood && c.tone != toneBad {
			c.tone = t
		}
	}
	if len(parts) == 0 {
		return gridCell{text: "-"}
	}
	c.text = strings.Join(parts, ", ")
	return c
}

func verdictTone(v policy.Verdict) tone {
	switch v {
	case policy.Yes:
		return toneGood
	case policy.No:
		return toneBad
	}
	return toneNone
}

// jsonPolicy is how reading the tailnet policy went: the source (never a
// secret), read or not, and why not: error_kind (read, credential,
// unauthorized, forbidden, not_found, rate_limited, server_error, timeout,
// unreachable, too_large, other) or syntax for a policy that does not
// parse.
type jsonPolicy struct {
	Source      string      `json:"source"`
	Read        bool        `json:"read"`
	Lines       int         `json:"lines"`
	ErrorKind   string      `json:"error_kind"`
	Error       string      `json:"error"`
	Syntax      *jsonSyntax `json:"syntax"` // null unless it does not parse
	Clients     string      `json:"clients"`
	DefaultTags []string    `json:"default_tags"`
}

type jsonSyntax struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	Text    string `json:"text"` // the line it points at
}

// jsonEndpointPolicy is what the policy says about one endpoint: what it
// was checked as, and each check's verdict (yes, no, unknown) with the
// policy lines it rests on and the snippet that would fix it.
type jsonEndpointPolicy struct {
	Tags        []string          `json:"tags"`
	DefaultTags bool              `json:"default_tags"` // the tags are --tailnet.default-tags
	Assumed     bool              `json:"assumed"`      // no object claims it: tags and Funnel assumed
	Funnel      bool              `json:"funnel"`
	Ports       []int             `json:"ports"`
	Service     string            `json:"service"` // svc:NAME for a ProxyGroup endpoint
	Results     []jsonPolicyCheck `json:"results"`
}

type jsonPolicyCheck struct {
	Check   string           `json:"check"` // funnel_attribute, tag_owners, tailnet_access, service_approval
	Port    int              `json:"port"`  // tailnet_access only
	Verdict string           `json:"verdict"`
	Reason  string           `json:"reason"`
	Lines   []jsonPolicyLine `json:"lines"`
	Fix     string           `json:"fix"` // "" when the verdict is yes
}

type jsonPolicyLine struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

func jsonPolicyOf(p *PolicyEvidence) *jsonPolicy {
	if p == nil {
		return nil
	}
	j := &jsonPolicy{Source: p.Source, Read: p.Read, Lines: p.Lines, ErrorKind: string(p.ErrorKind), Error: p.Error,
		Clients: p.Clients, DefaultTags: orEmpty(p.DefaultTags)}
	if p.Syntax != nil {
		j.Syntax = &jsonSyntax{Line: p.Syntax.Line, Column: p.Syntax.Column, Message: p.Syntax.Msg, Text: p.SyntaxLine}
	}
	return j
}

func jsonEndpointPolicyOf(p *EndpointPolicy) *jsonEndpointPolicy {
	if p == nil {
		return nil
	}
	c := p.Checked
	j := &jsonEndpointPolicy{Tags: orEmpty(c.Tags), DefaultTags: c.DefaultTags, Assumed: p.Assumed, Funnel: c.Funnel,
		Ports: orEmpty(c.Ports), Service: c.Service, Results: []jsonPolicyCheck{}}
	for _, r := range p.Results {
		jc := jsonPolicyCheck{Check: string(r.Check), Port: r.Port, Verdict: string(r.Verdict), Reason: r.Reason, Lines: []jsonPolicyLine{}, Fix: r.Fix}
		for _, l := range r.Evidence {
			jc.Lines = append(jc.Lines, jsonPolicyLine{N: l.N, Text: l.Text})
		}
		j.Results = append(j.Results, jc)
	}
	return j
}
