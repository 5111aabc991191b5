package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	tailscale "tailscale.com/client/tailscale/v2"
)

// DefaultBaseURL is the Tailscale API.
const DefaultBaseURL = "https://api.tailscale.com"

// DefaultTimeout bounds one Read from the API, the OAuth token exchange included.
const DefaultTimeout = 30 * time.Second

const userAgent = "tailscale-tunnel-exporter"

// APIConfig says how to reach the Tailscale API. The credential is one of an
// API access token or an OAuth client (client ID and secret). Either give it
// in files, which are read again on every Read so a rotated Kubernetes Secret
// works without a restart, or leave all file fields empty and set the
// environment: TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID and
// TAILSCALE_OAUTH_CLIENT_SECRET. When any file is given the environment is
// ignored. A read-only credential is enough: an OAuth client needs only the
// policy_file:read scope (https://tailscale.com/kb/1623/trust-credentials#scopes).
type APIConfig struct {
	BaseURL string // default DefaultBaseURL
	Tailnet string // tailnet name; default $TAILSCALE_TAILNET, else "-" (the credential's own tailnet)

	APIKeyFile            string // a file holding an API access token (tskey-api-...)
	OAuthClientIDFile     string // a file holding an OAuth client's ID,
	OAuthClientSecretFile string // and one holding its secret (tskey-client-...)

	Timeout  time.Duration // of one Read; default DefaultTimeout
	MaxBytes int64         // largest policy accepted; default DefaultMaxBytes
}

