package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// kind is what a policy name refers to, told apart the way control servers
// do (headscale's hscontrol/policy/v2 parseAlias): an address or CIDR first,
// then "*", a user (contains "@"), a prefix (group:, tag:, autogroup:, svc:),
// and a bare name is a hosts alias.
type kind int

const (
	kindOther kind = iota // a prefix this package does not know (ipset:, ...)
	kindAll
	kindUser
	kindGroup
	kindTag
	kindAutogroup
	kindService
	kindPrefix
	kindHost
)

func classify(s string) (kind, netip.Prefix) {
	// The named kinds first: no address starts with a letter and a colon
	// or holds an @, and checks classify every rule's names on every call,
	// where a failed address parse would cost an error each time.
	switch {
	case s == "*":
		return kindAll, netip.Prefix{}
	case strings.HasPrefix(s, "group:"):
		return kindGroup, netip.Prefix{}
	case strings.HasPrefix(s, "tag:"):
		return kindTag, netip.Prefix{}
	case strings.HasPrefix(s, "autogroup:"):
		return kindAutogroup, netip.Prefix{}
	case strings.HasPrefix(s, "svc:"):
		return kindService, netip.Prefix{}
	case strings.Contains(s, "@"):
		return kindUser, netip.Prefix{}
	}
	if p, ok := parsePrefix(s); ok {
		return kindPrefix, p
	}
	if s != "" && !strings.Contains(s, ":") {
		return kindHost, netip.Prefix{}
	}
	return kindOther, netip.Prefix{}
}

// Autogroups this package gives a meaning to.
const (
	autogroupMember    = "autogroup:member"     // devices of the tailnet's users, never tagged ones
	autogroupTagged    = "autogroup:tagged"     // every tagged device
	autogroupDangerAll = "autogroup:danger-all" // every address, in and outside the tailnet
)

// DefaultClients is the selector used for "tailnet clients" when the user
// names none: every user-owned device of the tailnet.
const DefaultClients = "autogroup:member"

// Selector names the tailnet clients whose access to an endpoint is checked,
// written as in the policy file: autogroup:member (the default),
// autogroup:tagged, a user (alice@example.com, or headscale's "alice@"), a
// group:x, a tag:x, a hosts alias, an IP address or CIDR, or "*". The zero
// Selector means autogroup:member.
type Selector struct {
	raw    string
	kind   kind
	prefix netip.Prefix // kindPrefix only
}

// ParseSelector reads a client selector. It refuses what cannot name clients
// (svc: names, autogroup:self, autogroup:internet, role autogroups whose
// members the policy never lists) and malformed names.
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	k, prefix := classify(s)
	sel := Selector{raw: s, kind: k, prefix: prefix}
	switch k {
	case kindAll, kindPrefix:
		return sel, nil
	case kindUser:
		if strings.Count(s, "@") == 1 && !strings.HasPrefix(s, "@") && !strings.ContainsAny(s, " \t,") {
			return sel, nil
		}
	case kindGroup, kindTag:
		if name := s[strings.IndexByte(s, ':')+1:]; validName(name) {
			return sel, nil
		}
	case kindAutogroup:
		if s == autogroupMember || s == autogroupTagged {
			return sel, nil
		}
		return Selector{}, fmt.Errorf("client selector %q: only autogroup:member and autogroup:tagged name clients the policy can reason about", s)
	case kindService:
		return Selector{}, fmt.Errorf("client selector %q: a svc: name is a Tailscale Service, not a client", s)
	case kindHost:
		if validName(s) {
			return sel, nil
		}
	}
	return Selector{}, fmt.Errorf("client selector %q: want autogroup:member, autogroup:tagged, a user (name@domain), group:NAME, tag:NAME, a hosts alias, an IP address or CIDR, or *", s)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// String gives the selector as written in a policy file.
func (s Selector) String() string {
	if s.raw == "" {
		return DefaultClients
	}
	return s.raw
}

func (s Selector) normal() Selector {
	if s.raw == "" {
		return Selector{raw: autogroupMember, kind: kindAutogroup}
	}
	return s
}

// selectorOf turns a group member into a client selector without the checks
// ParseSelector makes: members are what the policy says they are.
func selectorOf(s string) Selector {
	k, prefix := classify(s)
	return Selector{raw: s, kind: k, prefix: prefix}
}
