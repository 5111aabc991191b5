package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/tailnetpolicy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

// tailnetPolicyFlags select where the tailnet policy comes from, whom it
// is checked for, and how often the exporter re-reads it. Credentials are
// only ever file paths or environment variables: a flag's value shows in ps.
type tailnetPolicyFlags struct {
	file            *string
	apiKeyFile      *string
	oauthIDFile     *string
	oauthSecretFile *string
	tailnet         *string
	apiURL          *string
	interval        *time.Duration
	clients         *string
	defaultTags     *string
}

func addTailnetPolicyFlags(a *kingpin.Application) tailnetPolicyFlags {
	return tailnetPolicyFlags{
		file:            a.Flag("tailnet.policy-file", "The tailnet policy (HuJSON, as kept in git) to check the endpoints against.").PlaceHolder("PATH").String(),
		apiKeyFile:      a.Flag("tailnet.api-key-file", "Read the tailnet policy from the Tailscale API with the access token in this file (or $"+source.EnvAPIKey+").").PlaceHolder("PATH").String(),
		oauthIDFile:     a.Flag("tailnet.oauth-client-id-file", "Read the tailnet policy from the Tailscale API as the OAuth client whose ID is in this file (or $"+source.EnvOAuthClientID+"); scope policy_file:read.").PlaceHolder("PATH").String(),
		oauthSecretFile: a.Flag("tailnet.oauth-client-secret-file", "The OAuth client's secret (or $"+source.EnvOAuthClientSecret+").").PlaceHolder("PATH").String(),
		tailnet:         a.Flag("tailnet.name", "The tailnet whose policy the Tailscale API serves (or $"+source.EnvTailnet+"); '-' is the credential's own.").PlaceHolder("NAME").String(),
		apiURL:          a.Flag("tailnet.api-url", "The Tailscale API.").Default(source.DefaultBaseURL).String(),
		interval:        a.Flag("tailnet.policy-interval", "How often the exporter re-reads the tailnet policy and checks the discovered endpoints against it (without --kubernetes.discovery it exports only whether the policy could be read).").Default("5m").Duration(),
		clients:         a.Flag("tailnet.clients", "The tailnet clients that must reach the endpoints: autogroup:member, a user (alice@example.com), group:NAME, tag:NAME, a hosts alias, an IP or CIDR, or '*'.").Default(policy.DefaultClients).String(),
		defaultTags:     a.Flag("tailnet.default-tags", "The operator's default proxy tags (its proxyConfig.defaultTags), for endpoints without a tailscale.com/tags annotation.").Default(tailnetpolicy.DefaultTags).String(),
	}
}

// tailnetPolicyConfig is what the flags give: the source (nil when no
// policy is to be read), the clients and the default tags.
type tailnetPolicyConfig struct {
	Source      source.Source
	Clients     policy.Selector
	DefaultTags []string
	Interval    time.Duration
}

// config checks the flags. getenv is os.Getenv in production: an API
// credential in the environment alone turns the API source on.
func (f tailnetPolicyFlags) config(getenv func(string) string) (tailnetPolicyConfig, error) {
	var c tailnetPolicyConfig
	clients, err := policy.ParseSelector(*f.clients)
	if err != nil {
		return c, fmt.Errorf("--tailnet.clients: %w", err)
	}
	tags, err := tailnetpolicy.ParseTags(*f.defaultTags)
	if err != nil {
		return c, fmt.Errorf("--tailnet.default-tags: %w", err)
	}
	if *f.interval <= 0 {
		return c, fmt.Errorf("--tailnet.policy-interval %v: want a positive duration", *f.interval)
	}
	c.Clients, c.DefaultTags, c.Interval = clients, tags, *f.interval

	api := *f.apiKeyFile != "" || *f.oauthIDFile != "" || *f.oauthSecretFile != "" ||
		getenv(source.EnvAPIKey) != "" || getenv(source.EnvOAuthClientID) != "" || getenv(source.EnvOAuthClientSecret) != ""
	switch {
	case *f.file != "" && api:
		return c, errors.New("--tailnet.policy-file and a Tailscale API credential (flags or $" + source.EnvAPIKey + ", $" + source.EnvOAuthClientID + "): give one policy source")
	case *f.file != "":
		c.Source = source.NewFile(*f.file)
	case api:
		c.Source, err = source.NewAPI(source.APIConfig{
			BaseURL: *f.apiURL, Tailnet: *f.tailnet,
			APIKeyFile: *f.apiKeyFile, OAuthClientIDFile: *f.oauthIDFile, OAuthClientSecretFile: *f.oauthSecretFile,
		}, getenv)
		if err != nil {
			return c, fmt.Errorf("tailnet policy from the Tailscale API: %w", err)
		}
	}
	return c, nil
}

// reader builds the background reader of the tailnet policy, or nil when
// no policy is to be read. It checks discovery's endpoints; without
// discovery it exposes only whether the policy could be read.
func (f tailnetPolicyFlags) reader(d *discovery.Discovery, getenv func(string) string, logger log.Logger) (*tailnetpolicy.Reader, error) {
	c, err := f.config(getenv)
	if err != nil || c.Source == nil {
		return nil, err
	}
	opts := tailnetpolicy.Options{
		Source: c.Source, Interval: c.Interval, Clients: c.Clients, DefaultTags: c.DefaultTags,
		Logger: log.With(logger, "component", "tailnet-policy"),
	}
	if d != nil {
		opts.Endpoints = d.Endpoints
	}
	return tailnetpolicy.New(opts), nil
}
