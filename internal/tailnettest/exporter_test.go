package tailnettest

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober/probertest"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// exporterInterval is the exporter's --probe.interval, which is also how
// often it reads the exact counts: short, so that the test waits little.
const exporterInterval = time.Second

// exporterWait bounds every wait for the exporter to show something: a
// few denied probes of tailscaled's 5 s dial timeout.
const exporterWait = 45 * time.Second

// TestExporterBehindPolicy runs the exporter binary against the real
// processes, as a plain host runs it next to a proxy's tailscaled: it
// follows the proxy node's log file (--logs.file), reads its exact counts
// from its LocalAPI socket (--proxy.localapi-socket), and probes its
// MagicDNS name through the client's SOCKS5 server (the tailnet vantage
// only). What the exporter exports is read from its /metrics. The
// subtests run in order and build on each other.
func TestExporterBehindPolicy(t *testing.T) {
	tn, proxy, client := proxyAndClient(t, allowPolicy)
	ca := serveTLS(t, proxy)
	exp := startExporter(t, proxy, client, ca)
	host := proxy.DNSName
	served := labels{"hostname": host, "port": "443", "reason": "no_rules_matched"}
	exactACL := labels{"hostname": host, "direction": "inbound", "reason": "acl"}
	tailnetProbe := labels{"hostname": host, "vantage": "tailnet"}

	t.Run("allowed", func(t *testing.T) {
		m := exp.waitFor(t, "a successful tailnet probe and a read of the exact counts", func(m metrics) bool {
			return m.value("tailscale_tunnel_probe_success", tailnetProbe) == 1 &&
				m.value("tailscale_tunnel_proxy_metrics_up", labels{"hostname": host}) == 1
		})
		for _, c := range []struct {
			name string
			l    labels
		}{
			{"tailscale_tunnel_proxy_drops_total", served},
			{"tailscale_tunnel_proxy_dropped_packets_total", exactACL},
		} {
			if v, n := m.sum(c.name, c.l); n == 0 || v != 0 {
				t.Errorf("%s%v = %v in %d series with the policy allowing, want 0 in at least one", c.name, c.l, v, n)
			}
		}
	})

	// Under the allowing policy, before any drop: nothing else moves the
	// exact counter, and tailscaled's drop-log rate limit has not begun.
	t.Run("peer API ingress denied", func(t *testing.T) {
		p, err := client.Peer(host)
		if err != nil {
			t.Fatal(err)
		}
		port := peerAPIPortOf(t, p.PeerAPIURL, proxy.IPv4.String())
		dial, err := prober.SOCKS5Dialer(client.SOCKS5, nil)
		if err != nil {
			t.Fatal(err)
		}
		// No metric shows the peer API port the exporter learned (its
		// label is the class, not a number), so its classification says
		// it: the IPv6 address shares the port in userspace mode but not
		// the port InferPeerAPIPort gives it (headscale numbers IPv6
		// addresses apart from IPv4), so only a learned port puts the
		// IPv6 SYN's Drop in port="peerapi".
		t.Logf("peer API port %d; InferPeerAPIPort: %s → %d, %s → %d", port,
			proxy.IPv4, logmatch.InferPeerAPIPort(proxy.IPv4), proxy.IPv6, logmatch.InferPeerAPIPort(proxy.IPv6))
		if logmatch.InferPeerAPIPort(proxy.IPv6) == port {
			t.Fatalf("the IPv6 address %s infers the real peer API port %d: the test cannot tell a learned port from an inferred one", proxy.IPv6, port)
		}
		for _, tc := range []struct {
			family string
			addr   string
		}{
			{"ipv4", proxy.IPv4.String()},
			{"ipv6", proxy.IPv6.String()},
		} {
			t.Run(tc.family, func(t *testing.T) {
				fam := labels{"hostname": host, "family": tc.family}
				peerAPI := labels{"hostname": host, "family": tc.family, "port": "peerapi"}
				other := labels{"hostname": host, "port": "other"}
				before := exp.scrape(t)
				exactBefore := inboundACLDrops(t, proxy)
				status, body := postIngress(t, dial, tc.addr, port)
				if status != http.StatusForbidden || !strings.Contains(body, "no ingress cap") {
					t.Errorf("POST /v0/ingress = %d %q, want 403 \"denied; no ingress cap\"", status, body)
				}
				after := exp.waitFor(t, "the ingress denial and its SYN's Drop counted", func(m metrics) bool {
					return m.value("tailscale_tunnel_proxy_ingress_denied_total", fam) > before.value("tailscale_tunnel_proxy_ingress_denied_total", fam) &&
						m.value("tailscale_tunnel_proxy_drops_total", peerAPI)+m.value("tailscale_tunnel_proxy_drops_total", other) >
							before.value("tailscale_tunnel_proxy_drops_total", peerAPI)+before.value("tailscale_tunnel_proxy_drops_total", other)
				})
				for _, c := range []struct {
					name string
					l    labels
					want float64
				}{
					{"tailscale_tunnel_proxy_ingress_denied_total", fam, 1},
					{"tailscale_tunnel_proxy_drops_total", peerAPI, 1},
					{"tailscale_tunnel_proxy_drops_total", other, 0},
					{"tailscale_tunnel_proxy_drops_total", served, 0},
				} {
					if d := after.value(c.name, c.l) - before.value(c.name, c.l); d != c.want {
						t.Errorf("%s%v grew by %v for one ingress request, want %v", c.name, c.l, d, c.want)
					}
				}
				// tailscaled lets a peer API SYN through its filter
				// uncounted; the exporter's read must agree.
				exact := inboundACLDrops(t, proxy)
				if exact != exactBefore {
					t.Errorf("exact acl drops moved from %v to %v for a peer API connection", exactBefore, exact)
				}
				m := exp.waitFor(t, "a read of the exact counts", func(m metrics) bool {
					return m.value("tailscale_tunnel_proxy_metrics_up", labels{"hostname": host}) == 1
				})
				if v := m.value("tailscale_tunnel_proxy_dropped_packets_total", exactACL); v != exact {
					t.Errorf("exporter's exact acl drops %v, tailscaled's %v", v, exact)
				}
			})
		}
	})

	tn.SetPolicy(t, denyPolicy, proxy)

	t.Run("served port denied", func(t *testing.T) {
		probe := exp.waitFor(t, "the tailnet probe failing with connect_timeout", func(m metrics) bool {
			return m.value("tailscale_tunnel_probe_success", tailnetProbe) == 0 &&
				m.value("tailscale_tunnel_probe_failure_reason", labels{"hostname": host, "vantage": "tailnet", "reason": string(prober.ReasonConnectTimeout)}) == 1
		})
		// tailscaled's SOCKS5 server answered when its dial timeout ended
		// (TestSOCKS5Replies), before the module's 15 s.
		connect := probe.value("tailscale_tunnel_probe_phase_duration_seconds", labels{"hostname": host, "vantage": "tailnet", "phase": "connect"})
		t.Logf("denied tailnet probe: connect_timeout after a %.2f s connect phase", connect)
		if connect < prober.TailscaledDialTimeout.Seconds() || connect >= 15 {
			t.Errorf("connect phase %.2f s, want tailscaled's %v dial timeout, under the module's 15 s", connect, prober.TailscaledDialTimeout)
		}
		// The log is a sample of the counter, and the exporter reads the
		// counter on its interval: take the logged count, then the
		// counter from tailscaled, then wait until the exporter's read
		// has caught up with that; logged ≤ exact must then hold.
		var logged float64
		exp.waitFor(t, "Drop lines to :443 counted", func(m metrics) bool {
			logged = m.value("tailscale_tunnel_proxy_drops_total", served)
			return logged > 0
		})
		floor := inboundACLDrops(t, proxy)
		var exact float64
		m := exp.waitFor(t, fmt.Sprintf("the exporter's exact acl drops to reach tailscaled's %v", floor), func(m metrics) bool {
			exact = m.value("tailscale_tunnel_proxy_dropped_packets_total", exactACL)
			return exact >= floor
		})
		t.Logf("denied probes: %v Drop lines to :443 counted from the log, exact inbound acl drops %v (tailscaled's %v before that read); log shows %.0f%%",
			logged, exact, floor, 100*logged/exact)
		if logged > exact || logged <= 0 || exact <= 0 {
			t.Errorf("logged drops to :443 %v, exact acl drops %v: want 0 < logged ≤ exact", logged, exact)
		}
		for _, name := range []string{"tailscale_tunnel_proxy_drops_total", "tailscale_tunnel_proxy_dropped_packets_total"} {
			for _, s := range m[name].GetMetric() {
				if h := labelOf(s, "hostname"); h != host {
					t.Errorf("%s series with hostname %q, want %q: %v", name, h, host, s.GetLabel())
				}
			}
		}
	})

	// A proxy container restarts: the same log file goes on, tailscaled's
	// counters start again from zero; the exporter's only go up.
	t.Run("restart", func(t *testing.T) {
		before := exp.scrape(t)
		hostL := labels{"hostname": host}
		resets := before.value("tailscale_tunnel_proxy_metrics_resets_total", hostL)
		lines := before.value("tailscale_tunnel_log_lines_total", hostL)
		proxy.Restart(t)
		after := exp.waitFor(t, "the exact counter's reset and the restart's lines", func(m metrics) bool {
			return m.value("tailscale_tunnel_proxy_metrics_resets_total", hostL) > resets &&
				m.value("tailscale_tunnel_proxy_metrics_up", hostL) == 1 &&
				m.value("tailscale_tunnel_log_lines_total", hostL) > lines
		})
		if d := after.value("tailscale_tunnel_proxy_metrics_resets_total", hostL) - resets; d != 1 {
			t.Errorf("metrics_resets_total grew by %v for one restart, want 1", d)
		}
		if up := after.value("tailscale_tunnel_log_stream_up", hostL); up != 1 {
			t.Errorf("log_stream_up = %v after the restart, want 1: the file follower did not survive", up)
		}
		checkCountersUp(t, before, after)

		// Denied probes go on: the new process counts from zero, and the
		// exporter adds that to what it had.
		exactBefore := before.value("tailscale_tunnel_proxy_dropped_packets_total", exactACL)
		loggedBefore := before.value("tailscale_tunnel_proxy_drops_total", served)
		var fresh float64
		err := eventually("the restarted proxy's acl drops", exporterWait, pollInterval, func() (bool, error) {
			fresh = inboundACLDrops(t, proxy)
			return fresh > 0, fmt.Errorf("%v", fresh)
		})
		if err != nil {
			t.Fatal(err)
		}
		m := exp.waitFor(t, "the exporter to add the restarted proxy's drops", func(m metrics) bool {
			return m.value("tailscale_tunnel_proxy_dropped_packets_total", exactACL) >= exactBefore+fresh &&
				m.value("tailscale_tunnel_proxy_drops_total", served) > loggedBefore
		})
		checkCountersUp(t, after, m)
		t.Logf("restart: exact acl drops %v before, tailscaled's own %v after; exporter %v; logged to :443 %v → %v; resets %v → %v",
			exactBefore, fresh, m.value("tailscale_tunnel_proxy_dropped_packets_total", exactACL),
			loggedBefore, m.value("tailscale_tunnel_proxy_drops_total", served),
			resets, m.value("tailscale_tunnel_proxy_metrics_resets_total", hostL))
	})
}

