package config

import "testing"

// FuzzParse: a configuration file is user input. Parsing never panics, and
// what it accepts is valid: every target has a valid hostname and a module
// that exists.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "targets:\n  - hostname: a.example.ts.net\n",
		"modules:\n  x:\n    prober: tls\n    timeout: 1s\ntargets:\n  - hostname: a.example.ts.net\n    module: x\n    resolve: 127.0.0.1:1\n",
		"vantages:\n  tailnet:\n    socks5_address: 127.0.0.1:1055\ntargets:\n  - hostname: a.b.ts.net\n    vantages: [tailnet, direct]\n",
		"targets: [\n", "targets:\n  - hostname: [a]\n", "modules: {x: {http: {valid_status_codes: [99]}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, t.TempDir(), Flags{})
		if err != nil {
			return
		}
		for _, tg := range cfg.Targets {
			if err := ValidHostname(tg.Hostname); err != nil {
				t.Fatalf("accepted target %q: %v", tg.Hostname, err)
			}
			if _, ok := cfg.Module(tg.Module); !ok {
				t.Fatalf("accepted target %q with unknown module %q", tg.Hostname, tg.Module)
			}
		}
	})
}
