package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// match is a partial verdict: for "unknown", why says what it depends on;
// ev holds the offsets of the policy entries it rests on.
type match struct {
	v   Verdict
	why string
	ev  []int
}

func yes(ev ...int) match { return match{v: Yes, ev: ev} }
func no() match           { return match{v: No} }
func unknown(why string, ev ...int) match {
	return match{v: Unknown, why: why, ev: ev}
}

func rank(v Verdict) int {
	switch v {
	case Yes:
		return 2
	case Unknown:
		return 1
	}
	return 0
}

// both is "a and b": the weaker verdict; two yes rest on both's entries.
func both(a, b match) match {
	switch {
	case rank(a.v) < rank(b.v):
		return a
	case rank(b.v) < rank(a.v):
		return b
	}
	out := match{v: a.v, why: a.why, ev: append(slices.Clip(a.ev), b.ev...)}
	if out.why == "" {
		out.why = b.why
	}
	return out
}

// either is "a or b": the stronger verdict, the first of two equal ones.
func either(a, b match) match {
	if rank(b.v) > rank(a.v) {
		return b
	}
	return a
}

// with adds entries to what a yes or unknown rests on.
func (m match) with(ev ...int) match {
	if m.v != No {
		m.ev = append(slices.Clip(m.ev), ev...)
	}
	return m
}

// nestedGroup is the answer for a group listed in a group, which Tailscale
// and headscale (Groups.UnmarshalJSON) refuse. Not expanding them also keeps
// the work bounded by the product of two groups' sizes.
func nestedGroup(outer string, inner text) match {
	return unknown(fmt.Sprintf("%s lists the group %s, and groups inside groups are not allowed", outer, inner.s), inner.off)
}

// The tailnet's address ranges: a CIDR rule touching them may hold clients.
var (
	tailnetV4 = netip.MustParsePrefix("100.64.0.0/10")
	tailnetV6 = netip.MustParsePrefix("fd7a:115c:a1e0::/48")
)

// Autogroups that name users by their role, which the policy does not list.
var roleAutogroups = []string{
	"autogroup:admin", "autogroup:owner", "autogroup:it-admin", "autogroup:network-admin",
	"autogroup:billing-admin", "autogroup:auditor", "autogroup:shared",
}

// Autogroups that never name a connection's source (self, internet are
// destinations only; nonroot is for SSH users).
var nonSourceAutogroups = []string{"autogroup:self", "autogroup:internet", "autogroup:nonroot"}

// srcListCovers tells whether a rule's sources together cover every client
// c names: a group or hosts alias of clients is covered when each of its
// members or its address is, possibly by different sources.
func (p *Policy) srcListCovers(srcs []text, c Selector) match {
	for _, s := range srcs {
		if s.s == c.raw {
			return yes(s.off)
		}
	}
	switch c.kind {
	case kindGroup:
		g := p.groups[c.raw]
		if g == nil {
			return unknown(c.raw + " is not defined in the policy")
		}
		if len(g.items) == 0 {
			return unknown(c.raw+" has no members", g.key.off)
		}
		m := yes()
		for _, it := range g.items {
			if k, _ := classify(it.s); k == kindGroup {
				return nestedGroup(c.raw, it)
			}
			m = both(m, p.srcListCovers(srcs, selectorOf(it.s)).with(it.off))
		}
		return m
	case kindHost:
		h := p.hosts[c.raw]
		if h == nil || !h.prefix.IsValid() {
			return unknown(c.raw + " is not a hosts alias with an address in the policy")
		}
		addr := Selector{raw: h.prefix.String(), kind: kindPrefix, prefix: h.prefix}
		return p.srcListCovers(srcs, addr).with(h.key.off)
	}
	m := no()
	for _, s := range srcs {
		m = either(m, p.srcCovers(s, c, true))
	}
	return m
}