// checkCountersUp fails t for every counter series of before that is
// missing from after or lower in it.
func checkCountersUp(t *testing.T, before, after metrics) {
	t.Helper()
	n := 0
	for name, fam := range before {
		if fam.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, s := range fam.GetMetric() {
			n++
			l := labels{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			v, found := after.sum(name, l)
			if found == 0 {
				t.Errorf("%s%v gone", name, l)
			} else if v < s.GetCounter().GetValue() {
				t.Errorf("%s%v went down from %v to %v", name, l, s.GetCounter().GetValue(), v)
			}
		}
	}
	if n == 0 {
		t.Error("no counters to compare")
	}
}

// exporter is the exporter binary, running.
type exporter struct {
	metricsURL string
	proc       *testproc.Proc
}

// startExporter runs the exporter binary as a plain host next to proxy
// runs it: its log file, its LocalAPI socket, its MagicDNS name as the
// hostname, and one target, proxy, probed from the tailnet vantage only
// (client's SOCKS5 server) with the test CA. It is stopped by PID when
// the test ends.
func startExporter(t *testing.T, proxy, client *Node, ca *probertest.CA) *exporter {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`modules:
  https:
    prober: https
    timeout: 15s
    tls:
      ca_file: %s
vantages:
  tailnet:
    socks5_address: %s
targets:
  - hostname: %s
    vantages: [tailnet]
`, caFile, client.SOCKS5, proxy.DNSName)
	configFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	logPath := filepath.Join(dir, "exporter.log")
	p, err := testproc.Start("exporter", Exporter(t), []string{
		"--web.listen-address=" + addr,
		"--config.file=" + configFile,
		"--probe.interval=" + exporterInterval.String(),
		"--logs.file=" + proxy.LogPath,
		"--logs.hostname=" + proxy.DNSName,
		"--proxy.localapi-socket=" + proxy.Socket,
	}, nil, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(stopGrace)
		if t.Failed() {
			t.Logf("exporter log (%s), last lines:\n%s", logPath, testproc.TailFile(logPath, 40))
		}
	})
	e := &exporter{metricsURL: "http://" + addr + "/metrics", proc: p}
	err = eventually("exporter ready", startTimeout, pollInterval, func() (bool, error) {
		if ok, err := p.Exited(); ok {
			return false, fmt.Errorf("exporter %w", err)
		}
		return httpOK("http://" + addr + "/-/ready")
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, testproc.TailFile(logPath, 40))
	}
	return e
}

