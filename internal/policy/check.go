package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Verdict is a check's answer. The set is closed: these are metric label
// values.
type Verdict string

const (
	Yes     Verdict = "yes"
	No      Verdict = "no"
	Unknown Verdict = "unknown" // depends on users or devices the policy does not list
)

// Check names what was checked. The set is closed: these are metric label
// values.
type Check string

const (
	// FunnelAttribute: a nodeAttrs entry gives the proxy's tags the
	// "funnel" attribute. Without it control sends the proxy no Funnel
	// relay traffic at all.
	FunnelAttribute Check = "funnel_attribute"
	// TagOwners: each of the proxy's tags is a key of tagOwners; control
	// refuses to tag a device with a tag nobody owns.
	TagOwners Check = "tag_owners"
	// TailnetAccess: an acls or grants entry lets the tailnet clients reach
	// the proxy (or its Tailscale Service) on one served port over TCP.
	TailnetAccess Check = "tailnet_access"
	// ServiceApproval: autoApprovers.services lets the ProxyGroup's devices
	// host the endpoint's Tailscale Service without an admin's approval.
	ServiceApproval Check = "service_approval"
)

// Endpoint is what the checks need to know of one exposed endpoint. The
// caller maps its discovery results onto it.
type Endpoint struct {
	Hostname string // names the endpoint for the caller; the checks do not read it
	// Tags are the proxy's tags (the tailscale.com/tags annotation), or the
	// operator's default when the annotation is absent. For a ProxyGroup
	// endpoint they are the Tailscale Service's tags.
	Tags []string
	// DefaultTags says Tags came from the operator's default, which reasons
	// then mention.
	DefaultTags bool
	Funnel      bool
	// Ports are the served ports: 443, and 80 when http-redirect is on.
	// Empty means 443.
	Ports []int
	// Service is "svc:NAME" for a ProxyGroup endpoint (a Tailscale
	// Service), "" otherwise.
	Service string
	// HostTags are the tags of the devices that host Service (the
	// ProxyGroup's tags). Empty means the same as Tags, as the operator's
	// defaults give both; reasons then say so.
	HostTags []string
}

// nodeTags are the tags of the devices that serve the endpoint.
func (ep Endpoint) nodeTags() []string {
	if ep.Service != "" && len(ep.HostTags) > 0 {
		return ep.HostTags
	}
	return ep.Tags
}

// Result is the answer to one check for one endpoint.
type Result struct {
	Check   Check
	Port    int // TailnetAccess only
	Verdict Verdict
	// Reason is one plain sentence saying what the verdict rests on.
	Reason string
	// Evidence are the policy lines the verdict rests on: the entries that
	// matched, or for "no" the section that lacks one (none when the
	// section is absent).
	Evidence []Line
	// Fix is a HuJSON snippet of one or more top-level members, such as
	// `"nodeAttrs": [{...}]`, to merge into the policy's section of the same
	// name (append to an array, add to an object); it turns the verdict
	// into yes. Empty when the verdict is yes.
	Fix string
}

// Line is one line of the policy: its 1-based number and trimmed text.
type Line struct {
	N    int
	Text string
}

// Check runs every check that applies to ep, in a fixed order:
// FunnelAttribute (Funnel endpoints only), TagOwners, TailnetAccess for each
// served port in ascending order, ServiceApproval (ProxyGroup endpoints
// only). clients names the tailnet clients whose access is checked.
func (p *Policy) Check(ep Endpoint, clients Selector) []Result {
	clients = clients.normal()
	var out []Result
	if ep.Funnel {
		out = append(out, p.funnelAttribute(ep))
	}
	out = append(out, p.tagOwnersCheck(ep))
	ports := slices.Clone(ep.Ports)
	if len(ports) == 0 {
		ports = []int{443}
	}
	slices.Sort(ports)
	for _, port := range slices.Compact(ports) {
		out = append(out, p.tailnetAccess(ep, clients, port))
	}
	if ep.Service != "" {
		out = append(out, p.serviceApproval(ep))
	}
	return out
}

func (p *Policy) result(c Check, m match, reason, fix string) Result {
	r := Result{Check: c, Verdict: m.v, Reason: reason, Evidence: p.lines(m.ev)}
	if m.v != Yes {
		r.Fix = fix
	}
	return r
}

// lines gives the distinct lines holding the offsets, in file order.
func (p *Policy) lines(offs []int) []Line {
	var out []Line
	for _, off := range offs {
		l := p.line(off)
		if !slices.ContainsFunc(out, func(o Line) bool { return o.N == l.N }) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Line) int { return a.N - b.N })
	return out
}

// sectionsMatch is "no", resting on the named sections that are present.
func (p *Policy) sectionsMatch(names ...string) match {
	m := no()
	for _, n := range names {
		if off, ok := p.sections[n]; ok {
			m.ev = append(m.ev, off)
		}
	}
	return m
}

