package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The environment variables Tailscale's own tooling (its Terraform provider)
// reads. Credentials come from files or these, never from flag values, which
// anyone on the host can see in ps.
const (
	EnvAPIKey            = "TAILSCALE_API_KEY"
	EnvOAuthClientID     = "TAILSCALE_OAUTH_CLIENT_ID"
	EnvOAuthClientSecret = "TAILSCALE_OAUTH_CLIENT_SECRET"
	EnvTailnet           = "TAILSCALE_TAILNET"
)

// maxCredentialBytes bounds a credential file; a key is under 100 bytes, so a
// bigger file is the wrong file.
const maxCredentialBytes = 64 << 10

// secretRef says where one secret lives: a file, read again on every use so a
// rotated Kubernetes Secret is picked up, or an environment variable.
type secretRef struct {
	what  string // "API key", "OAuth client ID", "OAuth client secret"
	file  string // the file; "" when the value came from env
	env   string // the variable's name, when file is ""
	value string // the variable's value, when file is ""
}

// where names the place, never the value: "file /run/secrets/key" or "$TAILSCALE_API_KEY".
func (r *secretRef) where() string {
	if r.file != "" {
		return "file " + r.file
	}
	return "$" + r.env
}

// load returns the secret. Its errors name the file, never its contents.
func (r *secretRef) load() (string, error) {
	if r.file == "" {
		return r.value, nil
	}
	fh, err := os.Open(r.file)
	if err != nil {
		return "", fmt.Errorf("cannot read the %s: %w", r.what, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxCredentialBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read the %s: %w", r.what, err)
	}
	if len(data) > maxCredentialBytes {
		return "", fmt.Errorf("the %s file %s is larger than %s; is it the right file?", r.what, r.file, sizeString(maxCredentialBytes))
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("the %s file %s is empty; put the %s in it", r.what, r.file, r.what)
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return "", fmt.Errorf("the %s file %s holds more than one word; it must hold only the %s", r.what, r.file, r.what)
	}
	return v, nil
}

// credentials is either an API key or an OAuth client, never both.
type credentials struct {
	apiKey                 *secretRef
	clientID, clientSecret *secretRef
}

func (c credentials) String() string {
	if c.apiKey != nil {
		return "API key from " + c.apiKey.where()
	}
	if c.clientID.file != "" {
		return fmt.Sprintf("OAuth client from files %s and %s", c.clientID.file, c.clientSecret.file)
	}
	return fmt.Sprintf("OAuth client from $%s and $%s", c.clientID.env, c.clientSecret.env)
}

// where names the place the credential is kept, for an error's advice.
func (c credentials) where() string {
	if c.apiKey != nil {
		return c.apiKey.where()
	}
	if c.clientID.file != "" {
		return "files " + c.clientID.file + " and " + c.clientSecret.file
	}
	return "$" + c.clientID.env + " and $" + c.clientSecret.env
}

var errNoCredential = errors.New("no Tailscale API credential: give an API key file, or an OAuth client ID file and secret file, " +
	"or set $" + EnvAPIKey + ", or $" + EnvOAuthClientID + " and $" + EnvOAuthClientSecret)

// chooseCredentials picks the credential: files when any file is configured
// (the environment is then ignored), otherwise the environment. Exactly one of
// an API key and an OAuth client must be given.
func chooseCredentials(cfg APIConfig, getenv func(string) string) (credentials, error) {
	fromFile := func(what, path string) *secretRef {
		if path == "" {
			return nil
		}
		return &secretRef{what: what, file: path}
	}
	key := fromFile("API key", cfg.APIKeyFile)
	id := fromFile("OAuth client ID", cfg.OAuthClientIDFile)
	secret := fromFile("OAuth client secret", cfg.OAuthClientSecretFile)
	if key == nil && id == nil && secret == nil {
		fromEnv := func(what, name string) *secretRef {
			v := strings.TrimSpace(getenv(name))
			if v == "" {
				return nil
			}
			return &secretRef{what: what, env: name, value: v}
		}
		key = fromEnv("API key", EnvAPIKey)
		id = fromEnv("OAuth client ID", EnvOAuthClientID)
		secret = fromEnv("OAuth client secret", EnvOAuthClientSecret)
	}
	switch {
	case key == nil && id == nil && secret == nil:
		return credentials{}, errNoCredential
	case key != nil && (id != nil || secret != nil):
		return credentials{}, fmt.Errorf("both an API key (%s) and an OAuth client are given; give only one", key.where())
	case key != nil:
		return credentials{apiKey: key}, nil
	case id == nil:
		return credentials{}, fmt.Errorf("the OAuth client secret (%s) is given without the client ID", secret.where())
	case secret == nil:
		return credentials{}, fmt.Errorf("the OAuth client ID (%s) is given without the client secret", id.where())
	}
	return credentials{clientID: id, clientSecret: secret}, nil
}
