package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		yaml string
		want []string // substrings the error must contain
	}{
		{"malformed yaml", "targets:\n  - hostname: [a\n", []string{"parse", "line"}},
		{"unknown top-level key", "target:\n  - hostname: a.example.ts.net\n", []string{"line 1", "field target not found"}},
		{"unknown target key", "targets:\n  - hostname: a.example.ts.net\n    modul: tls\n", []string{"line 3", "field modul not found"}},
		{"duplicate target", "targets:\n  - hostname: a.example.ts.net\n  - hostname: A.example.ts.net.\n", []string{`"a.example.ts.net" at line 3`, "duplicate of the target at line 2"}},
		{"ip literal hostname", "targets:\n  - hostname: 100.64.0.1\n", []string{"line 2", "is an IP address"}},
		{"single label hostname", "targets:\n  - hostname: whoami\n", []string{"line 2", "not a fully qualified"}},
		{"bad label", "targets:\n  - hostname: who_ami.example.ts.net\n", []string{"line 2", `invalid label "who_ami"`}},
		{"empty hostname", "targets:\n  - module: tls\n", []string{"line 2", "empty hostname"}},
		{"unknown module", "targets:\n  - hostname: a.example.ts.net\n    module: nope\n", []string{"line 2", `unknown module "nope"`, "https, tls"}},
		{"unconfigured vantage", "targets:\n  - hostname: a.example.ts.net\n    vantages: [tailnet]\n", []string{"line 2", `vantage "tailnet" is not configured`}},
		{"bad resolve", "targets:\n  - hostname: a.example.ts.net\n    resolve: localhost:80\n", []string{"line 2", "not an IP address"}},
		{"bad resolve port", "targets:\n  - hostname: a.example.ts.net\n    resolve: 127.0.0.1:99999\n", []string{"bad port"}},
		{"bad prober", "modules:\n  x:\n    prober: icmp\n", []string{`module "x"`, `prober "icmp"`}},
		{"bad module name", "modules:\n  X Y:\n    prober: tls\n", []string{`name "X Y"`}},
		{"bad duration", "modules:\n  x:\n    timeout: soon\n", []string{"line 3"}},
		{"negative timeout", "modules:\n  x:\n    timeout: -1s\n", []string{"must be positive"}},
		{"bad status", "modules:\n  x:\n    http:\n      valid_status_codes: [200, 1000]\n", []string{"1000 is not an HTTP status code"}},
		{"bad path", "modules:\n  x:\n    http:\n      path: health\n", []string{"must start with /"}},
		{"bad ip protocol", "modules:\n  x:\n    preferred_ip_protocol: ipx\n", []string{"want ip4 or ip6"}},
		{"missing ca file", "modules:\n  x:\n    tls:\n      ca_file: nope.pem\n", []string{`module "x"`, "tls.ca_file", "nope.pem"}},
		{"garbage ca file", "modules:\n  x:\n    tls:\n      ca_file: garbage.pem\n", []string{"no PEM certificate found", "garbage.pem"}},
		{"bad socks5 address", "vantages:\n  tailnet:\n    socks5_address: nope\n", []string{"socks5_address"}},
		{"bad resolve map address", "resolve:\n  a.example.ts.net: nope\n", []string{"resolve a.example.ts.net", "want IP or IP:PORT"}},
		{"bad resolve map host", "resolve:\n  bad_host.example.ts.net: 127.0.0.1\n", []string{"resolve:", `invalid label "bad_host"`}},
		{"bad signature regexp", "log_signatures:\n  - name: cert_fail\n    pattern: 'cert(['\n", []string{"log_signatures", "cert_fail"}},
		{"bad signature name", "log_signatures:\n  - name: Cert-Fail\n    pattern: cert\n", []string{"log_signatures", "Cert-Fail"}},
		{"duplicate signature", "log_signatures:\n  - name: a\n    pattern: x\n  - name: a\n    pattern: y\n", []string{"log_signatures", "duplicate"}},
		{"unknown signature key", "log_signatures:\n  - name: a\n    regex: x\n", []string{"line 3", "field regex not found"}},
		{"unknown vantage kind", "vantages:\n  office:\n    socks5_address: 127.0.0.1:1080\n", []string{"field office not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), dir, Flags{})
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg.yml")
	if err := os.WriteFile(path, []byte("targets:\n  - hostname: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, Flags{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Load error = %v, want it to name %s and line 2", err, path)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yml"), Flags{}); err == nil || !strings.Contains(err.Error(), "absent.yml") {
		t.Fatalf("Load of a missing file: error = %v, want it to name the file", err)
	}
}

func TestParseValid(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, filepath.Join(dir, "ca.pem"))
	cfg, err := Parse([]byte(`
modules:
  https:
    timeout: 5s
    http:
      path: /healthz
      valid_status_codes: [200, 204]
  tlsonly:
    prober: tls
    preferred_ip_protocol: ip6
    ip_protocol_fallback: false
    tls:
      ca_file: ca.pem
      server_name: other.example.ts.net
vantages:
  tailnet:
    socks5_address: 127.0.0.1:1055
targets:
  - hostname: k8s.example.ts.net
    resolve: 127.0.0.1:8443
  - hostname: whoami.example.ts.net
    module: tlsonly
    vantages: [direct]
resolve:
  Whoami.example.ts.net.: "[::1]:9443"
  discovered.example.ts.net: 127.0.0.2
log_signatures:
  - name: cert_fetch_failed
    pattern: 'getCertPEM: .*'
`), dir, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	https, _ := cfg.Module("")
	if https.Timeout != 5*time.Second || https.HTTP.Path != "/healthz" || https.Port != 443 || https.HTTP.Method != "GET" || https.IPProtocol != "ip4" || !*https.IPProtocolFallback {
		t.Errorf("default module = %+v", https)
	}
	tlsonly, ok := cfg.Module("tlsonly")
	if !ok || tlsonly.Prober != ProberTLS || tlsonly.TLS.RootCAs == nil || *tlsonly.IPProtocolFallback || tlsonly.Timeout != 10*time.Second {
		t.Errorf("tlsonly module = %+v", tlsonly)
	}
	if m, ok := cfg.Module("tls"); !ok || m.Prober != ProberTLS {
		t.Errorf("builtin tls module missing: %+v", m)
	}
	if got := cfg.TargetVantages(cfg.Targets[0]); strings.Join(got, ",") != "direct,tailnet" {
		t.Errorf("vantages of first target = %v, want all configured", got)
	}
	if got := cfg.TargetVantages(cfg.Targets[1]); strings.Join(got, ",") != "direct" {
		t.Errorf("vantages of second target = %v", got)
	}
	if ev, ok := cfg.Matcher.Match([]byte(`cert("k8s.example.ts.net"): getCertPEM: 403`)); !ok || !ev.Custom.Has(0) {
		t.Errorf("the configured signature does not match: %+v %v", ev, ok)
	}
	if got := cfg.Override("discovered.example.ts.net"); got != "127.0.0.2" {
		t.Errorf("Override(discovered) = %q", got)
	}
	if cfg.Targets[1].Resolve != "[::1]:9443" || cfg.Targets[0].Resolve != "127.0.0.1:8443" {
		t.Errorf("target resolves = %q, %q: the target's own wins, the map fills the rest", cfg.Targets[0].Resolve, cfg.Targets[1].Resolve)
	}
	if cfg.Targets[0].Line != 19 {
		t.Errorf("line of first target = %d, want 19", cfg.Targets[0].Line)
	}
}

func TestParseEmpty(t *testing.T) {
	cfg, err := Parse(nil, "", Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Targets) != 0 || len(cfg.Modules) != 2 {
		t.Errorf("empty config = %+v", cfg)
	}
}

func TestFlags(t *testing.T) {
	file := []byte("targets:\n  - hostname: file.example.ts.net\n  - hostname: tailnet.example.ts.net\n    vantages: [tailnet]\n")
	cfg, err := Parse(file, "", Flags{
		Targets:       []string{"k8s.example.ts.net", "whoami.example.ts.net"},
		Resolves:      []string{"k8s.example.ts.net=127.0.0.1:8443", "file.example.ts.net=[::1]:9443"},
		TailnetSOCKS5: "127.0.0.1:1055",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range cfg.Targets {
		got[tg.Hostname] = tg.Resolve
	}
	want := map[string]string{"file.example.ts.net": "[::1]:9443", "tailnet.example.ts.net": "", "k8s.example.ts.net": "127.0.0.1:8443", "whoami.example.ts.net": ""}
	if len(got) != len(want) {
		t.Errorf("targets = %v, want %v", got, want)
	}
	for h, r := range want {
		if got[h] != r {
			t.Errorf("resolve of %s = %q, want %q", h, got[h], r)
		}
	}
	if cfg.Vantages.Tailnet == nil || cfg.Vantages.Tailnet.SOCKS5Address != "127.0.0.1:1055" {
		t.Errorf("tailnet vantage from the flag = %+v", cfg.Vantages.Tailnet)
	}

	const socks = "127.0.0.1:1055"
	for _, tc := range []struct {
		name string
		f    Flags
		want string
	}{
		{"duplicate of file target", Flags{Targets: []string{"file.example.ts.net"}, TailnetSOCKS5: socks}, "duplicate of the target at line 2"},
		{"bad override form", Flags{Resolves: []string{"k8s.example.ts.net"}, TailnetSOCKS5: socks}, "want HOSTNAME=IP[:PORT]"},
		{"bad override address", Flags{Resolves: []string{"k8s.example.ts.net=example.com"}, TailnetSOCKS5: socks}, "want IP or IP:PORT"},
		{"invalid flag hostname", Flags{Targets: []string{"https://x.ts.net"}, TailnetSOCKS5: socks}, "flag --probe.target=https://x.ts.net"},
		{"bad socks5 address", Flags{TailnetSOCKS5: "nope"}, "--probe.tailnet-socks5-address"},
		{"file target names the unconfigured tailnet vantage", Flags{}, `vantage "tailnet" is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(file, "", tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseOverride(t *testing.T) {
	for _, tc := range []struct {
		in       string
		addr     string
		port     int
		wantFail bool
	}{
		{"127.0.0.1", "127.0.0.1", 0, false},
		{"127.0.0.1:8443", "127.0.0.1", 8443, false},
		{"::1", "::1", 0, false},
		{"[::1]", "::1", 0, false},
		{"[::1]:443", "::1", 443, false},
		{"[fe80::1%eth0]:443", "fe80::1%eth0", 443, false},
		{"localhost", "", 0, true},
		{"127.0.0.1:0", "", 0, true},
		{"127.0.0.1:http", "", 0, true},
		{"", "", 0, true},
	} {
		a, p, err := ParseOverride(tc.in)
		if (err != nil) != tc.wantFail {
			t.Errorf("ParseOverride(%q) error = %v, wantFail %v", tc.in, err, tc.wantFail)
			continue
		}
		if !tc.wantFail && (a.String() != tc.addr || p != tc.port) {
			t.Errorf("ParseOverride(%q) = %s, %d; want %s, %d", tc.in, a, p, tc.addr, tc.port)
		}
	}
}

func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
