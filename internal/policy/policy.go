// Package policy reads a tailnet policy file (HuJSON: acls, grants,
// nodeAttrs, tagOwners, groups, hosts, autoApprovers) and tells, for one
// endpoint exposed by the Tailscale Kubernetes operator, whether the policy
// lets it work: the funnel node attribute, tag owners, tailnet clients'
// access to the served ports, and a Tailscale Service's auto-approval.
//
// It is pure logic: no I/O and no Kubernetes types. The caller reads the
// policy (a file, the Tailscale API) and maps its endpoints to [Endpoint].
// Every verdict is "yes", "no" or "unknown"; "unknown" is said, with a
// reason, wherever the answer depends on users or devices the file does not
// list, so that a finding never claims more than the policy shows.
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/tailscale/hujson"
)

// SyntaxError reports a policy that cannot be read: it is not valid HuJSON,
// its top level is not an object, or a section this package reads has the
// wrong shape (say, "acls" is an object). Line and Column are 1-based and
// point at the offending byte or value.
type SyntaxError struct {
	Name         string // the input's name, as given to Parse
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("policy %s:%d:%d: %s", e.Name, e.Line, e.Column, e.Msg)
}

// Policy is a parsed tailnet policy. Its zero value is not usable; use Parse.
// A Policy is read-only after Parse and safe for concurrent use.
type Policy struct {
	name string
	src  []byte
	// lineStarts[i] is the offset of line i+1's first byte.
	lineStarts []int
	// lineTexts[i] is line i+1 trimmed, cut once: evidence cites lines on
	// every check of every endpoint.
	lineTexts []string

	// sections holds the offset of each known top-level key that is present
	// and not null, for evidence when a check finds nothing.
	sections map[string]int

	groups        map[string]*listEntry // "group:x" → members
	hosts         map[string]*hostEntry // "name" → address
	tagOwners     map[string]*listEntry // "tag:x" → owners
	acls          []*rule
	grants        []*rule
	nodeAttrs     []*nodeAttr
	svcApprovers  map[string]*listEntry // "svc:x" or "tag:x" → approvers
	hasAccessRule bool                  // "acls" or "grants" present and not null
}

// text is a string from the policy with the offset it was read at.
type text struct {
	s   string
	off int
}

type listEntry struct {
	key   text
	items []text
}

type hostEntry struct {
	key    text
	addr   text
	prefix netip.Prefix // invalid when addr does not parse
}

// rule is one acls or grants entry, reduced to what decides network access.
type rule struct {
	section string // "acls" or "grants"
	index   int
	off     int // the entry's first byte

	accept  bool    // acls: action is "accept"; grants: always
	proto   *text   // acls only: nil means TCP, UDP and ICMP
	src     []text  // selectors
	dst     []alias // acls: "target:ports" split; grants: selectors
	ip      []text  // grants only: "tcp:443", "443", "*"
	hasIP   bool    // grants: "ip" present (an app-only grant opens no port)
	posture *text   // srcPosture: the rule applies only to some devices
}

// alias is a destination: the selector, and for acls the ports after it.
type alias struct {
	text
	target string
	ports  string // acls: the part after the last colon; "" for grants
}

type nodeAttr struct {
	off    int
	target []text
	attr   []text
}