// srcCovers tells whether one rule source r covers every client c names; c
// is neither a group nor a hosts alias (srcListCovers resolves those).
// It follows how control resolves sources (headscale hscontrol/policy/v2
// types.go, AutoGroup.resolve): autogroup:member is every untagged device,
// autogroup:tagged every tagged one, a tag only devices with it, a user only
// that user's untagged devices.
func (p *Policy) srcCovers(r text, c Selector, expand bool) match {
	rk, rPrefix := classify(r.s)
	if r.s == c.raw || rk == kindUser && c.kind == kindUser && strings.EqualFold(r.s, c.raw) ||
		rk == kindAll || r.s == autogroupDangerAll {
		return yes(r.off)
	}
	// A rule's group covers what one of its members covers.
	if rk == kindGroup {
		g := p.groups[r.s]
		if g == nil {
			return no()
		}
		if !expand {
			return nestedGroup("a group", r)
		}
		m := no()
		for _, it := range g.items {
			m = either(m, p.srcCovers(it, c, false).with(r.off))
		}
		return m
	}
	ev := []int{r.off}
	isAddr := rk == kindPrefix
	if rk == kindHost {
		h := p.hosts[r.s]
		if h == nil || !h.prefix.IsValid() {
			return unknown(r.s+" is not a hosts alias with an address in the policy", r.off)
		}
		rPrefix, isAddr = h.prefix, true
		ev = append(ev, h.key.off)
	}
	if rk == kindAutogroup && slices.Contains(nonSourceAutogroups, r.s) || rk == kindService {
		return no()
	}

	switch c.kind {
	case kindAll:
		if isAddr && (rPrefix.Overlaps(tailnetV4) || rPrefix.Overlaps(tailnetV6)) {
			return unknown(fmt.Sprintf("%s holds tailnet addresses, and whether it holds every client's is not in the policy", r.s), ev...)
		}
		if rk == kindOther {
			return unknown(fmt.Sprintf("what %s names is not known here", r.s), ev...)
		}
		return no()
	case kindPrefix:
		switch {
		case isAddr && rPrefix.Bits() <= c.prefix.Bits() && rPrefix.Contains(c.prefix.Addr()):
			return yes(ev...)
		case isAddr && rPrefix.Overlaps(c.prefix):
			return unknown(fmt.Sprintf("%s holds only part of %s", r.s, c.raw), ev...)
		case isAddr:
			return no()
		}
		return unknown(fmt.Sprintf("which addresses the devices of %s have is not in the policy", r.s), ev...)
	case kindUser:
		switch {
		case r.s == autogroupMember:
			return yes(ev...) // a tailnet user's own devices are untagged members' devices
		case rk == kindAutogroup && slices.Contains(roleAutogroups, r.s):
			return unknown(fmt.Sprintf("whether %s is in %s depends on roles the policy does not list", c.raw, r.s), ev...)
		case isAddr:
			return unknown(fmt.Sprintf("which addresses %s's devices have is not in the policy", c.raw), ev...)
		case rk == kindUser || rk == kindTag || rk == kindAutogroup && r.s == autogroupTagged:
			return no() // another user, or tagged devices, which have no user
		}
	case kindTag:
		switch {
		case r.s == autogroupTagged:
			return yes(ev...)
		case isAddr:
			return unknown(fmt.Sprintf("which addresses the devices with %s have is not in the policy", c.raw), ev...)
		case rk == kindUser || rk == kindTag || rk == kindAutogroup && (r.s == autogroupMember || slices.Contains(roleAutogroups, r.s)):
			return no() // another tag, or users' devices, which are untagged
		}
	case kindAutogroup: // autogroup:member or autogroup:tagged
		member := c.raw == autogroupMember
		switch {
		case isAddr:
			return unknown(fmt.Sprintf("which addresses the devices of %s have is not in the policy", c.raw), ev...)
		case member && rk == kindUser:
			return unknown(fmt.Sprintf("%s covers autogroup:member only if that user is the tailnet's only member, which the policy does not say", r.s), ev...)
		case member && rk == kindAutogroup && slices.Contains(roleAutogroups, r.s):
			return unknown(fmt.Sprintf("whether every member is in %s depends on roles the policy does not list", r.s), ev...)
		case !member && rk == kindTag:
			return unknown(fmt.Sprintf("whether every tagged device has %s depends on devices the policy does not list", r.s), ev...)
		case rk == kindUser || rk == kindTag || rk == kindAutogroup && (r.s == autogroupMember || r.s == autogroupTagged || slices.Contains(roleAutogroups, r.s)):
			return no() // members are untagged, tagged devices are not members
		}
	}
	return unknown(fmt.Sprintf("what %s names is not known here", r.s), ev...)
}

