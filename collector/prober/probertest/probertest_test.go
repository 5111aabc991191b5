package probertest

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/proxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTailnetResolve(t *testing.T) {
	tests := []struct {
		name    string
		wantErr bool
	}{
		{"k8s.example.ts.net", false},
		{"K8S.Example.TS.NET.", false},
		{"ts.net", false},
		{"example.com", true},
		{"notts.net", true},
		{"ts.net.example.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, err := TailnetResolve(tt.name)
			if (err != nil) != tt.wantErr {
				t.Fatalf("TailnetResolve(%q) = %v, %v; want error %v", tt.name, ip, err, tt.wantErr)
			}
			if !tt.wantErr && !ip.IsLoopback() {
				t.Errorf("TailnetResolve(%q) = %v, want loopback", tt.name, ip)
			}
		})
	}
}

// TestSOCKS5ServerDestinations: the test proxy dials loopback only and
// resolves only ts.net names, so no test can reach out through it.
func TestSOCKS5ServerDestinations(t *testing.T) {
	px, err := NewSOCKS5Server(SOCKS5Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := px.Close(); err != nil {
			t.Error(err)
		}
	})
	silent, err := NewSilentServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	d, err := proxy.SOCKS5("tcp", px.Addr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cd := d.(proxy.ContextDialer)
	tests := []struct {
		dest   string
		wantOK bool
	}{
		{net.JoinHostPort("peer.example.ts.net", strconv.Itoa(silent.Port())), true},
		{silent.Addr, true},
		{"192.0.2.1:443", false}, // TEST-NET-1: refused before any dial
		{"example.com:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := cd.DialContext(ctx, "tcp", tt.dest)
			if err == nil {
				c.Close()
			}
			if (err == nil) != tt.wantOK {
				t.Errorf("dial %s through the proxy: %v, want success %v", tt.dest, err, tt.wantOK)
			}
		})
	}
	for _, c := range px.Connects() {
		host, _, _ := net.SplitHostPort(c)
		if ip := net.ParseIP(host); ip == nil || (!ip.IsLoopback() && !ip.Equal(net.ParseIP("192.0.2.1"))) {
			t.Errorf("proxy attempted %s", c)
		}
	}
}

func TestBlackholeHangs(t *testing.T) {
	bh, err := NewBlackhole()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bh.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", bh.Addr)
	if err == nil {
		c.Close()
		t.Fatal("connect to the blackhole succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("connect error %v, want a timeout", err)
	}
}

func TestLeafValidity(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	nb, na := time.Now().Add(-time.Hour).Truncate(time.Second), time.Now().Add(time.Hour).Truncate(time.Second)
	cert, err := ca.LeafValid(nb, na, "a.example.ts.net", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.NotBefore.Equal(nb) || !cert.Leaf.NotAfter.Equal(na) {
		t.Errorf("validity %v..%v, want %v..%v", cert.Leaf.NotBefore, cert.Leaf.NotAfter, nb, na)
	}
	if len(cert.Leaf.DNSNames) != 1 || len(cert.Leaf.IPAddresses) != 1 {
		t.Errorf("SANs %v %v, want one DNS name and one IP", cert.Leaf.DNSNames, cert.Leaf.IPAddresses)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "a.example.ts.net"}); err != nil {
		t.Errorf("leaf does not verify against its CA: %v", err)
	}
}
