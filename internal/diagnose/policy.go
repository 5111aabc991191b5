package diagnose

import (
	"context"
	"errors"
	"strings"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/tailnetpolicy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

// PolicyOptions say where the tailnet policy comes from and whom its
// checks are for (the --tailnet.* flags).
type PolicyOptions struct {
	// Source is where the policy is read, once per run; nil: no policy
	// checks.
	Source source.Source
	// Clients are the tailnet clients whose access is checked; the zero
	// Selector is autogroup:member.
	Clients policy.Selector
	// DefaultTags are the operator's default proxy tags, for endpoints
	// without a tailscale.com/tags annotation and for plain hosts.
	DefaultTags []string
}

// PolicyEvidence is how reading the tailnet policy went.
type PolicyEvidence struct {
	Source string // the source's String(): never a secret
	// Read is true when the policy was read and parsed; the endpoints'
	// Policy then hold the checks.
	Read  bool
	Lines int // of the policy read
	// ErrorKind and Error say why it could not be read.
	ErrorKind source.Kind
	Error     string
	// Syntax is set when it was read but does not parse; SyntaxLine is
	// the text of the line it points at.
	Syntax     *policy.SyntaxError
	SyntaxLine string
	// Clients and DefaultTags are what the checks assumed.
	Clients     string
	DefaultTags []string
}

// EndpointPolicy is what the tailnet policy says about one endpoint.
type EndpointPolicy struct {
	// Checked is what the checks took the endpoint to be: its tags, ports,
	// whether it uses Funnel.
	Checked policy.Endpoint
	// Assumed is true for a name no Ingress or Service claims (a plain
	// host): its tags are the default tags and Funnel is assumed on, since
	// nothing says otherwise.
	Assumed bool
	Results []policy.Result // in Check's order
}

// Result returns the endpoint's result of check c (at port, for
// TailnetAccess).
func (p *EndpointPolicy) Result(c policy.Check, port int) (policy.Result, bool) {
	if p == nil {
		return policy.Result{}, false
	}
	for _, r := range p.Results {
		if r.Check == c && r.Port == port {
			return r, true
		}
	}
	return policy.Result{}, false
}

// readPolicy reads and parses the policy once. Every failure becomes
// evidence; nothing here ends the run.
func readPolicy(ctx context.Context, o PolicyOptions) (*PolicyEvidence, *policy.Policy) {
	ev := &PolicyEvidence{Source: o.Source.String(), Clients: o.Clients.String(), DefaultTags: o.DefaultTags}
	data, err := o.Source.Read(ctx)
	if err != nil {
		ev.ErrorKind, ev.Error = source.KindOf(err), err.Error()
		return ev, nil
	}
	ev.Lines = strings.Count(string(data), "\n")
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ev.Lines++
	}
	p, err := policy.Parse(ev.Source, data)
	var se *policy.SyntaxError
	switch {
	case errors.As(err, &se):
		ev.Syntax, ev.Error = se, err.Error()
		ev.SyntaxLine = lineOf(data, se.Line)
		return ev, nil
	case err != nil: // Parse documents only SyntaxError; keep any other as one
		ev.Error = err.Error()
		return ev, nil
	}
	ev.Read = true
	return ev, p
}

// lineOf is line n (1-based) of data, trimmed and cut for a report.
func lineOf(data []byte, n int) string {
	for i, l := range strings.Split(string(data), "\n") {
		if i+1 == n {
			return logs.SampleLine([]byte(strings.TrimSpace(l)))
		}
	}
	return ""
}

// checkAll checks every target against p (nil: none was read).
func checkAll(p *policy.Policy, o PolicyOptions, targets []*EndpointEvidence) {
	if p == nil {
		return
	}
	for _, t := range targets {
		t.Policy = checkPolicy(p, o, t)
	}
}

// checkPolicy runs the policy's checks for one endpoint: a discovered one
// as the exporter maps it, a plain host with the default tags and Funnel
// assumed.
func checkPolicy(p *policy.Policy, o PolicyOptions, t *EndpointEvidence) *EndpointPolicy {
	var ep EndpointPolicy
	if t.Endpoint != nil {
		ep.Checked = tailnetpolicy.EndpointOf(*t.Endpoint, o.DefaultTags)
	} else {
		ep.Assumed = true
		ep.Checked = policy.Endpoint{Hostname: t.Hostname, Tags: o.DefaultTags, DefaultTags: true, Funnel: true}
	}
	ep.Results = p.Check(ep.Checked, o.Clients)
	return &ep
}
