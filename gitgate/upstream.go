package gitgate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

// upstream is how to reach one remote's upstream: go-git's client for its
// scheme, the endpoint and the credentials.
type upstream struct {
	client transport.Transport
	ep     *transport.Endpoint
	auth   transport.AuthMethod
}

// upstreamTimeout bounds the SSH handshake and an HTTPS request's wait for
// response headers; a pack in flight is not cut by it.
const upstreamTimeout = 30 * time.Second

// dial returns the upstream of remote. Its errors never hold the key or
// the token: they name the file or the variable instead.
func (g *Gate) dial(ctx context.Context, remote *policy.Remote) (*upstream, error) {
	if err := g.meter(ctx); err != nil {
		return nil, err
	}
	u, err := policy.ParseURL(remote.URL)
	if err != nil {
		return nil, err
	}
	ep, err := transport.NewEndpoint(remote.URL)
	if err != nil {
		return nil, fmt.Errorf("url %s: %v", remote.URL, err)
	}
	if u.Scheme == "https" {
		return g.dialHTTPS(remote, ep)
	}
	return g.dialSSH(u, ep)
}

// meter takes a connection from the meter of upstream connections,
// waiting up to upstreamWait for it. Past that, or when the agent has gone
// (ctx), it gives the place back and fails: the upstream is not asked.
func (g *Gate) meter(ctx context.Context) error {
	r := g.reserve()
	wait := r.Delay()
	if wait > upstreamWait {
		g.unreserve(r)
		return fmt.Errorf("over %d connections to the upstreams in a minute: the gate holds back so that the operator's credentials are not rate-limited by the host; try again in %s",
			g.upstreams.Burst(), wait.Round(time.Second))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		g.unreserve(r)
		return err
	}
	return nil
}

// reserve takes a connection from the meter, with the time read under
// meterMu: the limiter reads it before its own lock, so requests racing
// for it would set its clock back and make tokens (golang/go#56287).
func (g *Gate) reserve() *rate.Reservation {
	g.meterMu.Lock()
	defer g.meterMu.Unlock()
	return g.upstreams.ReserveN(time.Now(), 1)
}

// unreserve gives back a connection reserve took and did not use.
func (g *Gate) unreserve(r *rate.Reservation) {
	g.meterMu.Lock()
	defer g.meterMu.Unlock()
	r.CancelAt(time.Now())
}

func (g *Gate) dialHTTPS(remote *policy.Remote, ep *transport.Endpoint) (*upstream, error) {
	client := githttp.NewClient(&http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // the gate reaches upstreams itself, never through the agent's proxy settings
			TLSHandshakeTimeout:   upstreamTimeout,
			ResponseHeaderTimeout: upstreamTimeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the upstream answered with a redirect; put the final URL in the policy")
		},
	})
	up := &upstream{client: client, ep: ep}
	if remote.TokenEnv != "" {
		token := g.cfg.Getenv(remote.TokenEnv)
		if token == "" {
			return nil, fmt.Errorf("the gate's environment has no %s (token_env of %s); the operator passes it to the gate", remote.TokenEnv, remote.Name)
		}
		up.auth = &githttp.BasicAuth{Username: "x-access-token", Password: token}
	}
	return up, nil
}

func (g *Gate) dialSSH(u *policy.URL, ep *transport.Endpoint) (*upstream, error) {
	pem, err := os.ReadFile(g.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("the gate's SSH key: %v", err)
	}
	signer, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		// The parser's message never holds the key's bytes; say so plainly anyway.
		return nil, fmt.Errorf("the gate's SSH key %s is not an unencrypted private key git's ssh could use", g.cfg.KeyFile)
	}
	check, err := knownhosts.New(g.cfg.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("known_hosts %s: %v", g.cfg.KnownHostsFile, err)
	}
	hostport := net.JoinHostPort(u.Host, portOr(u.Port, "22"))
	strict := func(host string, remote net.Addr, key gossh.PublicKey) error {
		if err := check(host, remote, key); err != nil {
			var ke *knownhosts.KeyError
			if errors.As(err, &ke) && len(ke.Want) == 0 {
				return fmt.Errorf("the upstream %s is not in the gate's known_hosts (%s); add its host key there", host, g.cfg.KnownHostsFile)
			}
			return fmt.Errorf("the upstream %s offered a host key that does not match the gate's known_hosts: %v", host, err)
		}
		return nil
	}
	// go-git's ssh client copies every field of this config over the one
	// its auth method builds, so the whole config is here.
	config := &gossh.ClientConfig{
		User:              u.User,
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback:   strict,
		HostKeyAlgorithms: hostKeyAlgorithms(check, hostport),
		Timeout:           upstreamTimeout,
	}
	auth := &gitssh.PublicKeys{User: u.User, Signer: signer}
	auth.HostKeyCallback = strict
	return &upstream{client: gitssh.NewClient(config), ep: ep, auth: auth}, nil
}

func portOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// hostKeyAlgorithms lists the key types known_hosts holds for hostport, so
// the handshake asks the server for one of those (else a server with
// several keys may offer one the file lacks and be refused).
func hostKeyAlgorithms(check gossh.HostKeyCallback, hostport string) []string {
	probe := probeKey{}
	err := check(hostport, &net.TCPAddr{IP: net.IPv4zero}, probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			algos = append(algos, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey is a key no known_hosts holds, to learn which keys it has.
type probeKey struct{}

func (probeKey) Type() string                          { return "bottle-probe" }
func (probeKey) Marshal() []byte                       { return []byte("\x00\x00\x00\x0cbottle-probe") }
func (probeKey) Verify([]byte, *gossh.Signature) error { return errors.New("probe") }