// Parse reads a policy. name identifies the input in errors (a file name,
// "tailnet example.com"). Sections and fields this package does not read are
// ignored, so newer policy features do not break it; entries it cannot make
// sense of (a port range it does not know) make the checks that meet them say
// "unknown" rather than fail here. A policy that does not parse, or whose
// known sections have the wrong JSON type, gives a *SyntaxError.
func Parse(name string, data []byte) (*Policy, error) {
	p := &Policy{
		name:         name,
		src:          data,
		sections:     map[string]int{},
		groups:       map[string]*listEntry{},
		hosts:        map[string]*hostEntry{},
		tagOwners:    map[string]*listEntry{},
		svcApprovers: map[string]*listEntry{},
	}
	p.lineStarts = append(p.lineStarts, 0)
	for i, b := range data {
		if b == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	p.lineTexts = make([]string, len(p.lineStarts))
	for i, start := range p.lineStarts {
		end := len(data)
		if i+1 < len(p.lineStarts) {
			end = p.lineStarts[i+1] - 1
		}
		p.lineTexts[i] = strings.TrimSpace(string(data[start:end]))
	}

	v, err := hujson.Parse(data)
	if err != nil {
		return nil, p.syntaxError(err)
	}
	root, ok := v.Value.(*hujson.Object)
	if !ok {
		return nil, p.errorAt(v.StartOffset, "the policy is %s, want an object", kindName(v))
	}
	d := decoder{p: p}
	for i := range root.Members {
		m := &root.Members[i]
		key := m.Name.Value.(hujson.Literal).String()
		if _, dup := p.sections[key]; dup && isSection(key) {
			return nil, p.errorAt(m.Name.StartOffset, "%q appears twice", key)
		}
		if isNull(m.Value) {
			continue
		}
		switch key {
		case "groups":
			err = d.stringLists(key, &m.Value, p.groups)
		case "tagOwners":
			err = d.stringLists(key, &m.Value, p.tagOwners)
		case "hosts":
			err = d.hosts(&m.Value)
		case "acls":
			err = d.rules(key, &m.Value, &p.acls)
		case "grants":
			err = d.rules(key, &m.Value, &p.grants)
		case "nodeAttrs":
			err = d.nodeAttrs(&m.Value)
		case "autoApprovers":
			err = d.autoApprovers(&m.Value)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		p.sections[key] = m.Name.StartOffset
	}
	_, acls := p.sections["acls"]
	_, grants := p.sections["grants"]
	p.hasAccessRule = acls || grants
	return p, nil
}

func isSection(key string) bool {
	switch key {
	case "groups", "tagOwners", "hosts", "acls", "grants", "nodeAttrs", "autoApprovers":
		return true
	}
	return false
}

// syntaxError turns hujson's error ("hujson: line L, column C: why") into a
// SyntaxError; hujson does not export the position otherwise.
func (p *Policy) syntaxError(err error) *SyntaxError {
	e := &SyntaxError{Name: p.name, Msg: err.Error()}
	var line, col int
	if _, scanErr := fmt.Sscanf(err.Error(), "hujson: line %d, column %d:", &line, &col); scanErr == nil {
		e.Line, e.Column = line, col
		if inner := errors.Unwrap(err); inner != nil {
			e.Msg = inner.Error()
		}
	}
	return e
}

func (p *Policy) errorAt(off int, format string, args ...any) *SyntaxError {
	line, col := p.position(off)
	return &SyntaxError{Name: p.name, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// position gives the 1-based line and column (in bytes) of an offset.
func (p *Policy) position(off int) (line, col int) {
	i := sort.Search(len(p.lineStarts), func(i int) bool { return p.lineStarts[i] > off }) - 1
	return i + 1, off - p.lineStarts[i] + 1
}

// line gives the 1-based line holding off and its trimmed text.
func (p *Policy) line(off int) Line {
	n, _ := p.position(off)
	return Line{N: n, Text: p.lineTexts[n-1]}
}

// decoder walks the known sections, naming the field in every error.
type decoder struct{ p *Policy }

func (d decoder) object(field string, v *hujson.Value) (*hujson.Object, error) {
	o, ok := v.Value.(*hujson.Object)
	if !ok {
		return nil, d.p.errorAt(v.StartOffset, "%s is %s, want an object", field, kindName(*v))
	}
	return o, nil
}

func (d decoder) array(field string, v *hujson.Value) (*hujson.Array, error) {
	a, ok := v.Value.(*hujson.Array)
	if !ok {
		return nil, d.p.errorAt(v.StartOffset, "%s is %s, want an array", field, kindName(*v))
	}
	return a, nil
}

func (d decoder) str(field string, v *hujson.Value) (text, error) {
	if lit, ok := v.Value.(hujson.Literal); ok && lit.Kind() == '"' {
		return text{s: lit.String(), off: v.StartOffset}, nil
	}
	return text{}, d.p.errorAt(v.StartOffset, "%s is %s, want a string", field, kindName(*v))
}

// strings reads an array of strings; null reads as empty.
func (d decoder) strings(field string, v *hujson.Value) ([]text, error) {
	if isNull(*v) {
		return nil, nil
	}
	a, err := d.array(field, v)
	if err != nil {
		return nil, err
	}
	out := make([]text, 0, len(a.Elements))
	for i := range a.Elements {
		t, err := d.str(fmt.Sprintf("%s[%d]", field, i), &a.Elements[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// stringLists reads {"key": ["a", "b"]} (groups, tagOwners).
func (d decoder) stringLists(field string, v *hujson.Value, into map[string]*listEntry) error {
	o, err := d.object(field, v)
	if err != nil {
		return err
	}
	for i := range o.Members {
		m := &o.Members[i]
		key := m.Name.Value.(hujson.Literal).String()
		items, err := d.strings(fmt.Sprintf("%s[%q]", field, key), &m.Value)
		if err != nil {
			return err
		}
		into[key] = &listEntry{key: text{s: key, off: m.Name.StartOffset}, items: items}
	}
	return nil
}

func (d decoder) hosts(v *hujson.Value) error {
	o, err := d.object("hosts", v)
	if err != nil {
		return err
	}
	for i := range o.Members {
		m := &o.Members[i]
		key := m.Name.Value.(hujson.Literal).String()
		addr, err := d.str(fmt.Sprintf("hosts[%q]", key), &m.Value)
		if err != nil {
			return err
		}
		h := &hostEntry{key: text{s: key, off: m.Name.StartOffset}, addr: addr}
		h.prefix, _ = parsePrefix(addr.s)
		d.p.hosts[key] = h
	}
	return nil
}

// rules reads acls or grants. Both become a rule; an acls entry keeps its
// ports in dst, a grants entry in ip.
func (d decoder) rules(section string, v *hujson.Value, into *[]*rule) error {
	a, err := d.array(section, v)
	if err != nil {
		return err
	}
	for i := range a.Elements {
		field := fmt.Sprintf("%s[%d]", section, i)
		o, err := d.object(field, &a.Elements[i])
		if err != nil {
			return err
		}
		r := &rule{section: section, index: i, off: a.Elements[i].StartOffset, accept: section == "grants"}
		for j := range o.Members {
			m := &o.Members[j]
			key := m.Name.Value.(hujson.Literal).String()
			name := field + "." + key
			switch {
			case section == "acls" && key == "action":
				t, err := d.str(name, &m.Value)
				if err != nil {
					return err
				}
				r.accept = t.s == "accept"
			case section == "acls" && key == "proto":
				t, err := d.str(name, &m.Value)
				if err != nil {
					return err
				}
				r.proto = &t
			// "users" and "ports" are the legacy names of src and dst.
			case key == "src" || section == "acls" && key == "users":
				t, err := d.strings(name, &m.Value)
				if err != nil {
					return err
				}
				r.src = append(r.src, t...)
			case key == "dst" || section == "acls" && key == "ports":
				t, err := d.strings(name, &m.Value)
				if err != nil {
					return err
				}
				for _, s := range t {
					r.dst = append(r.dst, splitDst(section, s))
				}
			case section == "grants" && key == "ip":
				t, err := d.strings(name, &m.Value)
				if err != nil {
					return err
				}
				r.ip, r.hasIP = append(r.ip, t...), true
			case key == "srcPosture":
				if !isNull(m.Value) {
					r.posture = &text{s: key, off: m.Name.StartOffset}
				}
			}
		}
		*into = append(*into, r)
	}
	return nil
}

// splitDst splits an acls destination "target:ports" at its last colon
// (tag:k8s:443, [fd7a::1]:443, 100.64.0.0/10:*). A grants destination has
// no ports.
func splitDst(section string, t text) alias {
	if section != "acls" {
		return alias{text: t, target: t.s}
	}
	i := strings.LastIndexByte(t.s, ':')
	if i < 0 {
		return alias{text: t, target: t.s}
	}
	target := t.s[:i]
	if strings.HasPrefix(target, "[") && strings.HasSuffix(target, "]") {
		target = target[1 : len(target)-1]
	}
	return alias{text: t, target: target, ports: t.s[i+1:]}
}

func (d decoder) nodeAttrs(v *hujson.Value) error {
	a, err := d.array("nodeAttrs", v)
	if err != nil {
		return err
	}
	for i := range a.Elements {
		field := fmt.Sprintf("nodeAttrs[%d]", i)
		o, err := d.object(field, &a.Elements[i])
		if err != nil {
			return err
		}
		n := &nodeAttr{off: a.Elements[i].StartOffset}
		for j := range o.Members {
			m := &o.Members[j]
			key := m.Name.Value.(hujson.Literal).String()
			var list *[]text
			switch key {
			case "target":
				list = &n.target
			case "attr":
				list = &n.attr
			default:
				continue
			}
			t, err := d.strings(field+"."+key, &m.Value)
			if err != nil {
				return err
			}
			*list = append(*list, t...)
		}
		d.p.nodeAttrs = append(d.p.nodeAttrs, n)
	}
	return nil
}

// autoApprovers reads only "services"; routes and exitNode do not concern
// the operator's ingress proxies.
func (d decoder) autoApprovers(v *hujson.Value) error {
	o, err := d.object("autoApprovers", v)
	if err != nil {
		return err
	}
	for i := range o.Members {
		m := &o.Members[i]
		if m.Name.Value.(hujson.Literal).String() != "services" || isNull(m.Value) {
			continue
		}
		if err := d.stringLists("autoApprovers.services", &m.Value, d.p.svcApprovers); err != nil {
			return err
		}
	}
	return nil
}

func isNull(v hujson.Value) bool {
	lit, ok := v.Value.(hujson.Literal)
	return ok && lit.Kind() == 'n'
}

func kindName(v hujson.Value) string {
	switch v.Value.Kind() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "an unknown value"
}

// parsePrefix reads an IP address or a CIDR; an address becomes a single
// address prefix.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}