func (p *Policy) funnelAttribute(ep Endpoint) Result {
	tags := ep.nodeTags()
	node := Endpoint{Tags: tags}
	best := no()
	memberOnly := false
	for _, n := range p.nodeAttrs {
		// The attribute is exactly "funnel" (tailcfg.NodeAttrFunnel); the
		// funnel-ports capability is control's to send, not a policy attr.
		i := slices.IndexFunc(n.attr, func(t text) bool { return t.s == "funnel" })
		if i < 0 {
			continue
		}
		for _, t := range n.target {
			memberOnly = memberOnly || t.s == autogroupMember
			best = either(best, p.dstCovers(t, node, true).with(n.attr[i].off))
		}
	}
	who := p.tagsPhrase(ep, tags)
	fix := member("nodeAttrs", list{object{{"target", tags}, {"attr", []string{"funnel"}}}})
	switch best.v {
	case Yes:
		return p.result(FunnelAttribute, best, fmt.Sprintf("A nodeAttrs entry gives %s the funnel attribute.", who), fix)
	case Unknown:
		return p.result(FunnelAttribute, best, fmt.Sprintf("No nodeAttrs entry certainly gives %s the funnel attribute: %s.", who, best.why), fix)
	}
	reason := fmt.Sprintf("No nodeAttrs entry gives %s the funnel attribute, so no Funnel traffic reaches the proxy.", who)
	if memberOnly {
		reason = fmt.Sprintf("No nodeAttrs entry gives %s the funnel attribute (autogroup:member does not cover tagged devices), so no Funnel traffic reaches the proxy.", who)
	}
	return p.result(FunnelAttribute, p.sectionsMatch("nodeAttrs"), reason, fix)
}

// operatorTag owns the proxies' tags in the operator's documented setup.
const operatorTag = "tag:k8s-operator"

func (p *Policy) tagOwnersCheck(ep Endpoint) Result {
	if len(ep.Tags) == 0 {
		return p.result(TagOwners, unknown(""), "The proxy's tags are not known.", "")
	}
	var missing []string
	m := yes()
	for _, t := range ep.Tags {
		if e, ok := p.tagOwners[t]; ok {
			m.ev = append(m.ev, e.key.off)
		} else {
			missing = append(missing, t)
		}
	}
	who := p.tagsPhrase(ep, ep.Tags)
	if len(missing) == 0 {
		return p.result(TagOwners, m, fmt.Sprintf("tagOwners lists %s.", who), "")
	}
	var owners object
	for _, t := range missing {
		owners = append(owners, field{t, []string{operatorTag}})
	}
	if _, ok := p.tagOwners[operatorTag]; !ok && !slices.Contains(missing, operatorTag) {
		// An owner tag must itself be defined; only admins own this one.
		owners = append(owners, field{operatorTag, []string{}})
	}
	return p.result(TagOwners, p.sectionsMatch("tagOwners"),
		fmt.Sprintf("tagOwners does not list %s, so control refuses to give the proxy that tag.", strings.Join(missing, ", ")),
		member("tagOwners", owners))
}

func (p *Policy) tailnetAccess(ep Endpoint, clients Selector, port int) Result {
	target := ep.Service
	if target == "" {
		target = p.tagsPhrase(ep, ep.Tags)
	}
	res := func(m match, reason string) Result {
		r := p.result(TailnetAccess, m, reason, p.accessFix(ep, clients, port))
		r.Port = port
		return r
	}
	if !p.hasAccessRule {
		// headscale (hscontrol/policy/v2/filter.go) sends an allow-all
		// filter when a policy has neither section.
		return res(yes(), "The policy has neither acls nor grants, so the control server lets every connection through.")
	}
	best, bestRule := no(), (*rule)(nil)
	for _, r := range slices.Concat(p.acls, p.grants) {
		if m := p.ruleAllows(r, ep, clients, port); rank(m.v) > rank(best.v) {
			best, bestRule = m, r
			if m.v == Yes {
				break
			}
		}
	}
	switch best.v {
	case Yes:
		return res(best, fmt.Sprintf("The %s at line %d lets %s reach %s on TCP port %d.",
			bestRule.name(), p.line(bestRule.off).N, clients, target, port))
	case Unknown:
		return res(best, fmt.Sprintf("No entry certainly lets %s reach %s on TCP port %d; the %s at line %d might, but %s.",
			clients, target, port, bestRule.name(), p.line(bestRule.off).N, best.why))
	}
	return res(p.sectionsMatch("acls", "grants"), fmt.Sprintf("No acls or grants entry lets %s reach %s on TCP port %d, so the proxy drops their connections.", clients, target, port))
}