// NewAPI returns a Source that reads the policy with
// GET {BaseURL}/api/v2/tailnet/{tailnet}/acl through Tailscale's own Go client.
// getenv is os.Getenv in production. It fails when the configuration is
// unusable: no credential, both kinds, half an OAuth client, a bad base URL.
// It does not read the credential files; Read does, every time, and reports a
// missing or empty one as KindCredential.
func NewAPI(cfg APIConfig, getenv func(string) string) (Source, error) {
	creds, err := chooseCredentials(cfg, getenv)
	if err != nil {
		return nil, err
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	tailnet := strings.TrimSpace(cfg.Tailnet)
	if tailnet == "" {
		tailnet = strings.TrimSpace(getenv(EnvTailnet))
	}
	if tailnet == "" {
		tailnet = "-"
	}
	s := &apiSource{base: base, tailnet: tailnet, creds: creds, timeout: cfg.Timeout, maxBytes: cfg.MaxBytes}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.timeout < 0 || s.maxBytes < 0 {
		return nil, fmt.Errorf("tailscale API source: timeout (%s) and size limit (%d) must not be negative", s.timeout, s.maxBytes)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// One request every few minutes gains nothing from idle connections, and
	// none are left behind (nor their goroutines) between Reads.
	t.DisableKeepAlives = true
	s.transport = t
	return s, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("tailscale API base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("tailscale API base URL %q: want http(s)://host", raw)
	case u.User != nil:
		// A URL is printed in errors and logs, so it must not carry a credential.
		return nil, fmt.Errorf("tailscale API base URL must not contain a user or password; give the credential in a file")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("tailscale API base URL %q: want no query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

type apiSource struct {
	base      *url.URL
	tailnet   string
	creds     credentials
	timeout   time.Duration
	maxBytes  int64
	transport http.RoundTripper

	// An OAuth access token lives an hour; keep it rather than exchange the
	// client secret on every Read. It is valid only for the ID and secret it
	// was issued to, so a rotated secret gets a new token.
	mu       sync.Mutex
	token    *oauth2.Token
	tokenFor [2]string
}

func (s *apiSource) String() string {
	var b strings.Builder
	b.WriteString("Tailscale API")
	if u := s.base.String(); u != DefaultBaseURL {
		b.WriteString(" at " + u)
	}
	if s.tailnet == "-" {
		b.WriteString(", the credential's default tailnet")
	} else {
		b.WriteString(", tailnet " + s.tailnet)
	}
	b.WriteString(", " + s.creds.String())
	return b.String()
}

// step says which request failed, for the advice in an error.
type step int

const (
	stepPolicy step = iota
	stepToken
)

func (s *apiSource) Read(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	client := &tailscale.Client{BaseURL: s.base, Tailnet: s.tailnet, UserAgent: userAgent}
	var secrets []string
	if s.creds.apiKey != nil {
		key, err := s.creds.apiKey.load()
		if err != nil {
			return nil, s.fail(KindCredential, err)
		}
		client.APIKey = key // sent as HTTP basic auth user, as the client does
		secrets = []string{key}
	} else {
		tok, oauthSecrets, err := s.oauthToken(ctx)
		if err != nil {
			return nil, err
		}
		client.Auth = bearer{tok}
		secrets = oauthSecrets
	}
	rec := &recorder{base: s.transport, maxBytes: s.maxBytes}
	client.HTTP = &http.Client{Transport: rec, CheckRedirect: refuseRedirect}

	raw, err := client.PolicyFile().Raw(ctx)
	if err != nil {
		if rec.status.Load() == http.StatusUnauthorized {
			s.forgetToken() // revoked early: exchange again next time
		}
		return nil, s.classify(ctx, stepPolicy, err, int(rec.status.Load()), secrets)
	}
	// The client returns 3xx answers as success with an empty body.
	if code := int(rec.status.Load()); code < 200 || code > 299 {
		return nil, s.fail(KindOther, fmt.Errorf("%s from the Tailscale API, expected 200; is the base URL right?", statusLine(code)))
	}
	return []byte(raw.HuJSON), nil
}

// oauthToken returns a valid access token for the OAuth client, from the
// cache or from the token endpoint. The exchange is done here rather than by
// the Tailscale client's own OAuth support because that one fetches tokens
// with context.Background() through http.DefaultClient: no timeout, no size
// limit, no status to classify. The request is the same: client credentials
// POSTed to {BaseURL}/api/v2/oauth/token. No scopes are asked for: the token
// carries those the client was created with.
func (s *apiSource) oauthToken(ctx context.Context) (*oauth2.Token, []string, error) {
	id, err := s.creds.clientID.load()
	if err != nil {
		return nil, nil, s.fail(KindCredential, err)
	}
	secret, err := s.creds.clientSecret.load()
	if err != nil {
		return nil, nil, s.fail(KindCredential, err)
	}
	secrets := []string{id, secret}
	s.mu.Lock()
	tok := s.token
	if s.tokenFor != [2]string{id, secret} || !tok.Valid() {
		tok = nil
	}
	s.mu.Unlock()
	if tok != nil {
		return tok, append(secrets, tok.AccessToken), nil
	}

	rec := &recorder{base: s.transport, maxBytes: s.maxBytes}
	hc := &http.Client{Transport: rec, CheckRedirect: refuseRedirect}
	conf := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.base.JoinPath("/api/v2/oauth/token").String()}
	tok, err = conf.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return nil, nil, s.classify(ctx, stepToken, err, int(rec.status.Load()), secrets)
	}
	s.mu.Lock()
	s.token, s.tokenFor = tok, [2]string{id, secret}
	s.mu.Unlock()
	return tok, append(secrets, tok.AccessToken), nil
}

func (s *apiSource) forgetToken() {
	s.mu.Lock()
	s.token = nil
	s.mu.Unlock()
}

// bearer makes the Tailscale client send an OAuth access token the way its
// own OAuth support does: an oauth2.Transport setting "Authorization: Bearer".
type bearer struct{ token *oauth2.Token }

func (b bearer) HTTPClient(orig *http.Client, _ string) *http.Client {
	return &http.Client{
		Transport:     &oauth2.Transport{Base: orig.Transport, Source: oauth2.StaticTokenSource(b.token)},
		CheckRedirect: orig.CheckRedirect,
	}
}

func (s *apiSource) fail(kind Kind, err error) *Error {
	return &Error{Source: s.String(), Kind: kind, Err: err}
}

// classify turns a failed request into an *Error with advice. code is the
// HTTP status of the last answer, 0 if none came.
func (s *apiSource) classify(ctx context.Context, st step, err error, code int, secrets []string) *Error {
	switch {
	case errors.Is(err, errTooLarge):
		return s.fail(KindTooLarge, fmt.Errorf("the answer is larger than %s; is the base URL right?", sizeString(s.maxBytes)))
	case isTimeout(ctx, err):
		return s.fail(KindTimeout, fmt.Errorf("no complete answer within %s; check the way out to %s (egress NetworkPolicy, proxy) or raise the timeout: %w",
			s.timeout, s.base.Host, redact(err, secrets)))
	case errors.Is(err, context.Canceled):
		return s.fail(KindOther, fmt.Errorf("canceled: %w", redact(err, secrets)))
	case code >= 400:
		kind, advice := s.advice(st, code)
		said := redact(errors.New(serverMessage(err)), secrets).Error()
		if said != "" {
			said = fmt.Sprintf(" (it said %q)", said)
		}
		return s.fail(kind, fmt.Errorf("%s from the %s%s: %s", statusLine(code), endpointName(st), said, advice))
	case isUnreachable(err):
		return s.fail(KindUnreachable, fmt.Errorf("cannot connect to %s; check DNS, egress NetworkPolicy and proxy settings: %w", s.base.Host, redact(err, secrets)))
	}
	return s.fail(KindOther, fmt.Errorf("%s: %w", endpointName(st), redact(err, secrets)))
}

// advice says, for an HTTP error status, what it means and what to do.
func (s *apiSource) advice(st step, code int) (Kind, string) {
	where := s.creds.where()
	switch {
	case code == http.StatusUnauthorized && st == stepToken:
		return KindUnauthorized, "the OAuth client in " + where + " is not valid (deleted, or the secret rotated?); put a current client ID and secret there"
	case code == http.StatusUnauthorized && s.creds.apiKey != nil:
		return KindUnauthorized, "the API key in " + where + " is not valid (expired or revoked?); put a current key there"
	case code == http.StatusUnauthorized:
		return KindUnauthorized, "the access token of the OAuth client in " + where + " was refused; a new one is requested on the next read"
	case code == http.StatusForbidden:
		return KindForbidden, "the credential in " + where + " may not read the policy of " + s.tailnetName() +
			"; an OAuth client needs the policy_file:read scope, an API key a user who may read the policy"
	case code == http.StatusNotFound:
		return KindNotFound, "no " + s.tailnetName() + " for this credential; check the tailnet name, or use \"-\" for the credential's own tailnet"
	case code == http.StatusTooManyRequests:
		return KindRateLimited, "rate limited; read the policy less often"
	case code >= 500:
		return KindServerError, "a problem on the API's side or a proxy in between; the next read tries again"
	}
	return KindOther, "unexpected answer; is the base URL right?"
}

func (s *apiSource) tailnetName() string {
	if s.tailnet == "-" {
		return "the credential's default tailnet"
	}
	return "tailnet " + s.tailnet
}

func endpointName(st step) string {
	if st == stepToken {
		return "Tailscale OAuth token endpoint"
	}
	return "Tailscale API"
}

func statusLine(code int) string {
	return strings.TrimSpace(fmt.Sprintf("%d %s", code, http.StatusText(code)))
}

// serverMessage is the short reason an error answer gave, if any: the API's
// JSON "message", or the OAuth error code and description.
func serverMessage(err error) string {
	var msg string
	var apiErr tailscale.APIError
	var oauthErr *oauth2.RetrieveError
	switch {
	case errors.As(err, &apiErr):
		msg = apiErr.Message
	case errors.As(err, &oauthErr):
		msg = strings.TrimSpace(oauthErr.ErrorCode + " " + oauthErr.ErrorDescription)
	}
	const max = 200
	if len(msg) > max {
		msg = msg[:max] + "..."
	}
	return msg
}
