package causes

// The IDs, grouped as the catalog is.
const (
	// An endpoint's probes.
	EndpointDown          ID = "endpoint-down"
	NameNotResolving      ID = "name-not-resolving"
	ConnectionFailing     ID = "connection-failing"
	TailnetVantageFailing ID = "tailnet-vantage-failing"
	TLSHandshakeStalling  ID = "tls-handshake-stalling"
	TLSHandshakeFailing   ID = "tls-handshake-failing"
	CertificateInvalid    ID = "certificate-invalid"
	CertificateExpiring   ID = "certificate-expiring"
	BackendFailing        ID = "backend-failing"
	ProbeConfigInvalid    ID = "probe-config-invalid"
	FunnelPathBroken      ID = "funnel-path-broken"
	TailnetPathBroken     ID = "tailnet-path-broken"

	// The proxy's log.
	ProxyDroppingWhileEndpointDown ID = "proxy-dropping-while-endpoint-down"
	ProxyDroppingTraffic           ID = "proxy-dropping-traffic"
	DropsToUnservedPorts           ID = "drops-to-unserved-ports"
	HTTPSNotEnabled                ID = "https-not-enabled"
	CertificateRateLimited         ID = "certificate-rate-limited"

	// The Funnel story, in the order diagnose tells it (REFERENCE.md §8):
	// relays reach the proxy or not, then what happens to their requests.
	FunnelRelayTraffic          ID = "funnel-relay-traffic"
	FunnelNoRelayTraffic        ID = "funnel-no-relay-traffic"
	FunnelIngressDenied         ID = "funnel-ingress-denied"
	FunnelRelayHandshakeFailing ID = "funnel-relay-handshake-failing"
	ProxyVersionBug             ID = "proxy-version-bug"

	// The tailnet policy (diagnose with --tailnet.policy-file or an API
	// credential): what it lacks for an endpoint, and reading it.
	PolicyFunnelAttributeMissing ID = "policy-funnel-attribute-missing"
	PolicyUnreadable             ID = "policy-unreadable"

	// The endpoint's objects.
	EndpointNotFound         ID = "endpoint-not-found"
	EndpointNotProvisioned   ID = "endpoint-not-provisioned"
	EndpointHostnameSuffixed ID = "endpoint-hostname-suffixed"
	AnnotationInvalid        ID = "annotation-invalid"
	OperatorWarningEvents    ID = "operator-warning-events"
	BackendMissing           ID = "backend-missing"
	BackendNotReady          ID = "backend-not-ready"

	// Proxy pods and the operator.
	ProxyPodMissing     ID = "proxy-pod-missing"
	ProxyPodNotReady    ID = "proxy-pod-not-ready"
	ProxyPodRestarting  ID = "proxy-pod-restarting"
	ProxyOutdated       ID = "proxy-outdated"
	OperatorNotRunning  ID = "operator-not-running"
	OperatorLogWarnings ID = "operator-log-warnings"

	// Differences to a working endpoint (diagnose --compare).
	FunnelDiffers     ID = "funnel-differs"
	TagsDiffer        ID = "tags-differ"
	ProxyClassDiffers ID = "proxy-class-differs"
	NamespaceDiffers  ID = "namespace-differs"
	KindDiffers       ID = "kind-differs"
	CompareNotWorking ID = "compare-not-working"

	// The exporter and a diagnose run.
	ExporterAbsent         ID = "exporter-absent"
	ProbeResultsMissing    ID = "probe-results-missing"
	ProbesStale            ID = "probes-stale"
	ProbeSchedulingLag     ID = "probe-scheduling-lag"
	DiscoveryDown          ID = "discovery-down"
	LogStreamDown          ID = "log-stream-down"
	ProxyMetricsUnreadable ID = "proxy-metrics-unreadable"
	CollectorFailing       ID = "collector-failing"
	ConfigReloadFailed     ID = "config-reload-failed"
	PermissionMissing      ID = "permission-missing"
	GatherError            ID = "gather-error"
)

