package causes

// Detail is what one variant of a cause says beyond the cause: a phrase
// for the title and one more next step.
type Detail struct {
	Says string
	Next string
}

// CertificateProblems details CertificateInvalid by the prober's
// certificate problem (the problem label of the metrics).
var CertificateProblems = map[string]Detail{
	"expired":           {"it has expired", "the proxy renews its Let's Encrypt certificate itself: restart the proxy pod; check the proxy log for ACME errors and that HTTPS is enabled in the tailnet"},
	"not_yet_valid":     {"it is not valid yet", "check the clock of this machine and of the proxy's node"},
	"name_mismatch":     {"it is for another name", "the name resolves to another device or relay: check the resolve override in the config and for a stale device of the same name"},
	"unknown_authority": {"it is not signed by a trusted authority", "something other than the proxy answers (a captive portal or TLS-inspecting proxy), or the module needs ca_file"},
}

// OperatorEvents says what the Tailscale operator's Warning Events mean, by
// Event reason. HTTPSNotEnabled is a cause of its own (HTTPSNotEnabled).
var OperatorEvents = map[string]string{
	"NoValidBackends":   "the Ingress names no backend the operator can use: check the backend Service and port",
	"INVALIDSERVICE":    "the operator rejects the Service: kubectl describe it for the message",
	"IngressClassError": "the Ingress class does not belong to the operator",
}