// scrape reads the exporter's /metrics.
func (e *exporter) scrape(t *testing.T) metrics {
	t.Helper()
	m, err := e.get()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *exporter) get() (metrics, error) {
	if ok, err := e.proc.Exited(); ok {
		return nil, fmt.Errorf("exporter %w", err)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(e.metricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", e.metricsURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", e.metricsURL, resp.Status)
	}
	fams, err := parseMetrics(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", e.metricsURL, err)
	}
	return fams, nil
}

// waitFor scrapes the exporter until done is true of its metrics
// (bounded by exporterWait) and returns them.
func (e *exporter) waitFor(t *testing.T, what string, done func(metrics) bool) metrics {
	t.Helper()
	var m metrics
	err := eventually(what, exporterWait, pollInterval, func() (bool, error) {
		var err error
		m, err = e.get()
		if err != nil {
			return false, err
		}
		return done(m), nil
	})
	if err != nil {
		t.Fatalf("exporter: %v\n%s", err, testproc.TailFile(e.proc.LogPath, 20))
	}
	return m
}

// metrics are the families of one scrape.
type metrics map[string]*dto.MetricFamily

// labels select series: every one given must match.
type labels map[string]string

// sum adds the values of family name's series that have all of want, and
// says how many there were.
func (m metrics) sum(name string, want labels) (float64, int) {
	var v float64
	n := 0
	for _, s := range m[name].GetMetric() {
		if !hasLabels(s, want) {
			continue
		}
		n++
		v += s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
	}
	return v, n
}

// value is sum without the count: absent series add nothing.
func (m metrics) value(name string, want labels) float64 {
	v, _ := m.sum(name, want)
	return v
}

func hasLabels(s *dto.Metric, want labels) bool {
	for k, v := range want {
		if labelOf(s, k) != v {
			return false
		}
	}
	return true
}

func labelOf(s *dto.Metric, name string) string {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