func (r *rule) name() string {
	return fmt.Sprintf("%s entry", r.section)
}

// ruleAllows tells whether one acls or grants entry lets clients reach the
// endpoint on a TCP port.
func (p *Policy) ruleAllows(r *rule, ep Endpoint, clients Selector, port int) match {
	if !r.accept {
		return no()
	}
	src := p.srcListCovers(r.src, clients)
	if src.v == Yes && r.posture != nil {
		src = unknown("it applies only to devices that pass its srcPosture", append(src.ev, r.posture.off)...)
	}
	if src.v == No {
		return src
	}
	dst := no()
	if r.section == "acls" {
		if r.proto != nil && !isTCP(r.proto.s) {
			return no()
		}
		for _, d := range r.dst {
			dst = either(dst, both(p.dstCovers(text{s: d.target, off: d.off}, ep, true), portMatch(d.ports, port, d.off)))
		}
	} else {
		for _, d := range r.dst {
			dst = either(dst, p.dstCovers(d.text, ep, true))
		}
		ports := no()
		for _, ip := range r.ip {
			ports = either(ports, ipMatch(ip, port))
		}
		dst = both(dst, ports)
	}
	return both(src, dst)
}

// accessFix is a grants entry, not an acls one: Tailscale recommends grants
// for new rules, only grants reach Tailscale Services (svc:), and headscale
// enforces both alike.
func (p *Policy) accessFix(ep Endpoint, clients Selector, port int) string {
	dst := ep.Tags
	if ep.Service != "" {
		dst = []string{ep.Service}
	}
	return member("grants", list{object{
		{"src", []string{clients.String()}},
		{"dst", dst},
		{"ip", []string{fmt.Sprintf("tcp:%d", port)}},
	}})
}

func (p *Policy) serviceApproval(ep Endpoint) Result {
	hosts := ep.nodeTags()
	node := Endpoint{Tags: hosts}
	assumed := ""
	if len(ep.HostTags) == 0 {
		assumed = " (assuming the ProxyGroup's devices carry the Service's tags)"
	}
	best := no()
	var listed []string
	// A key is the Service's name or one of the Service's tags.
	for _, key := range append([]string{ep.Service}, ep.Tags...) {
		e, ok := p.svcApprovers[key]
		if !ok {
			continue
		}
		listed = append(listed, key)
		for _, a := range e.items {
			best = either(best, p.dstCovers(a, node, true).with(e.key.off))
		}
	}
	fix := member("autoApprovers", object{{"services", object{{ep.Service, hosts}}}})
	who := strings.Join(hosts, ", ")
	if best.v == Yes {
		return p.result(ServiceApproval, best, fmt.Sprintf("autoApprovers.services lets %s host %s%s.", who, ep.Service, assumed), fix)
	}
	// Without an auto-approver an admin can still approve the hosts by hand
	// in the admin console, which the policy does not show: never "no".
	why := fmt.Sprintf("no autoApprovers.services entry for %s", ep.Service)
	if len(listed) > 0 {
		why = fmt.Sprintf("the autoApprovers.services entries for %s do not name %s", strings.Join(listed, ", "), who)
	}
	if best.v == Unknown {
		why = best.why
	}
	m := unknown(why, best.ev...)
	if best.v == No {
		m.ev = p.sectionsMatch("autoApprovers").ev
	}
	return p.result(ServiceApproval, m, fmt.Sprintf("Cannot tell whether %s may host %s%s: %s, and an admin's approval in the admin console is not in the policy.", who, ep.Service, assumed, why), fix)
}

// tagsPhrase names tags for a reason, saying when they are the operator's
// default.
func (p *Policy) tagsPhrase(ep Endpoint, tags []string) string {
	s := strings.Join(tags, ", ")
	if s == "" {
		return "the proxy"
	}
	if ep.DefaultTags && slices.Equal(tags, ep.Tags) {
		s += " (the operator's default tags)"
	}
	return s
}

// A fix is built from these, so it keeps the order a person would write.
type (
	object []field
	field  struct {
		name  string
		value any // string, []string, object or list
	}
	list []any
)

// member renders one top-level member as one line of HuJSON.
func member(section string, v any) string {
	var b strings.Builder
	render(&b, section)
	b.WriteString(": ")
	render(&b, v)
	return b.String()
}

func render(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		q, _ := json.Marshal(v) // a string always marshals
		b.Write(q)
	case []string:
		l := make(list, len(v))
		for i, s := range v {
			l[i] = s
		}
		render(b, l)
	case list:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			render(b, e)
		}
		b.WriteByte(']')
	case object:
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			render(b, f.name)
			b.WriteString(": ")
			render(b, f.value)
		}
		b.WriteByte('}')
	}
}
