// Package kubetest runs a real Kubernetes API (kube-apiserver built from the
// published k8s.io/kubernetes module, with Debian's etcd) on 127.0.0.1 for
// end-to-end tests, plus a fake kubelet that serves pod logs through it.
//
// There is no controller-manager, scheduler or kubelet: set status through
// the status subresource (CreatePod, SetIngressHostname, SetServiceHostname),
// and give each test its own namespace (Cluster.Namespace), because namespace
// deletion never finishes.
package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testproc"
)

// Options configures Start. The zero value is a working cluster.
type Options struct {
	// Users are extra token-file users besides the admin; a User without a
	// Token gets a random one (see Cluster.Token).
	Users []User
	// DisableWatchCache runs kube-apiserver with --watch-cache=false, so
	// watches go to etcd and a compacted resourceVersion gives 410 Gone.
	DisableWatchCache bool
	// ExtraArgs are appended to the kube-apiserver command line.
	ExtraArgs []string
	// ReadyTimeout bounds the wait for /readyz; default 60 s.
	ReadyTimeout time.Duration
}

// User is a static token user of the apiserver's --token-auth-file.
type User struct {
	Name   string
	Groups []string
	Token  string
}

// Cluster is a running etcd + kube-apiserver pair on loopback.
type Cluster struct {
	// URL is the apiserver's address, https://127.0.0.1:PORT.
	URL string
	// CAFile is the PEM file of the CA that signed the serving certificate.
	CAFile string
	// CAPEM is the content of CAFile.
	CAPEM []byte
	// AdminToken authenticates as a member of system:masters.
	AdminToken string
	// Dir holds certificates, etcd data and the logs
	// (etcd.log, kube-apiserver.log).
	Dir string
	// EtcdURL is etcd's client URL, http://127.0.0.1:PORT.
	EtcdURL string

	opts      Options
	apiserver string // binary
	port      int
	args      []string // apiserver flags without the watch-cache one
	tokens    map[string]string

	mu    sync.Mutex
	etcd  *testproc.Proc
	kas   *testproc.Proc
	admin kubernetes.Interface
}

const (
	etcdReadyTimeout   = 20 * time.Second
	defaultReadyTimout = 60 * time.Second
	stopGrace          = 15 * time.Second
	logTailLines       = 60
	failureLogLines    = 12
)

// Start starts etcd and kube-apiserver for t and stops them in t.Cleanup.
// On failure of t, the tails of both logs are printed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := Build(t)
	etcdBin, err := etcdBinary()
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = defaultReadyTimout
	}
	dir := t.TempDir()
	c := &Cluster{Dir: dir, opts: opts, apiserver: bin, tokens: map[string]string{}}
	t.Cleanup(func() {
		if t.Failed() {
			// Only the warnings: CI shows the end of a failed test's output,
			// and the assertion that failed must still be in view above this.
			for _, name := range []string{"etcd.log", "kube-apiserver.log"} {
				t.Logf("kubetest: last %d warnings and errors of %s:\n%s", failureLogLines, name, tailWarnings(filepath.Join(dir, name), failureLogLines))
			}
		}
	})
	t.Cleanup(c.stopAll)

	caPEM, files, err := writePKI(dir)
	if err != nil {
		t.Fatalf("kubetest: certificates in %s: %v", dir, err)
	}
	c.CAPEM, c.CAFile = caPEM, files["ca.crt"]
	c.AdminToken = randomToken()
	tokenFile, err := c.writeTokenFile(opts.Users)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}

	start := time.Now()
	if err := c.startEtcd(etcdBin); err != nil {
		t.Fatalf("kubetest: %v\n%s", err, testproc.TailFile(filepath.Join(dir, "etcd.log"), logTailLines))
	}
	etcdReady := time.Since(start)

	c.port, err = freePort()
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(c.port)
	c.args = []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.port),
		"--cert-dir=" + filepath.Join(dir, "cert-dir"),
		"--tls-cert-file=" + files["apiserver.crt"],
		"--tls-private-key-file=" + files["apiserver.key"],
		"--client-ca-file=" + files["ca.crt"],
		"--token-auth-file=" + tokenFile,
		"--anonymous-auth=false",
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files["sa.pub"],
		"--service-account-signing-key-file=" + files["sa.key"],
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
		"--kubelet-preferred-address-types=InternalIP",
		"--shutdown-watch-termination-grace-period=2s",
		// Proxy pods of the Tailscale operator run a privileged init container.
		"--allow-privileged=true",
		"--profiling=false",
	}
	c.args = append(c.args, opts.ExtraArgs...)
	if err := c.startAPIServer(); err != nil {
		t.Fatalf("kubetest: %v\n%s", err, testproc.TailFile(filepath.Join(dir, "kube-apiserver.log"), logTailLines))
	}
	t.Logf("kubetest: etcd ready in %v, kube-apiserver %s ready in %v (dir %s)",
		etcdReady.Round(time.Millisecond), c.URL, (time.Since(start) - etcdReady).Round(time.Millisecond), dir)
	return c
}