// catalog is every cause. Wording rules: a Title reads as a statement
// about the endpoint (or the exporter) named next to it; a Meaning names no
// label value or object.
var catalog = []Cause{
	// ---- an endpoint's probes ----
	{
		ID:      EndpointDown,
		Title:   "Endpoint down",
		Meaning: "Every probe fails. The failure reason names the phase that broke (dns, connect_*, tls_*, http_*), and each reason has its likely cause.",
		Next: []string{
			"read the last probe's debug log: /logs?hostname=<hostname>&vantage=<vantage> on the exporter, or /probe?target=<hostname>&debug=true",
			"follow the cause of the failure reason; a more specific alert or finding usually comes with it",
		},
	},
	{
		ID:      NameNotResolving,
		Title:   "Its name does not resolve",
		Meaning: "The name has no address here: MagicDNS or public DNS does not know it, or not yet (an endpoint that is not provisioned has no name).",
		Next:    []string{"check MagicDNS and the tailnet name; an endpoint not provisioned has no name yet"},
	},
	{
		ID:      ConnectionFailing,
		Title:   "TCP connections fail",
		Meaning: "No TCP connection opens. Refused: the name resolves to a host with nothing on the port, such as a stale DNS record or a stale device of the same name. Timed out: a firewall or the route to the Funnel relay drops packets. Other errors: no route to the address. Through the tailnet vantage, tailscaled gives one answer to every failure, and only its timing differs: after its 5 s dial timeout (timed out), the tailnet policy drops the connection or the peer is offline; at once (other errors), MagicDNS does not know the name or nothing listens on the port behind the peer.",
		Next: []string{
			"look for a stale device of the same name in the admin console",
			"probe it from the tailnet vantage too: a public path that fails alone points at Funnel or the firewall",
		},
	},
	{
		ID:      TailnetVantageFailing,
		Title:   "The tailnet vantage's SOCKS5 proxy fails",
		Meaning: "The exporter's own tailscaled (its SOCKS5 server) failed or refused the connection, so the probe never reached the endpoint: this says nothing about the endpoint.",
		Next:    []string{"check tailscaled --socks5-server on the exporter's side and that it is logged in"},
	},
	{
		ID:      TLSHandshakeStalling,
		Title:   "TCP connects but the TLS handshake never finishes",
		Meaning: "Something accepts the TCP connection but no TLS comes back. On the public path the TCP connection ends at a Funnel relay, so the relay cannot get it through to the proxy: Funnel does not route to the node, the proxy refuses the relay's ingress, or the handshake between them fails. A certificate may also still be issued: a brand-new hostname can take tens of seconds for its first certificate; longer is a fault.",
		Next: []string{
			"read the proxy's log for relay connections (Drop lines at its peer API port), ingress denials and TLS handshake errors (kubectl logs -n <operator namespace> <proxy pod> -c tailscale)",
			"compare with a working endpoint: diagnose <hostname> --compare <working hostname>",
		},
	},
	{
		ID:      TLSHandshakeFailing,
		Title:   "The TLS handshake fails",
		Meaning: "The peer closes the connection during the handshake or answers with a TLS alert: the proxy has no certificate for the name (HTTPS not enabled), refuses the relay, or something other than the proxy answers.",
		Next: []string{
			"read the proxy's log for TLS handshake errors",
			"run /probe?target=<hostname>&debug=true for the TLS alert",
		},
	},
	{
		ID:      CertificateInvalid,
		Title:   "Certificate fails verification",
		Meaning: "The certificate presented fails verification, so browsers and Funnel visitors refuse it.",
		Next:    []string{"run /probe?target=<hostname>&debug=true for the verification error"},
	},
	{
		ID:      CertificateExpiring,
		Title:   "Certificate expires soon",
		Meaning: "Tailscale renews its Let's Encrypt certificates about 30 days before expiry, so renewal has been failing for two weeks or more: HTTPS disabled on the tailnet, the proxy cannot reach the ACME servers, or the proxy pod is not running.",
		Next:    []string{"the proxy log tells why renewal fails (ACME errors, HTTPS disabled); restarting the proxy pod retries it"},
	},
	{
		ID:      BackendFailing,
		Title:   "The backend behind the proxy fails",
		Meaning: "TLS works, so the proxy does; the backend (or the route in it) answers an unexpected status, breaks the HTTP exchange or does not answer in time.",
		Next:    []string{"check the backend Service and its pods, and that it speaks HTTP on that port"},
	},
	{
		ID:      ProbeConfigInvalid,
		Title:   "The probe could not be built",
		Meaning: "The module's configuration cannot make a probe (a CA file that cannot be read, an unknown vantage, an invalid override): nothing was sent.",
		Next:    []string{"fix the module in the config file; the exporter's log names the error"},
	},
	{
		ID:      FunnelPathBroken,
		Title:   "It works through the tailnet but not from the internet: the Funnel path is broken",
		Meaning: "The proxy and backend work, since the tailnet path answers; what only the public path needs fails: Funnel.",
		Next:    []string{"check Funnel: the annotation, the policy's funnel nodeAttr for the proxy's tags, and whether relay connections reach the proxy (Drop lines at its peer API port) and what follows them in its log"},
	},
	{
		ID:      TailnetPathBroken,
		Title:   "It works from the internet but not through the tailnet",
		Meaning: "The public path answers, so the proxy works; the tailnet policy does not let the exporter's tailnet node reach it.",
		Next:    []string{"check the grants/ACLs for the exporter's device"},
	},

	// ---- the proxy's log ----
	{
		ID:      ProxyDroppingWhileEndpointDown,
		Title:   "Proxy refuses clients at a served port while its endpoint fails",
		Meaning: "The proxy's packet filter refuses clients (\"no rules matched\") while probes of its endpoint fail: the tailnet policy does not allow those clients to the proxy's tags on the port they use. Funnel relays never count here (they connect to the node's peer API port, which tailscaled lets through), so these are tailnet clients, and a tailnet vantage that fails this way is refused by the policy.",
		Next: []string{
			"grant the clients' users, groups or tags access to the proxy's tags on port 443 (and 80) in the tailnet policy's grants or acls",
			"diagnose <hostname> names the refused source family and shows the drop lines",
		},
	},
	{
		ID:      ProxyDroppingTraffic,
		Title:   "Proxy refuses tailnet clients at a served port",
		Meaning: "The proxy's packet filter refuses clients (\"no rules matched\"): tailnet clients the policy does not allow to the proxy's tags. MagicDNS sends tailnet clients to the node's tailnet address, not through Funnel, so Funnel can work for the public while these clients time out.",
		Next: []string{
			"grant the clients' users, groups or tags access to the proxy's tags on port 443 in the tailnet policy's grants or acls",
			"tailscale_tunnel_proxy_drops_total{port=~\"443|80\"} by family tells IPv4 from IPv6 tailnet clients",
		},
	},
	{
		ID:      DropsToUnservedPorts,
		Title:   "The proxy drops connections to ports it does not serve",
		Meaning: "tailscaled logs a drop for every connection to a port without a rule; a port the proxy does not serve is not how its endpoint is reached: usually harmless.",
		Next:    []string{"nothing to do unless clients use such a port on purpose"},
	},
	{
		ID:      HTTPSNotEnabled,
		Title:   "No TLS certificate can be issued for it: HTTPS is not enabled in the tailnet",
		Meaning: "The tailnet does not issue TLS certificates, so the proxy cannot complete a handshake for its name.",
		Next: []string{
			"enable HTTPS certificates in the admin console (DNS page) and MagicDNS",
			"the first connection to a new name then takes tens of seconds while the certificate is issued",
		},
	},
	{
		ID:      CertificateRateLimited,
		Title:   "Let's Encrypt refuses its certificate: rate limited",
		Meaning: "The proxy asked Let's Encrypt for a certificate and was refused with acme:error:rateLimited, so handshakes for its name fail until the limit resets. Three limits apply: 5 certificates per exact name per week (recreating the same name), 10 account registrations per IP per 3 hours (proxies losing their state), and 50 certificates per registered domain per week (large HA ProxyGroups).",
		Next: []string{
			"read the retry-after time in the logged ACME error and stop recreating the proxy or its state until then",
			"keep the proxy's state (its Secret) across restarts so that it reuses its account and certificate",
		},
	},

	// ---- the Funnel story ----
	{
		ID:      FunnelRelayTraffic,
		Title:   "Funnel relays reach the proxy",
		Meaning: "tailscaled logs a packet-filter drop (\"no rules matched\") for every Funnel relay connection to the node's peer API port and then lets it through, working or not (net/tstun/wrap.go: the peer API checks access itself). Those lines are not the cause of a failure: they prove that Funnel routing reaches this proxy, so a failure is in what happens next.",
		Next: []string{
			"look at what follows in the proxy log: TLS handshake errors from the same relays, or ingress denied",
			"tailscale_tunnel_proxy_drops_total{port=\"peerapi\",family=\"ipv6\"} counts relay connections per endpoint",
		},
	},
	{
		ID:      FunnelNoRelayTraffic,
		Title:   "No Funnel relay traffic reaches the proxy while its public probe fails",
		Meaning: "Every public connection to a Funnel endpoint arrives at the proxy from a relay, and the proxy logs each one; none arrived while the public probe failed, so Funnel does not route to this node. Usual reasons: the proxy's tags lack the funnel node attribute (autogroup:member does not cover tagged nodes), the funnel annotation sits on a Service or on a ProxyGroup Ingress, where the operator ignores it, or Funnel was lost after a control reconnect.",
		Next: []string{
			"add the funnel attribute for the proxy's tags to the tailnet policy: \"nodeAttrs\": [{\"target\": [\"tag:k8s\"], \"attr\": [\"funnel\"]}]",
			"put tailscale.com/funnel: \"true\" on an Ingress served by its own proxy (not a Service, not a ProxyGroup Ingress)",
			"if it worked before: toggle Funnel off and on (remove and re-add the annotation) or restart the proxy pod",
		},
	},
	{
		ID:      FunnelIngressDenied,
		Title:   "Proxy refuses Funnel relays (no ingress capability)",
		Meaning: "Funnel relays reach the proxy, and its peer API refuses their requests (\"ingress: denied; no ingress cap\"). tailscaled 1.102.0 and 1.102.1 do this for every relay (a regression fixed in 1.102.2); on other versions the node lacks the capability to receive Funnel traffic.",
		Next: []string{
			"if the proxy runs tailscaled 1.102.0 or 1.102.1: upgrade its image to 1.102.2 or later",
			"otherwise add the funnel attribute for the proxy's tags to the tailnet policy's nodeAttrs",
		},
	},
	{
		ID:      FunnelRelayHandshakeFailing,
		Title:   "Funnel relays reach the proxy, then their TLS handshakes fail",
		Meaning: "Relays connect to the proxy and the TLS handshake that follows ends in EOF from the same relays, while the public handshake stalls and tailnet clients still work. This is an open upstream bug (tailscale/tailscale#19290, also #18181 and #21114; one reporter traced it to the control plane granting the ingress capability for the node's IPv4 address only): no configuration change fixes it.",
		Next: []string{
			"toggle Funnel off and on (remove and re-add the tailscale.com/funnel annotation) or restart the proxy pod: that has brought Funnel back for others",
			"add to tailscale/tailscale#19290: the proxy's version, the relay Drop lines and the handshake errors from the same addresses, and tailscale funnel status",
		},
	},
	{
		ID:      ProxyVersionBug,
		Title:   "The proxy runs a tailscaled version with a known bug",
		Meaning: "The proxy's tailscaled version is in a range with a known bug whose signature its log shows; the fix is in a later release.",
		Next: []string{
			"upgrade the proxy image (the ProxyClass or the operator's default proxy image) to the fixed version or later",
		},
	},

	// ---- the tailnet policy ----
	{
		ID:      PolicyFunnelAttributeMissing,
		Title:   "The tailnet policy does not give its proxy's tags the funnel attribute",
		Meaning: "Control sends Funnel traffic only to devices that a nodeAttrs entry gives the funnel attribute, and the policy has none for the proxy's tags (autogroup:member does not cover tagged devices), so no Funnel relay connects to the proxy and the public cannot reach it.",
		Next: []string{
			"add the nodeAttrs entry shown above to the tailnet policy (in the admin console, or in the file your GitOps pipeline pushes)",
			"relay connections then appear in the proxy's log within seconds (Drop lines at its peer API port)",
		},
	},
	{
		ID:      PolicyUnreadable,
		Title:   "The tailnet policy cannot be read",
		Meaning: "Reading the tailnet policy from its source (a file, or the Tailscale API) failed, so nothing was checked against it and any earlier result is out of date. The error says why: a missing or unreadable file, a credential that is not valid or lacks the policy_file:read scope, a tailnet the credential does not belong to, or an API that cannot be reached.",
		Next: []string{
			"for a file: check the path and that it is mounted and readable",
			"for the Tailscale API: check the credential file (an OAuth client with the policy_file:read scope, or an API access token) and --tailnet.name; 401 means a wrong or expired credential, 403 a missing scope",
		},
	},

	// ---- the endpoint's objects ----
	{
		ID:      EndpointNotFound,
		Title:   "No Ingress or Service of the operator claims this hostname",
		Meaning: "The name was asked for, but no Ingress of the operator's class or Tailscale Service requests or obtained it: a typo, another Ingress class, or an endpoint outside this cluster.",
		Next:    []string{"check the spelling, the Ingress class (--kubernetes.ingress-class) and kubectl get ingress,svc -A"},
	},
	{
		ID:      EndpointNotProvisioned,
		Title:   "Endpoint not provisioned",
		Meaning: "The operator has written no ts.net hostname into the endpoint's status, so it cannot be reached or probed. The operator's Warning Events (HTTPSNotEnabled, NoValidBackends), a proxy pod that is not ready, or tags the operator may not assign usually say why.",
		Next:    []string{"check the operator's log and that its proxy pod is running"},
	},
	{
		ID:      EndpointHostnameSuffixed,
		Title:   "Hostname taken by another device",
		Meaning: "Another device (usually a stale one from an earlier proxy) holds the requested name, so the tailnet added a suffix. Clients and DNS records that use the requested name reach the old device, not this proxy.",
		Next:    []string{"remove the stale device in the admin console, then delete the proxy's state Secret and pod so that it re-registers"},
	},
	{
		ID:      AnnotationInvalid,
		Title:   "Some of its annotations do not mean what they seem to",
		Meaning: "The operator reads some annotation values otherwise than they look: a boolean that is not exactly \"true\" is false, a tag without \"tag:\" is ignored.",
		Next:    []string{`booleans must be exactly "true"; tags must start with "tag:"; a hostname must be a DNS label`},
	},
	{
		ID:      OperatorWarningEvents,
		Title:   "Tailscale operator warns about the endpoint",
		Meaning: "The operator recorded Warning Events on the object; their reason and message say what it could not do.",
		Next:    []string{"kubectl describe the object for the Events in full"},
	},
	{
		ID:      BackendMissing,
		Title:   "Its backend Service does not exist",
		Meaning: "The endpoint sends traffic to a Service that is not there, so the proxy has nowhere to forward it.",
		Next:    []string{"create the Service, or fix the backend in the Ingress or Service"},
	},
	{
		ID:      BackendNotReady,
		Title:   "Its backend Service has no ready endpoints (is the backend, e.g. Traefik, running?)",
		Meaning: "The backend Service exists but selects no ready pod, so the proxy's connections to it fail.",
		Next:    []string{"start the backend or fix its selector and readiness (kubectl get pods,endpointslices in its namespace)"},
	},

	// ---- proxy pods and the operator ----
	{
		ID:      ProxyPodMissing,
		Title:   "It has no proxy pod",
		Meaning: "The operator runs one StatefulSet per endpoint; without its pod nothing answers for the name.",
		Next:    []string{"check the operator's log and kubectl get statefulsets -n <operator namespace>"},
	},
	{
		ID:      ProxyPodNotReady,
		Title:   "Proxy pod not ready",
		Meaning: "A proxy pod that is not Ready does not serve its endpoint, which is unreachable or about to be. A proxy that is not logged in (auth key, tags not permitted) never becomes ready.",
		Next:    []string{"kubectl describe pod and kubectl logs -c tailscale on the proxy pod"},
	},
	{
		ID:      ProxyPodRestarting,
		Title:   "Proxy pod keeps restarting",
		Meaning: "The proxy's tailscale container keeps exiting; each restart interrupts the endpoint.",
		Next:    []string{"kubectl logs --previous -c tailscale on the pod tells why it exited"},
	},
	{
		ID:      ProxyOutdated,
		Title:   "Its proxy runs an older Tailscale",
		Meaning: "A proxy keeps its image until its pod is recreated, so it can lag behind the operator and other proxies, and with them behind fixes.",
		Next:    []string{"restart its proxy StatefulSet so that it picks up the operator's proxy image, or set the image in its ProxyClass"},
	},
	{
		ID:      OperatorNotRunning,
		Title:   "The Tailscale operator is not running",
		Meaning: "Without a ready operator, new endpoints and changes are not applied; existing proxies keep running.",
		Next: []string{
			"kubectl describe pod and kubectl logs the operator",
			"if the operator runs in another namespace, pass --kubernetes.operator-namespace",
		},
	},
	{
		ID:      OperatorLogWarnings,
		Title:   "The operator logs warnings or errors",
		Meaning: "Failed reconciles are logged with the object they are about.",
		Next:    []string{"read them for the endpoint's name"},
	},

	// ---- differences to a working endpoint ----
	{
		ID:      FunnelDiffers,
		Title:   "Funnel is set differently than on the working endpoint",
		Meaning: "Only an endpoint with the tailscale.com/funnel: \"true\" annotation is reachable from the internet, and only when the tailnet policy's funnel nodeAttr covers its proxy's tags and HTTPS is enabled.",
		Next: []string{
			"check that the tailnet policy's funnel nodeAttr covers the proxy's tags",
			"if it is meant to be tailnet-only: probe it from the tailnet vantage (vantages.tailnet in the config), not from the internet",
		},
	},
	{
		ID:      TagsDiffer,
		Title:   "Its proxy has other tags than the working one: the tailnet policy may treat them differently",
		Meaning: "The tailnet policy grants access and the funnel nodeAttr by tag, so proxies with other tags get other rules.",
		Next:    []string{"compare what the policy's grants/ACLs and nodeAttrs give each tag"},
	},
	{
		ID:      ProxyClassDiffers,
		Title:   "Its proxy uses another ProxyClass than the working one",
		Meaning: "A ProxyClass sets the proxy's image, environment (such as TS_DEBUG flags), security context and metrics.",
		Next:    []string{"kubectl get proxyclass -o yaml: compare what each sets"},
	},
	{
		ID:      NamespaceDiffers,
		Title:   "It lives in another namespace than the working one",
		Meaning: "The namespace alone does not change how the operator proxies; what differs with it can (NetworkPolicies, the backend Service).",
		Next:    []string{"check the NetworkPolicies and the backend Service of its namespace"},
	},
	{
		ID:      KindDiffers,
		Title:   "It is exposed another way than the working one",
		Meaning: "An Ingress terminates TLS on the proxy; a Service forwards TCP to the backend, which must speak TLS itself; a ProxyGroup shares proxies between endpoints.",
		Next:    []string{"compare like with like, or check what the other kind needs from the backend"},
	},
	{
		ID:      CompareNotWorking,
		Title:   "The endpoint given as working (--compare) does not work from here either",
		Meaning: "Differences to an endpoint that fails too explain less.",
		Next:    []string{"compare with an endpoint that answers, or look for what they share (policy, HTTPS, operator)"},
	},

	// ---- the exporter and a diagnose run ----
	{
		ID:      ExporterAbsent,
		Title:   "tailscale-tunnel-exporter is not scraped",
		Meaning: "The exporter is down, not scraped, or its scrape fails; no endpoint alert can fire meanwhile.",
		Next:    []string{"check the exporter's pod and the Prometheus target page"},
	},
	{
		ID:      ProbeResultsMissing,
		Title:   "A scheduled endpoint has no probe result",
		Meaning: "The exporter schedules the endpoint but no probe has finished, so nothing about it can alert.",
		Next:    []string{"read the exporter's log and /logs for the hostname"},
	},
	{
		ID:      ProbesStale,
		Title:   "Probes stale",
		Meaning: "The endpoint's success and reason metrics are stale: its probes are not being scheduled.",
		Next:    []string{"check the exporter's log and its probe scheduling lag"},
	},
	{
		ID:      ProbeSchedulingLag,
		Title:   "Probes start late",
		Meaning: "Probes wait for a concurrency slot (--probe.concurrency) because too many stall until their timeout.",
		Next:    []string{"raise --probe.concurrency or lower the timeout of stalling modules"},
	},
	{
		ID:      DiscoveryDown,
		Title:   "Kubernetes discovery of tailscale-tunnel-exporter is failing",
		Meaning: "The exporter's Kubernetes informers have not all synced or one is failing; new, changed and removed endpoints are not seen.",
		Next:    []string{"check the exporter's RBAC and its log for list/watch errors"},
	},
	{
		ID:      LogStreamDown,
		Title:   "Proxy log stream down",
		Meaning: "The exporter is not following the proxy's log, so drops, TLS errors and ingress denials from it are not counted.",
		Next:    []string{"check get pods/log permission and the exporter's log for stream errors"},
	},
	{
		ID:      ProxyMetricsUnreadable,
		Title:   "The proxy's exact drop counts cannot be read",
		Meaning: "The proxy serves tailscaled's user metrics but the exporter cannot read them, so its drops are counted from its log only, a lower bound of the real drops.",
		Next: []string{
			"tailscale_tunnel_proxy_metrics_errors_total by kind says why: unreachable or timeout (a NetworkPolicy in the operator namespace must let the exporter reach the pod IP on the metrics port), http_status, parse (not tailscaled's user metrics), too_large",
			"the exporter's log names the pod and the URL it read",
		},
	},
	{
		ID:      CollectorFailing,
		Title:   "Collector failing",
		Meaning: "The collector cannot report what it should; what it still serves may be incomplete or out of date. The exporter logs why at each scrape.",
		Next:    []string{"read the exporter's log for the collector's error"},
	},
	{
		ID:      ConfigReloadFailed,
		Title:   "tailscale-tunnel-exporter failed to reload its configuration",
		Meaning: "The exporter keeps running the previous configuration, so recent changes (targets, modules) are not in effect. The exporter's log names the file, line and error.",
		Next:    []string{"fix the file and reload (SIGHUP or POST /-/reload)"},
	},
	{
		ID:      PermissionMissing,
		Title:   "Some evidence could not be read: permission missing",
		Meaning: "The identity diagnose runs as lacks a verb; what needed it is absent from the report, not found wanting.",
		Next:    []string{"grant these verbs to the identity diagnose runs as (the exporter's RBAC covers all but the operator's log and EndpointSlices), or read the rest by hand"},
	},
	{
		ID:      GatherError,
		Title:   "Some evidence could not be gathered",
		Meaning: "A read failed for another reason than a permission; what it would have read is absent from the report.",
		Next:    []string{"run diagnose again; if the API server is unreachable, check --kubeconfig"},
	},
}
