package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
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
	// ssh expands %-tokens and its ProxyCommand runs through a shell with
	// the host and user in it: only the characters names are made of pass.
	if !sshName(u.Hostname(), ":") {
		return nil, fmt.Errorf("engine address %q: host %q has characters a host name does not (letters, digits, '.', '_', '-', ':' for IPv6; not starting with '-')", host, u.Hostname())
	}
	if u.User != nil && !sshName(u.User.Username(), "") {
		return nil, fmt.Errorf("engine address %q: user %q has characters a user name does not (letters, digits, '.', '_', '-'; not starting with '-')", host, u.User.Username())
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

// sshName says whether name is made only of letters, digits, '.', '_',
// '-' and the runes of extra, and does not start with '-' (an option).
func sshName(name, extra string) bool {
	if name == "" || name[0] == '-' {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("._-"+extra, r)
		if !ok {
			return false
		}
	}
	return true
}

// cmdConn is a net.Conn over a command's stdin and stdout.
type cmdConn struct {
	cmd    *exec.Cmd
	stdin  *os.File      // the write end of the command's stdin
	stdout *os.File      // the read end of the command's stdout
	stderr lockedBuffer  // what the command says on stderr, for the error at EOF
	done   chan struct{} // closed when the command has exited and its stderr is read
	once   sync.Once
}

// lockedBuffer is a buffer the command's stderr copier writes while Read
// may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxStderr bounds what is kept of the command's stderr: its last bytes,
// where ssh's reason is; a remote printing without end must not grow it.
const maxStderr = 16 << 10

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > maxStderr {
		p = p[len(p)-maxStderr:]
	}
	if over := b.buf.Len() + len(p) - maxStderr; over > 0 {
		b.buf.Next(over)
	}
	b.buf.Write(p)
	return n, nil
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
	c := &cmdConn{cmd: exec.Command(name, args...), done: make(chan struct{})}
	c.cmd.Stderr = &c.stderr
	c.cmd.SysProcAttr = childAttrs()
	// A child of ssh (a ProxyCommand, ProxyJump's ssh -W) may hold its
	// stderr after ssh is gone: Wait, and so Close, must not wait for it.
	c.cmd.WaitDelay = time.Second
	// Pipes of our own, not StdinPipe and StdoutPipe: Wait closes those
	// while Read and Write may still use them, and a Write after the
	// command died would say "file already closed" instead of its reason.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	c.cmd.Stdin, c.cmd.Stdout = inR, outW
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("%s: %w", strings.Join(append([]string{name}, args...), " "), err)
	}
	c.stdin, c.stdout = inW, outR
	go func() { c.cmd.Wait(); close(c.done) }()
	return c, nil
}

// Read reads the command's stdout; at its end, the error carries what the
// command said on stderr (ssh's reason), once it has exited.
func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if err == io.EOF {
		err = c.reason(err)
	}
	return n, err
}

// Write writes the command's stdin; when the command has gone (a broken
// pipe), the error carries what it said on stderr.
func (c *cmdConn) Write(p []byte) (int, error) {
	n, err := c.stdin.Write(p)
	if err != nil {
		err = c.reason(err)
	}
	return n, err
}

// reason waits a moment for the command to exit and returns what it said
// on stderr as the error, or err when it said nothing.
func (c *cmdConn) reason(err error) error {
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
		return fmt.Errorf("%s: %s", c.cmd.Path, msg)
	}
	return err
}

// CloseWrite ends the command's stdin (a hijacked exec's half-close).
func (c *cmdConn) CloseWrite() error { return c.stdin.Close() }

func (c *cmdConn) Close() error {
	c.once.Do(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		<-c.done
		c.stdout.Close()
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
