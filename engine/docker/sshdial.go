package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// sshDialer connects to the daemon behind an ssh:// address as the docker
// CLI does: `ssh [-l USER] [-p PORT] -- HOST docker system dial-stdio`,
// whose stdin and stdout are the connection. ssh's own configuration
// (keys, agent, known_hosts, ProxyJump) applies.
func sshDialer(host string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	u, err := url.Parse(host)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("engine address %q: want ssh://[user@]host[:port]", host)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("engine address %q: an ssh address has no path", host)
	}
	args := []string{"-o", "ConnectTimeout=30", "-T"}
	if u.User != nil {
		args = append(args, "-l", u.User.Username())
	}
	if u.Port() != "" {
		args = append(args, "-p", u.Port())
	}
	args = append(args, "--", u.Hostname(), "docker", "system", "dial-stdio")
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return commandConn(ctx, "ssh", args...)
	}, nil
}

// cmdConn is a net.Conn over a command's stdin and stdout.
type cmdConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr lockedBuffer // what the command says on stderr, for the error at EOF
	once   sync.Once
}

// lockedBuffer is a buffer the command's stderr copier writes while Read
// may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// commandConn starts name with args and returns its stdio as a connection.
// The command outlives ctx (the connection is pooled); Close ends it.
func commandConn(ctx context.Context, name string, args ...string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &cmdConn{cmd: exec.Command(name, args...)}
	c.cmd.Stderr = &c.stderr
	c.cmd.SysProcAttr = childAttrs()
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if c.stdout, err = c.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(append([]string{name}, args...), " "), err)
	}
	return c, nil
}

func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if msg := strings.TrimSpace(c.stderr.String()); err == io.EOF && msg != "" {
		err = fmt.Errorf("%s: %s", c.cmd.Path, msg)
	}
	return n, err
}

func (c *cmdConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite ends the command's stdin (a hijacked exec's half-close).
func (c *cmdConn) CloseWrite() error { return c.stdin.Close() }

func (c *cmdConn) Close() error {
	c.once.Do(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	return nil
}

type cmdAddr struct{}

func (cmdAddr) Network() string { return "cmd" }
func (cmdAddr) String() string  { return "dial-stdio" }

func (c *cmdConn) LocalAddr() net.Addr  { return cmdAddr{} }
func (c *cmdConn) RemoteAddr() net.Addr { return cmdAddr{} }

// Deadlines are not kept: the moby client bounds its calls by context.
func (c *cmdConn) SetDeadline(time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return nil }
