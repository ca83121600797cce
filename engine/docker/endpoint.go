package docker

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// Engines resolves engine names the way the docker CLI does and opens
// them. Getenv reads the environment (DOCKER_HOST, DOCKER_CONTEXT,
// DOCKER_CONFIG, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, HOME).
type Engines struct {
	Getenv func(string) string
}

var _ engine.Engines = Engines{}

// defaultHost is the daemon's socket when nothing names another.
const defaultHost = "unix:///var/run/docker.sock"

// Resolve names an engine without contacting it. "" is the default engine:
// DOCKER_HOST, else DOCKER_CONTEXT, else config.json's currentContext (what
// `docker context use` sets), else the default socket. An address (with
// "://") is taken as it is, a tcp one with DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH's TLS; anything else is a context of the docker CLI's
// store ("default" is the environment's engine, as for the CLI).
func (s Engines) Resolve(ref string) (engine.Endpoint, error) {
	if ref == "" {
		if s.Getenv("DOCKER_HOST") != "" {
			return s.address(s.Getenv("DOCKER_HOST"))
		}
		ref = s.Getenv("DOCKER_CONTEXT")
		if ref == "" {
			cur, err := s.currentContext()
			if err != nil {
				return engine.Endpoint{}, err
			}
			ref = cur
		}
		if ref == "" || ref == "default" {
			return s.address(defaultHost)
		}
	}
	if strings.Contains(ref, "://") {
		return s.address(ref)
	}
	if ref == "default" {
		at, err := s.Resolve("")
		if err == nil && at.Name == "" {
			at.Name = "default"
		}
		return at, err
	}
	return s.context(ref)
}

// address is an endpoint named by its address; TLS as the docker CLI takes
// it from the environment (DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH).
func (s Engines) address(host string) (engine.Endpoint, error) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" {
		return engine.Endpoint{}, fmt.Errorf("engine address %q: not an address (unix:///path, tcp://host:port or ssh://[user@]host[:port])", host)
	}
	switch u.Scheme {
	case "unix", "tcp", "ssh", "npipe":
	default:
		return engine.Endpoint{}, fmt.Errorf("engine address %q: scheme %s is not one of unix, tcp, ssh", host, u.Scheme)
	}
	at := engine.Endpoint{Host: host}
	if u.Scheme != "tcp" {
		return at, nil
	}
	verify, unverified := s.Getenv("DOCKER_TLS_VERIFY") != "", s.Getenv("DOCKER_TLS") != ""
	at.CertPath = s.Getenv("DOCKER_CERT_PATH")
	if at.CertPath == "" && (verify || unverified) {
		at.CertPath = s.configDir()
	}
	at.TLS = at.CertPath != ""
	// The server is verified against the cert path's ca.pem unless
	// DOCKER_TLS asks for TLS without DOCKER_TLS_VERIFY, as the docker CLI
	// reads them; a cert path alone verifies (the CLI would not use TLS).
	at.TLSVerify = at.TLS && (verify || !unverified)
	return at, nil
}

// configDir is the docker CLI's configuration directory.
func (s Engines) configDir() string {
	if d := s.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	return filepath.Join(s.Getenv("HOME"), ".docker")
}

// currentContext is config.json's currentContext ("" when there is none).
func (s Engines) currentContext() (string, error) {
	path := filepath.Join(s.configDir(), "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("docker config %s: %w", path, err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("docker config %s: %v; fix it or set DOCKER_HOST", path, err)
	}
	return cfg.CurrentContext, nil
}

