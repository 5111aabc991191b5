// Package config is the exporter's typed configuration: probe modules,
// static targets and vantages, loaded from YAML and from flags, validated
// before anything runs. It knows nothing about probing; package scheduler turns
// a Target into a prober.Request.
package config

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
)

// Vantage names are label values; only these two exist.
const (
	VantageDirect  = "direct"
	VantageTailnet = "tailnet"
)

// Prober kinds of a module.
const (
	ProberHTTPS = "https" // TLS handshake, then an HTTP request
	ProberTLS   = "tls"   // TLS handshake only
)

// DefaultModule is the module a target uses when it names none.
const DefaultModule = "https"

// Config is the whole configuration file.
type Config struct {
	Modules  map[string]Module `yaml:"modules"`
	Targets  []Target          `yaml:"targets"`
	Vantages Vantages          `yaml:"vantages"`
	// Resolve maps hostnames to "IP" or "IP:port" for every probe of that
	// name, including discovered endpoints (curl --resolve style).
	Resolve map[string]string `yaml:"resolve"`
	// LogSignatures are user-defined log line patterns, counted like the
	// built-in drop and failure signatures, so a new failure pattern needs
	// no release.
	LogSignatures []logmatch.Signature `yaml:"log_signatures"`

	// Matcher is the log matcher compiled from LogSignatures at load time.
	Matcher *logmatch.Matcher `yaml:"-"`
}

// Vantages are the places probes are sent from. direct always exists.
type Vantages struct {
	Tailnet *TailnetVantage `yaml:"tailnet"`
}

// TailnetVantage probes through tailscaled's SOCKS5 server (userspace mode,
// --socks5-server), so the tailnet path is tested, not the public one.
type TailnetVantage struct {
	SOCKS5Address string `yaml:"socks5_address"`
}

// Module is a named set of probe options, as in blackbox_exporter.
type Module struct {
	Prober             string        `yaml:"prober"`
	Timeout            time.Duration `yaml:"timeout"`
	Port               int           `yaml:"port"`
	IPProtocol         string        `yaml:"preferred_ip_protocol"`
	IPProtocolFallback *bool         `yaml:"ip_protocol_fallback"`
	TLS                TLSConfig     `yaml:"tls"`
	HTTP               HTTPConfig    `yaml:"http"`
}

