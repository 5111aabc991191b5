package tailnetpolicy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
)

func TestEndpointOf(t *testing.T) {
	defaults := []string{"tag:k8s"}
	tests := []struct {
		name string
		e    discovery.Endpoint
		want policy.Endpoint
	}{
		{
			name: "funnel ingress with the operator's default tags",
			e: discovery.Endpoint{Kind: discovery.KindIngress, Hostname: "whoami.t.ts.net", Provisioned: true,
				RequestedHostname: "whoami", Funnel: true},
			want: policy.Endpoint{Hostname: "whoami.t.ts.net", Tags: []string{"tag:k8s"}, DefaultTags: true,
				Funnel: true, Ports: []int{443}},
		},
		{
			name: "tailnet-only ingress with its own tags and http-redirect",
			e: discovery.Endpoint{Kind: discovery.KindIngress, Hostname: "k8s.t.ts.net", Provisioned: true,
				RequestedHostname: "k8s", Tags: "tag:k8s,tag:web", HTTPRedirect: true},
			want: policy.Endpoint{Hostname: "k8s.t.ts.net", Tags: []string{"tag:k8s", "tag:web"}, Ports: []int{80, 443}},
		},
		{
			name: "ProxyGroup ingress is a Tailscale Service; its funnel annotation is ignored",
			e: discovery.Endpoint{Kind: discovery.KindProxyGroup, RequestedHostname: "ha", ProxyGroup: "pg",
				Funnel: true, FunnelIgnored: true},
			want: policy.Endpoint{Hostname: "ha", Tags: []string{"tag:k8s"}, DefaultTags: true, Ports: []int{443},
				Service: "svc:ha"},
		},
		{
			name: "service forwards its TCP ports",
			e: discovery.Endpoint{Kind: discovery.KindService, Hostname: "db.t.ts.net", Provisioned: true,
				Tags: "tag:db", ServicePorts: []int{5432}, FunnelIgnored: true},
			want: policy.Endpoint{Hostname: "db.t.ts.net", Tags: []string{"tag:db"}, Ports: []int{5432}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EndpointOf(tt.e, defaults); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EndpointOf:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "tag:k8s", want: []string{"tag:k8s"}},
		{in: " tag:k8s , tag:web ,", want: []string{"tag:k8s", "tag:web"}},
		{in: "k8s", wantErr: `tags "k8s": "k8s" is not a tag (want tag:NAME)`},
		{in: "tag:", wantErr: `"tag:" is not a tag`},
		{in: " , ", wantErr: `tags " , ": no tag`},
	}
	for _, tt := range tests {
		got, err := ParseTags(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTags(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseTags(%q): %v", tt.in, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("ParseTags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
