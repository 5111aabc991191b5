package scheduler

import (
	"strings"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
)

// FuzzParseProbeTarget: /probe's target parameter is attacker-controlled.
// Whatever it is, parsing never panics, and what it accepts is a bare valid
// hostname or IP literal: no scheme, user info, path or other junk survives.
func FuzzParseProbeTarget(f *testing.F) {
	for _, s := range []string{
		"whoami.example.ts.net", "https://k8s.example.ts.net/", "x.ts.net:443", "[::1]:443", "127.0.0.1",
		"http://x.ts.net", "https://u:p@x.ts.net", "x.ts.net/path", "https://x.ts.net?q", "%00", "[fe80::1%25eth0]:443",
		"https://[::1]:443/", "HTTPS://X.TS.NET", "x.ts.net.", ":443", "https://", "@", "a@b:c@d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		pt, err := ParseProbeTarget(raw)
		if err != nil {
			if !IsRefused(err) {
				t.Fatalf("ParseProbeTarget(%q): error %v is not a refusal", raw, err)
			}
			return
		}
		if strings.ContainsAny(pt.Host, "/@?#") || strings.Contains(pt.Host, "://") {
			t.Fatalf("ParseProbeTarget(%q) accepted host %q", raw, pt.Host)
		}
		if pt.Port < 0 || pt.Port > 65535 {
			t.Fatalf("ParseProbeTarget(%q): port %d", raw, pt.Port)
		}
		if !pt.IP.IsValid() {
			if err := config.ValidHostname(pt.Host); err != nil {
				t.Fatalf("ParseProbeTarget(%q) accepted invalid hostname %q: %v", raw, pt.Host, err)
			}
		}
	})
}
