// Package proxymetrics reads the exact drop counters of Tailscale proxies
// from tailscaled's own user metrics — a proxy pod's metrics port
// (ProxyClass spec.metrics.enable: true) or a plain host's LocalAPI — in
// the background, and exposes them joined to the endpoint's hostname.
//
// Log lines are a sample (tailscaled rate-limits drop logging); these
// counters count every packet the filter dropped. They do not count the
// peer-API SYNs tailscaled logs as drops and then lets through.
package proxymetrics

import (
	"bytes"
	"fmt"
	"math"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Direction is which way a dropped packet was going, as tailscaled's two
// families say: into the node from a peer, or out of it to one.
type Direction int

const (
	Inbound Direction = iota
	Outbound
	numDirections
)

func (d Direction) String() string { return directionNames[d] }

var directionNames = [numDirections]string{"inbound", "outbound"}

// families are tailscaled's drop counters (util/usermetric), by Direction.
var families = [numDirections]string{
	"tailscaled_inbound_dropped_packets_total",
	"tailscaled_outbound_dropped_packets_total",
}

// Reason is a bounded label value for why tailscaled dropped a packet:
// tailscaled's own reasons (usermetric.DropReason), and ReasonOther for
// any a later version adds.
type Reason int

const (
	ReasonACL Reason = iota
	ReasonMulticast
	ReasonLinkLocalUnicast
	ReasonTooShort
	ReasonFragment
	ReasonUnknownProtocol
	ReasonError
	ReasonOther
	numReasons
)

func (r Reason) String() string { return reasonNames[r] }

var reasonNames = [numReasons]string{
	"acl", "multicast", "link_local_unicast", "too_short", "fragment", "unknown_protocol", "error", "other",
}

// ReasonOf maps tailscaled's reason label value to a Reason.
func ReasonOf(s string) Reason {
	for r, name := range reasonNames[:ReasonOther] {
		if name == s {
			return Reason(r)
		}
	}
	return ReasonOther
}

// Drops is what one read of a node's user metrics says: its packet drop
// counters since tailscaled started. A counter tailscaled has not written
// is not Seen, except acl: tailscaled writes a family's HELP and TYPE
// lines before its first drop, and no drop yet is a count of 0.
type Drops struct {
	Count [numDirections][numReasons]float64
	Seen  [numDirections][numReasons]bool
}

// ParseDrops reads the drop counters from a user metrics page in the
// Prometheus text format. A page without tailscaled's inbound drop family
// is not tailscaled's user metrics (a wrong port, or a version before
// 1.78) and is an error.
func ParseDrops(text []byte) (Drops, error) {
	var d Drops
	// The parser forgets families without samples, and a family with
	// only HELP and TYPE is what tailscaled writes before its first drop.
	for dir, name := range families {
		if bytes.Contains(text, []byte("# TYPE "+name+" ")) {
			d.Seen[dir][ReasonACL] = true
		}
	}
	if !d.Seen[Inbound][ReasonACL] {
		return Drops{}, fmt.Errorf("no %s family: not tailscaled's user metrics", families[Inbound])
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return Drops{}, err
	}
	for dir, name := range families {
		f := fams[name]
		if f == nil {
			continue
		}
		if f.GetType() != dto.MetricType_COUNTER {
			return Drops{}, fmt.Errorf("%s is a %s, want a counter", name, f.GetType())
		}
		for _, m := range f.GetMetric() {
			r := ReasonOf(labelValue(m, "reason"))
			v := m.GetCounter().GetValue()
			if !(v >= 0 && v <= math.MaxFloat64) { // also NaN
				return Drops{}, fmt.Errorf("%s{reason=%q} is %v, not a count", name, labelValue(m, "reason"), v)
			}
			d.Count[dir][r] += v
			d.Seen[dir][r] = true
		}
	}
	return d, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
