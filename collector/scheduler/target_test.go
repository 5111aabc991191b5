package scheduler

import (
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
)

// TestRequest: one rule picks module and resolve override for every caller
// (scheduler, /probe, diagnose).
func TestRequest(t *testing.T) {
	cfg, err := config.Parse([]byte(`
modules:
  tls8443:
    prober: tls
    port: 8443
targets:
  - hostname: own.tn.ts.net
    module: tls8443
    resolve: 127.0.0.2
  - hostname: mapped.tn.ts.net
resolve:
  mapped.tn.ts.net: 127.0.0.3
  other.tn.ts.net: 127.0.0.4:8443
`), "", config.Flags{})
	if err != nil {
		t.Fatal(err)
	}
	direct := Vantage{Name: config.VantageDirect}
	tailnet := Vantage{Name: config.VantageTailnet, ResolveRemotely: true}
	for _, tc := range []struct {
		name, host, module string
		v                  Vantage
		wantPort           int
		wantOverride       string
		wantHTTP           bool
		wantRemote         bool
		wantErr            bool
	}{
		{"target's module and override", "own.tn.ts.net", "", direct, 8443, "127.0.0.2", false, false, false},
		{"case and trailing dot of a target", "OWN.tn.ts.net.", "", direct, 8443, "127.0.0.2", false, false, false},
		{"another module keeps the target's override", "own.tn.ts.net", config.DefaultModule, direct, 443, "127.0.0.2", true, false, false},
		{"target without its own override: the map's", "mapped.tn.ts.net", "", direct, 443, "127.0.0.3", true, false, false},
		{"no target: the map's override", "other.tn.ts.net", "", direct, 443, "127.0.0.4:8443", true, false, false},
		{"no target, no override: the default module", "new.tn.ts.net", "", direct, 443, "", true, false, false},
		{"tailnet resolves remotely without override", "new.tn.ts.net", "", tailnet, 443, "", true, true, false},
		{"an override beats remote resolution", "other.tn.ts.net", "", tailnet, 443, "127.0.0.4:8443", true, false, false},
		{"unknown module", "new.tn.ts.net", "nope", direct, 0, "", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Network{}.Request(cfg, tc.host, tc.module, tc.v)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Request: err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if req.Hostname != tc.host || req.Port != tc.wantPort || req.Override != tc.wantOverride || req.HTTP != tc.wantHTTP || req.ResolveRemotely != tc.wantRemote {
				t.Errorf("Request = host %q port %d override %q http %v remote %v; want %q %d %q %v %v",
					req.Hostname, req.Port, req.Override, req.HTTP, req.ResolveRemotely, tc.host, tc.wantPort, tc.wantOverride, tc.wantHTTP, tc.wantRemote)
			}
		})
	}
}