func (c *Cluster) writeTokenFile(users []User) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s,admin,kubetest-admin,\"system:masters\"\n", c.AdminToken)
	c.tokens["admin"] = c.AdminToken
	for _, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ",\"\n") {
			return "", fmt.Errorf("token user %q: name must be non-empty without commas or quotes", u.Name)
		}
		tok := u.Token
		if tok == "" {
			tok = randomToken()
		}
		c.tokens[u.Name] = tok
		fmt.Fprintf(&b, "%s,%s,kubetest-%s,\"%s\"\n", tok, u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	path := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write token file %s: %w", path, err)
	}
	return path, nil
}

// Token returns the bearer token of a user from Options.Users ("admin" is
// the admin). It panics for unknown users: a typo in a test.
func (c *Cluster) Token(user string) string {
	tok, ok := c.tokens[user]
	if !ok {
		panic(fmt.Sprintf("kubetest: no token user %q", user))
	}
	return tok
}

func (c *Cluster) startEtcd(bin string) error {
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	args := []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(c.Dir, "etcd-data"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubetest=" + peer,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-outputs=stderr",
	}
	p, err := startProc("etcd", bin, args, filepath.Join(c.Dir, "etcd.log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.etcd, c.EtcdURL = p, client
	c.mu.Unlock()
	hc := &http.Client{Timeout: 2 * time.Second}
	err = poll(etcdReadyTimeout, 50*time.Millisecond, func() (bool, error) {
		if done, err := p.Exited(); done {
			return false, fmt.Errorf("etcd %s: %w", client, err)
		}
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"true"`)), nil
	})
	if err != nil {
		return fmt.Errorf("wait for etcd at %s: %w", client, err)
	}
	return nil
}

func (c *Cluster) startAPIServer() error {
	args := c.args
	if c.opts.DisableWatchCache {
		args = append(append([]string(nil), args...), "--watch-cache=false")
	}
	p, err := startProc("kube-apiserver", c.apiserver, args, filepath.Join(c.Dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.kas = p
	c.mu.Unlock()
	hc := c.HTTPClient(c.AdminToken)
	hc.Timeout = 5 * time.Second
	defer hc.CloseIdleConnections()
	var last string
	err = poll(c.opts.ReadyTimeout, 100*time.Millisecond, func() (bool, error) {
		if done, err := p.Exited(); done {
			return false, fmt.Errorf("kube-apiserver on %s: %w", c.URL, err)
		}
		resp, err := hc.Get(c.URL + "/readyz")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, body)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s/readyz (last answer: %s): %w", c.URL, last, err)
	}
	return nil
}

// HTTPClient is a plain HTTP client that trusts the cluster CA and sends
// token, for requests client-go does not wrap (/readyz, raw watches).
func (c *Cluster) HTTPClient(token string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM) // our own PEM: always parses
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return &http.Client{Transport: bearer{token: token, next: tr}}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// RESTConfig is a client-go configuration for token, trusting the cluster
// CA. Rate limits are raised so tests are not throttled on the client side.
func (c *Cluster) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM},
		QPS:             200,
		Burst:           400,
	}
}

// AdminClient is a clientset authenticated as system:masters.
func (c *Cluster) AdminClient() kubernetes.Interface {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		// NewForConfig fails only on malformed configuration.
		c.admin = kubernetes.NewForConfigOrDie(c.RESTConfig(c.AdminToken))
	}
	return c.admin
}

// WriteKubeconfig writes a kubeconfig for token to path, for binaries run
// with --kubeconfig or $KUBECONFIG. The CA is embedded, so the file stands
// alone.
func (c *Cluster) WriteKubeconfig(path, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.CAPEM}
	cfg.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// Stop stops kube-apiserver gracefully (SIGTERM; open watches are ended
// within 2 s), leaving etcd running: clients get connection refused until
// StartAgain.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	p := c.kas
	c.mu.Unlock()
	if p == nil {
		t.Fatalf("kubetest: Stop: kube-apiserver is not running")
	}
	took := p.Stop(stopGrace)
	t.Logf("kubetest: kube-apiserver stopped in %v", took.Round(time.Millisecond))
}

// StartAgain starts kube-apiserver after Stop, on the same port with the
// same etcd, and waits for /readyz.
func (c *Cluster) StartAgain(t testing.TB) {
	t.Helper()
	start := time.Now()
	if err := c.startAPIServer(); err != nil {
		t.Fatalf("kubetest: restart: %v\n%s", err, testproc.TailFile(filepath.Join(c.Dir, "kube-apiserver.log"), logTailLines))
	}
	t.Logf("kubetest: kube-apiserver ready again in %v", time.Since(start).Round(time.Millisecond))
}

// Restart stops and starts kube-apiserver: every client connection drops and
// watches must be re-established.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.StartAgain(t)
}

// SetWatchCache restarts kube-apiserver with the watch cache on or off.
func (c *Cluster) SetWatchCache(t testing.TB, enabled bool) {
	t.Helper()
	c.opts.DisableWatchCache = !enabled
	c.Restart(t)
}

// Compact compacts etcd's history so that every resourceVersion the cluster
// handed out before the call is too old to watch from, and returns the
// revision compacted at. With the watch cache disabled (SetWatchCache,
// Options.DisableWatchCache) such a watch then fails with 410 Gone.
func (c *Cluster) Compact(t testing.TB) int64 {
	t.Helper()
	rev, err := c.compact()
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return rev
}

// compact uses etcd's JSON gateway, so etcdctl is not needed. A watch from
// resourceVersion R starts at revision R+1, and the event there needs R
// (its previous value): both must be older than the compaction for a clean
// 410, so two writes outside /registry come first.
func (c *Cluster) compact() (int64, error) {
	var put struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	key := base64.StdEncoding.EncodeToString([]byte("/kubetest/compaction-marker"))
	for i := range 2 {
		value := base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(i)))
		if err := c.etcdCall("/v3/kv/put", map[string]any{"key": key, "value": value}, &put); err != nil {
			return 0, err
		}
	}
	rev, err := strconv.ParseInt(put.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd revision %q: %w", put.Header.Revision, err)
	}
	if err := c.etcdCall("/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, nil); err != nil {
		return 0, fmt.Errorf("compact etcd at revision %d: %w", rev, err)
	}
	return rev, nil
}

func (c *Cluster) etcdCall(path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	r, err := hc.Post(c.EtcdURL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s: %s", path, r.Status, data)
	}
	if resp != nil {
		if err := json.Unmarshal(data, resp); err != nil {
			return fmt.Errorf("etcd %s: decode %s: %w", path, data, err)
		}
	}
	return nil
}

// RSS is the resident memory of kube-apiserver and etcd in bytes.
func (c *Cluster) RSS() (apiserver, etcd int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kas != nil {
		apiserver = c.kas.RSSBytes()
	}
	if c.etcd != nil {
		etcd = c.etcd.RSSBytes()
	}
	return apiserver, etcd
}

func (c *Cluster) stopAll() {
	c.mu.Lock()
	kas, etcd := c.kas, c.etcd
	c.mu.Unlock()
	// A test is over: no need for a graceful apiserver shutdown.
	if kas != nil {
		kas.Kill()
	}
	if etcd != nil {
		etcd.Stop(stopGrace)
	}
}

var nsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a fresh namespace named after the test. Namespaces are
// never deleted: without a controller-manager deletion never finishes.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(nsUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	name := base + "-" + randomToken()[:6]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := createNamespace(ctx, c.AdminClient(), name); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return name
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before it is used; on this scale that has not been seen.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// poll calls f every interval until it returns true or an error, or timeout
// passes.
func poll(timeout, interval time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v", timeout)
		}
		time.Sleep(interval)
	}
}