// dstCovers tells whether a rule destination (or a nodeAttrs target, or an
// auto-approver) covers the endpoint's proxy. The proxy is always a tagged
// device, so users, groups of users, autogroup:member and autogroup:self never
// cover it (REFERENCE.md §8; #11849). For a Tailscale Service only its own
// svc: name is documented to reach it.
func (p *Policy) dstCovers(d text, ep Endpoint, expand bool) match {
	k, _ := classify(d.s)
	if k == kindGroup {
		if !expand {
			return nestedGroup("a group", d)
		}
		// Groups hold users; newer policies may list tags in them too.
		g := p.groups[d.s]
		if g == nil {
			return no()
		}
		m := no()
		for _, it := range g.items {
			m = either(m, p.dstCovers(it, ep, false).with(d.off))
		}
		return m
	}
	if ep.Service != "" {
		switch {
		case k == kindService && d.s == ep.Service:
			return yes(d.off)
		case k == kindAll, k == kindTag && slices.Contains(ep.Tags, d.s), d.s == autogroupTagged:
			return unknown(fmt.Sprintf("whether %s reaches the Tailscale Service %s is not documented (a %s destination does)", d.s, ep.Service, ep.Service), d.off)
		case k == kindPrefix, k == kindHost:
			return unknown(fmt.Sprintf("the addresses of %s are not in the policy", ep.Service), d.off)
		case k == kindOther:
			return unknown(fmt.Sprintf("what %s names is not known here", d.s), d.off)
		}
		return no()
	}
	switch k {
	case kindAll:
		return yes(d.off)
	case kindTag:
		if len(ep.Tags) == 0 {
			return unknown("the proxy's tags are not known", d.off)
		}
		if slices.Contains(ep.Tags, d.s) {
			return yes(d.off)
		}
		return no()
	case kindAutogroup:
		if d.s == autogroupTagged {
			return yes(d.off)
		}
		return no()
	case kindPrefix, kindHost:
		return unknown("the proxy's tailnet address is not in the policy", d.off)
	case kindOther:
		return unknown(fmt.Sprintf("what %s names is not known here", d.s), d.off)
	}
	return no()
}

// portsCover tells whether a port list ("*", "443", "80,443", "8000-9000")
// holds port; ok is false for a list this package cannot read.
func portsCover(spec string, port int) (covers, ok bool) {
	if spec == "*" {
		return true, true
	}
	if spec == "" {
		return false, false
	}
	for part := range strings.SplitSeq(spec, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(first)
		if err != nil || lo < 0 || lo > 65535 {
			return false, false
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(last); err != nil || hi < lo || hi > 65535 {
				return false, false
			}
		}
		if lo <= port && port <= hi {
			covers = true
		}
	}
	return covers, true
}

func portMatch(spec string, port int, off int) match {
	covers, ok := portsCover(spec, port)
	switch {
	case !ok:
		return unknown(fmt.Sprintf("the ports %q cannot be read", spec), off)
	case covers:
		return yes(off)
	}
	return no()
}

// isTCP tells whether a protocol named in a policy is TCP (by name or IANA
// number); an acls entry without proto allows TCP, UDP and ICMP.
func isTCP(proto string) bool {
	return strings.EqualFold(proto, "tcp") || proto == "6"
}

// ipMatch reads a grants "ip" entry: "*", "443", "tcp:443", "tcp:80-443",
// "tcp:80,443", "6:443"; a port without a protocol allows every protocol.
func ipMatch(t text, port int) match {
	if t.s == "*" {
		return yes(t.off)
	}
	ports := t.s
	if proto, rest, ok := strings.Cut(t.s, ":"); ok {
		if !isTCP(proto) && proto != "*" {
			return no()
		}
		ports = rest
	}
	return portMatch(ports, port, t.off)
}