// context reads a context of the docker CLI's store: its meta.json under
// contexts/meta/<sha256 of the name>/ and its TLS files under
// contexts/tls/<same>/docker/.
func (s Engines) context(name string) (engine.Endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	path := filepath.Join(s.configDir(), "contexts", "meta", id, "meta.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return engine.Endpoint{}, fmt.Errorf("engine %q: no Docker context of that name (%s does not exist); "+
			"`docker context ls` lists them, or give an address (unix://, tcp://, ssh://)", name, path)
	}
	if err != nil {
		return engine.Endpoint{}, fmt.Errorf("engine %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return engine.Endpoint{}, fmt.Errorf("engine %q: %s: %v", name, path, err)
	}
	ep, ok := meta.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return engine.Endpoint{}, fmt.Errorf("engine %q: context %s has no docker endpoint", name, path)
	}
	at := engine.Endpoint{Name: name, Host: ep.Host}
	tlsDir := filepath.Join(s.configDir(), "contexts", "tls", id, "docker")
	if _, err := os.Stat(tlsDir); err == nil {
		at.CertPath = tlsDir
	}
	at.TLS = strings.HasPrefix(ep.Host, "tcp://") && (at.CertPath != "" || ep.SkipTLSVerify)
	at.TLSVerify = at.TLS && !ep.SkipTLSVerify
	return at, nil
}

// Open returns the engine at an endpoint, its first ping under way (as
// NewAsync). A recorded endpoint of a context is resolved again, so a
// context whose address moved is followed.
func (s Engines) Open(ctx context.Context, at engine.Endpoint) (engine.Engine, error) {
	if at.Name != "" {
		now, err := s.Resolve(at.Name)
		if err != nil {
			return nil, fmt.Errorf("%w (the bottle was on %s)", err, at)
		}
		at = now
	}
	e, err := NewAt(ctx, at)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// clientOptions are the moby client's options for an endpoint: the host,
// TLS from the endpoint's files, or for ssh:// the docker CLI's connection
// helper (docker system dial-stdio on the far side).
func clientOptions(at engine.Endpoint) ([]client.Opt, error) {
	opts := []client.Opt{client.WithAPIVersionFromEnv()}
	if strings.HasPrefix(at.Host, "ssh://") {
		dial, err := sshDialer(at.Host)
		if err != nil {
			return nil, err
		}
		// The host name is a placeholder: every connection is the helper's.
		return append(opts, client.WithHost("http://docker.example.com"), client.WithDialContext(dial)), nil
	}
	if at.TLS {
		cfg, err := tlsConfig(at)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Transport:     &http.Transport{TLSClientConfig: cfg},
			CheckRedirect: client.CheckRedirect,
		}))
	}
	return append(opts, client.WithHost(at.Host)), nil
}

// tlsConfig is the client side of a TLS endpoint: its CA (ca.pem) as the
// only roots, its client certificate (cert.pem, key.pem) when there is one.
func tlsConfig(at engine.Endpoint) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !at.TLSVerify}
	if at.CertPath == "" {
		return cfg, nil
	}
	ca, err := os.ReadFile(filepath.Join(at.CertPath, "ca.pem"))
	switch {
	case err == nil:
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("engine %s: %s holds no certificate", at, filepath.Join(at.CertPath, "ca.pem"))
		}
	case !errors.Is(err, fs.ErrNotExist) || at.TLSVerify:
		return nil, fmt.Errorf("engine %s: the CA to verify it with: %w", at, err)
	}
	certFile, keyFile := filepath.Join(at.CertPath, "cert.pem"), filepath.Join(at.CertPath, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("engine %s: client certificate: %w", at, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// ComposeEnv is what compose's environment must say so that v1 and v2
// both talk to the endpoint: DOCKER_HOST with the TLS settings, and none
// of the variables that would point them elsewhere.
func ComposeEnv(environ []string, at engine.Endpoint) []string {
	if at.Host == "" {
		return environ
	}
	out := make([]string, 0, len(environ)+3)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "DOCKER_HOST="+at.Host)
	if at.TLS && at.CertPath != "" {
		out = append(out, "DOCKER_CERT_PATH="+at.CertPath)
	}
	if at.TLSVerify {
		out = append(out, "DOCKER_TLS_VERIFY=1")
	} else if at.TLS {
		out = append(out, "DOCKER_TLS=1")
	}
	return out
}
