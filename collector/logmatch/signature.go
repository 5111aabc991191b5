package logmatch

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// MaxSignatures bounds the user-defined signatures of one Matcher; each
// becomes a label value, and Event.Custom is a 64-bit set.
const MaxSignatures = 64

// Signature is a user-defined log line signature: lines whose message (the
// line without its Kubernetes, journald and Go log prefixes) matches the
// regular expression Pattern (RE2 syntax) are counted under Name.
type Signature struct {
	Name    string `yaml:"name"`
	Pattern string `yaml:"pattern"`
}

var signatureName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Matcher matches log lines against the built-in events and a fixed list
// of signatures. It is safe for concurrent use.
type Matcher struct {
	sigs []compiled
}

type compiled struct {
	Signature
	re *regexp.Regexp
	// literal is a substring every match contains (lit nil if none). Lines
	// without it skip the regular expression.
	literal literal
}

// New compiles sigs into a Matcher. It rejects names that are not of the
// form [a-z][a-z0-9_]* (at most 63 bytes), duplicate names, patterns that
// do not compile and more than MaxSignatures signatures.
func New(sigs []Signature) (*Matcher, error) {
	if len(sigs) > MaxSignatures {
		return nil, fmt.Errorf("%d signatures given, at most %d allowed", len(sigs), MaxSignatures)
	}
	m := &Matcher{sigs: make([]compiled, 0, len(sigs))}
	seen := make(map[string]bool, len(sigs))
	var errs []error
	for i, s := range sigs {
		if !signatureName.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("signature %d %q: name must match %s", i, s.Name, signatureName))
			continue
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("signature %q: duplicate name", s.Name))
			continue
		}
		seen[s.Name] = true
		c, err := compile(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.sigs = append(m.sigs, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func compile(s Signature) (compiled, error) {
	if s.Pattern == "" {
		return compiled{}, fmt.Errorf("signature %q: empty pattern", s.Name)
	}
	re, err := regexp.Compile(s.Pattern)
	if err != nil {
		return compiled{}, fmt.Errorf("signature %q: %w", s.Name, err)
	}
	tree, err := syntax.Parse(s.Pattern, syntax.Perl)
	if err != nil {
		return compiled{}, fmt.Errorf("signature %q: %w", s.Name, err)
	}
	return compiled{Signature: s, re: re, literal: newLiteral(requiredLiteral(tree.Simplify()))}, nil
}

// Signatures returns the signatures in index order: Event.Custom.Has(i)
// means the line matched Signatures()[i].
func (m *Matcher) Signatures() []Signature {
	if m == nil {
		return nil
	}
	out := make([]Signature, len(m.sigs))
	for i, c := range m.sigs {
		out[i] = c.Signature
	}
	return out
}

// matchCustom runs the signatures on msg, the message of a line. A
// signature's regular expression runs only if msg holds its literal.
func (m *Matcher) matchCustom(msg []byte) SignatureSet {
	var set SignatureSet
	for i := range m.sigs {
		c := &m.sigs[i]
		if c.literal.lit != nil && !c.literal.in(msg) {
			continue
		}
		if c.re.Match(msg) {
			set |= 1 << uint(i)
		}
	}
	return set
}

// literal finds a fixed string by searching for its rarest byte with
// bytes.IndexByte (vectorised) and comparing around each hit: much faster
// than bytes.Index when the string starts with a byte common in logs.
type literal struct {
	lit  []byte
	rare byte
	off  int // index of rare in lit
}

func newLiteral(lit []byte) literal {
	if len(lit) == 0 {
		return literal{}
	}
	best := 0
	for i := range lit {
		if byteCommonness(lit[i]) < byteCommonness(lit[best]) {
			best = i
		}
	}
	return literal{lit: lit, rare: lit[best], off: best}
}

func (l literal) in(b []byte) bool {
	for i := l.off; i < len(b); {
		j := bytes.IndexByte(b[i:], l.rare)
		if j < 0 {
			return false
		}
		start := i + j - l.off
		if start+len(l.lit) > len(b) {
			return false
		}
		if bytes.Equal(b[start:start+len(l.lit)], l.lit) {
			return true
		}
		i += j + 1
	}
	return false
}

// byteCommonness ranks how often a byte occurs in log text, lowest rarest:
// a rough order (spaces and separators, lower case, digits, upper case,
// other punctuation, control and non-ASCII bytes).
func byteCommonness(c byte) int {
	switch {
	case c == ' ' || c == ':' || c == '.' || c == '/' || c == '-' || c == '=':
		return 9
	case c >= 'a' && c <= 'z':
		if bytes.IndexByte([]byte("etaoinsrhdlcu"), c) >= 0 {
			return 8
		}
		return 7
	case c >= '0' && c <= '9':
		return 6
	case c == 'T' || c == 'Z':
		return 5 // every Kubernetes timestamp has them
	case c >= 'A' && c <= 'Z':
		return 3
	case c < 0x20 || c >= 0x80:
		return 1
	}
	return 2
}

// requiredLiteral returns the longest case-sensitive literal that every
// match of re contains, or nil if it finds none.
func requiredLiteral(re *syntax.Regexp) []byte {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return appendRunes(nil, re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		// Adjacent literals join into one run; a sub-expression's own
		// required literal is a candidate too.
		var best, run []byte
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 {
				run = appendRunes(run, sub.Rune)
				if len(run) > len(best) {
					best = run
				}
				continue
			}
			run = nil
			if lit := requiredLiteral(sub); len(lit) > len(best) {
				best = lit
			}
		}
		return best
	}
	return nil
}

func appendRunes(b []byte, rs []rune) []byte {
	for _, r := range rs {
		b = utf8.AppendRune(b, r)
	}
	return b
}
