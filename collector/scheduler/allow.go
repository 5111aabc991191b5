package scheduler

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
)

// Allowlist says which hostnames /probe may probe beyond the known targets.
// Entries are globs over the whole name ("*.ts.net": '*' also crosses dots)
// or, to allow IP literals explicitly, IP addresses and CIDR prefixes.
type Allowlist struct {
	globs    []string
	prefixes []netip.Prefix
}

// DefaultAllow is the default of --probe.allow.
const DefaultAllow = "*.ts.net"

// NewAllowlist validates the entries.
func NewAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if p, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(e); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if e == "" || strings.ContainsAny(e, "/:@") {
			return nil, fmt.Errorf("--probe.allow=%q: want a hostname glob like *.ts.net, an IP or a CIDR prefix", e)
		}
		if _, err := path.Match(e, "x"); err != nil {
			return nil, fmt.Errorf("--probe.allow=%q: %w", e, err)
		}
		a.globs = append(a.globs, e)
	}
	return a, nil
}

func (a *Allowlist) allowsName(host string) bool {
	for _, g := range a.globs {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

func (a *Allowlist) allowsIP(ip netip.Addr) bool {
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// errRefused marks a target /probe must not probe (HTTP 403).
var errRefused = errors.New("refused")

// ProbeTarget is a /probe target parameter, parsed.
type ProbeTarget struct {
	Host string     // lower case, no trailing dot
	IP   netip.Addr // set when the target is an IP literal
	Port int        // 0 when not given
}

// ParseProbeTarget accepts "host", "host:port" and "https://host[:port][/]".
// Other schemes, user info, paths, queries and fragments are refused: /probe
// checks that a ts.net endpoint works, it does not fetch arbitrary URLs.
func ParseProbeTarget(raw string) (ProbeTarget, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ProbeTarget{}, fmt.Errorf("%w: empty target", errRefused)
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return ProbeTarget{}, fmt.Errorf("%w: target %q is not a URL: %v", errRefused, raw, err)
		}
		if u.Scheme != "https" {
			return ProbeTarget{}, fmt.Errorf("%w: target %q: scheme %q is not allowed, only https", errRefused, raw, u.Scheme)
		}
		if u.User != nil {
			return ProbeTarget{}, fmt.Errorf("%w: target %q: user info is not allowed", errRefused, raw)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return ProbeTarget{}, fmt.Errorf("%w: target %q: a path or query is not allowed; the module sets the path", errRefused, raw)
		}
		s = u.Host
	}
	if strings.ContainsAny(s, "@/?#") {
		return ProbeTarget{}, fmt.Errorf("%w: target %q: want a hostname", errRefused, raw)
	}
	host, port := s, 0
	if h, p, err := net.SplitHostPort(s); err == nil { // an error means no port
		host = h
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return ProbeTarget{}, fmt.Errorf("%w: target %q: bad port %q", errRefused, raw, p)
		}
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ProbeTarget{Host: host, IP: ip, Port: port}, nil
	}
	if err := config.ValidHostname(host); err != nil {
		return ProbeTarget{}, fmt.Errorf("%w: target %q: %v", errRefused, raw, err)
	}
	return ProbeTarget{Host: host, Port: port}, nil
}
