// Package logmatch recognises the lines of a Tailscale proxy container's log
// that matter for diagnosing a ts.net endpoint: packet filter drops (and the
// accepts logged next to them), TLS handshake errors of the Funnel/serve HTTP
// server, peerapi ingress denials, the logger's [RATELIMIT] notices, and
// user-defined signatures.
//
// It runs on every line of every proxy pod, so the built-in path uses no
// regular expression and does not allocate: it skips the prefixes in front
// of the message (the Kubernetes timestamp if present, a journald prefix, a
// Go log timestamp), looks for an anchor only where tailscaled puts one (the
// message start, or after a few "component: " prefixes) and parses only
// those lines. User-defined signatures run their regular expression only on
// messages that contain a literal derived from it. An Event holds small
// enumerations, usable directly as metric label values, and numbers (a
// packet's length and destination port, a version) that are not: never an
// address or free text. Event.Key drops the per-line numbers.
//
// Classify says where a dropped packet went: to a port the proxy serves,
// to the node's peer API port (tailscaled logs a Drop for those SYNs and
// lets them through; every Funnel relay connection makes one), or
// elsewhere. The peer API port is learned from "peerapi: serving on" lines
// (PeerAPIPorts) or inferred from the destination address by tailscaled's
// own rule (InferPeerAPIPort).
//
// Counts built from these lines are a lower bound. tailscaled rate-limits
// drop logging (a burst of 10, then about one line per 5 s) and its whole
// logger (per format string), so many drops never reach the log. A
// [RATELIMIT] notice for the filter's format ("%s: %s %d %s\n%s", shared by
// drop and accept lines) says that lines were suppressed; its "N dropped"
// figure counts suppressed log lines of both kinds, not packets. The exact
// packet counts are the proxy's client metrics
// (tailscaled_inbound_dropped_packets_total).
//
// LineReader splits a log stream into lines of any length with bounded
// memory, for the log follower that feeds Matcher.
package logmatch