// TLSConfig configures the handshake and certificate checks.
type TLSConfig struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`

	// RootCAs is CAFile parsed at load time, so a bad file fails the load
	// instead of every probe.
	RootCAs *x509.CertPool `yaml:"-"`
}

// HTTPConfig configures the request of an https module.
type HTTPConfig struct {
	Method           string `yaml:"method"`
	Path             string `yaml:"path"`
	ValidStatusCodes []int  `yaml:"valid_status_codes"`
}

// Target is one endpoint to probe on a schedule.
type Target struct {
	Hostname string   `yaml:"hostname"`
	Module   string   `yaml:"module"`
	Vantages []string `yaml:"vantages"`
	// Resolve overrides name resolution, curl --resolve style: "IP" or
	// "IP:port" ("[IPv6]:port").
	Resolve string `yaml:"resolve"`

	// Line is where the target was defined, for error messages; 0 for flags.
	Line int `yaml:"-"`
}

// UnmarshalYAML records the line of each target so that later validation
// errors can point at it.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	// A custom unmarshaler loses the decoder's KnownFields, so check keys here.
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if !slices.Contains(targetKeys, k.Value) {
				return fmt.Errorf("line %d: field %s not found in target (known: %s)", k.Line, k.Value, strings.Join(targetKeys, ", "))
			}
		}
	}
	type plain Target
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Target(p)
	t.Line = n.Line
	return nil
}

var targetKeys = []string{"hostname", "module", "vantages", "resolve"}

// Where names the place a target was defined.
func (t Target) Where() string {
	if t.Line == 0 {
		return "flag --probe.target=" + t.Hostname
	}
	return fmt.Sprintf("line %d", t.Line)
}

// Builtin modules exist without a config file; a file may redefine them.
func builtinModules() map[string]Module {
	return map[string]Module{
		ProberHTTPS: {Prober: ProberHTTPS},
		ProberTLS:   {Prober: ProberTLS},
	}
}

// Flags are the command-line additions to the file: they are applied before
// validation, so a flag-configured vantage can be named by file targets.
type Flags struct {
	Targets       []string // --probe.target
	Resolves      []string // --probe.resolve HOSTNAME=IP[:PORT]
	TailnetSOCKS5 string   // --probe.tailnet-socks5-address
}

// Load reads, parses and validates a configuration file (none when path is
// empty) with the flags applied. Unknown keys are errors: a typo must not
// silently change what is probed.
func Load(path string, f Flags) (*Config, error) {
	if path == "" {
		return Parse(nil, "", f)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(path), f)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse parses YAML, applies the flags and validates; relative CA file paths
// are taken from dir. Empty input is a valid, empty configuration.
func Parse(data []byte, dir string, f Flags) (*Config, error) {
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := cfg.applyFlags(f); err != nil {
		return nil, err
	}
	if err := cfg.complete(dir); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyFlags adds flag targets (default module, all vantages), resolve
// overrides (for flag targets, and for file targets that set none) and the
// tailnet vantage (the flag wins over the file).
func (c *Config) applyFlags(f Flags) error {
	if f.TailnetSOCKS5 != "" {
		if _, _, err := net.SplitHostPort(f.TailnetSOCKS5); err != nil {
			return fmt.Errorf("flag --probe.tailnet-socks5-address=%q: %w", f.TailnetSOCKS5, err)
		}
		c.Vantages.Tailnet = &TailnetVantage{SOCKS5Address: f.TailnetSOCKS5}
	}
	for _, o := range f.Resolves {
		host, addr, ok := strings.Cut(o, "=")
		if !ok || host == "" || addr == "" {
			return fmt.Errorf("flag --probe.resolve=%q: want HOSTNAME=IP[:PORT]", o)
		}
		if _, _, err := ParseOverride(addr); err != nil {
			return fmt.Errorf("flag --probe.resolve=%q: %w", o, err)
		}
		if c.Resolve == nil {
			c.Resolve = map[string]string{}
		}
		c.Resolve[host] = addr
	}
	for _, h := range f.Targets {
		c.Targets = append(c.Targets, Target{Hostname: h})
	}
	return nil
}

// Override is the resolve override for a hostname: the target's own, else
// the global resolve map's, else "".
func (c *Config) Override(hostname string) string {
	return c.Resolve[hostname]
}

// VantageNames lists the configured vantages, direct first.
func (c *Config) VantageNames() []string {
	if c.Vantages.Tailnet != nil {
		return []string{VantageDirect, VantageTailnet}
	}
	return []string{VantageDirect}
}

// TargetVantages is the set of vantages a target is probed from: the ones it
// names, or every configured one.
func (c *Config) TargetVantages(t Target) []string {
	if len(t.Vantages) > 0 {
		return t.Vantages
	}
	return c.VantageNames()
}

// Module returns a module by name, the default when name is empty.
func (c *Config) Module(name string) (Module, bool) {
	if name == "" {
		name = DefaultModule
	}
	m, ok := c.Modules[name]
	return m, ok
}

func (c *Config) complete(dir string) error {
	mods := builtinModules()
	for name, m := range c.Modules {
		if !moduleName.MatchString(name) {
			return fmt.Errorf("modules: name %q: want lower-case letters, digits, '_' and '-'", name)
		}
		mods[name] = m
	}
	for name, m := range mods {
		if err := m.complete(dir); err != nil {
			return fmt.Errorf("module %q: %w", name, err)
		}
		mods[name] = m
	}
	c.Modules = mods
	if t := c.Vantages.Tailnet; t != nil {
		if _, _, err := net.SplitHostPort(t.SOCKS5Address); err != nil {
			return fmt.Errorf("vantages.tailnet.socks5_address %q: %w", t.SOCKS5Address, err)
		}
	}
	resolve := make(map[string]string, len(c.Resolve))
	for host, addr := range c.Resolve {
		h := normalHostname(host)
		if err := ValidHostname(h); err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		if _, _, err := ParseOverride(addr); err != nil {
			return fmt.Errorf("resolve %s: %w", host, err)
		}
		resolve[h] = addr
	}
	c.Resolve = resolve
	m, err := logmatch.New(c.LogSignatures)
	if err != nil {
		return fmt.Errorf("log_signatures: %w", err)
	}
	c.Matcher = m
	if err := c.validateTargets(); err != nil {
		return err
	}
	for i := range c.Targets {
		if c.Targets[i].Resolve == "" {
			c.Targets[i].Resolve = c.Resolve[c.Targets[i].Hostname]
		}
	}
	return nil
}

func normalHostname(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

var moduleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (m *Module) complete(dir string) error {
	if m.Prober == "" {
		m.Prober = ProberHTTPS
	}
	if m.Prober != ProberHTTPS && m.Prober != ProberTLS {
		return fmt.Errorf("prober %q: want %q or %q", m.Prober, ProberHTTPS, ProberTLS)
	}
	if m.Timeout == 0 {
		m.Timeout = 10 * time.Second
	}
	if m.Timeout < 0 {
		return fmt.Errorf("timeout %s: must be positive", m.Timeout)
	}
	if m.Port == 0 {
		m.Port = 443
	}
	if m.Port < 1 || m.Port > 65535 {
		return fmt.Errorf("port %d: out of range", m.Port)
	}
	switch m.IPProtocol {
	case "":
		m.IPProtocol = "ip4"
	case "ip4", "ip6":
	default:
		return fmt.Errorf("preferred_ip_protocol %q: want ip4 or ip6", m.IPProtocol)
	}
	if m.IPProtocolFallback == nil {
		t := true
		m.IPProtocolFallback = &t
	}
	if m.HTTP.Method == "" {
		m.HTTP.Method = "GET"
	}
	if m.HTTP.Path == "" {
		m.HTTP.Path = "/"
	}
	if !strings.HasPrefix(m.HTTP.Path, "/") {
		return fmt.Errorf("http.path %q: must start with /", m.HTTP.Path)
	}
	for _, code := range m.HTTP.ValidStatusCodes {
		if code < 100 || code > 599 {
			return fmt.Errorf("http.valid_status_codes: %d is not an HTTP status code", code)
		}
	}
	if m.TLS.CAFile != "" && m.TLS.RootCAs == nil {
		path := m.TLS.CAFile
		if dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls.ca_file %s: no PEM certificate found", path)
		}
		m.TLS.RootCAs = pool
	}
	return nil
}

func (c *Config) validateTargets() error {
	seen := map[string]Target{}
	for i := range c.Targets {
		t := &c.Targets[i]
		t.Hostname = normalHostname(t.Hostname)
		if err := ValidHostname(t.Hostname); err != nil {
			return fmt.Errorf("target at %s: %w", t.Where(), err)
		}
		if prev, dup := seen[t.Hostname]; dup {
			return fmt.Errorf("target %q at %s: duplicate of the target at %s", t.Hostname, t.Where(), prev.Where())
		}
		seen[t.Hostname] = *t
		if _, ok := c.Module(t.Module); !ok {
			return fmt.Errorf("target %q at %s: unknown module %q (known: %s)", t.Hostname, t.Where(), t.Module, strings.Join(c.moduleNames(), ", "))
		}
		for _, v := range t.Vantages {
			if !slices.Contains(c.VantageNames(), v) {
				return fmt.Errorf("target %q at %s: vantage %q is not configured (configured: %s)", t.Hostname, t.Where(), v, strings.Join(c.VantageNames(), ", "))
			}
		}
		if t.Resolve != "" {
			if _, _, err := ParseOverride(t.Resolve); err != nil {
				return fmt.Errorf("target %q at %s: resolve: %w", t.Hostname, t.Where(), err)
			}
		}
	}
	return nil
}

func (c *Config) moduleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidHostname accepts DNS names with at least two labels. IP literals are
// refused: an endpoint is a name; to reach one address use a resolve override.
func ValidHostname(h string) error {
	if h == "" {
		return errors.New("empty hostname")
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return fmt.Errorf("hostname %q is an IP address; use a name and a resolve override", h)
	}
	if len(h) > 253 {
		return fmt.Errorf("hostname %q: longer than 253 characters", h)
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return fmt.Errorf("hostname %q: not a fully qualified name", h)
	}
	for _, l := range labels {
		if !hostLabel.MatchString(l) {
			return fmt.Errorf("hostname %q: invalid label %q", h, l)
		}
	}
	return nil
}

// ParseOverride parses a resolve override: "IP" or "IP:port" or "[IPv6]:port".
// port is 0 when not given.
func ParseOverride(s string) (netip.Addr, int, error) {
	bare := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		bare = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(bare); err == nil {
		return a, 0, nil
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q: want IP or IP:PORT", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return netip.Addr{}, 0, fmt.Errorf("%q: bad port %q", s, portStr)
	}
	return a, port, nil
}
