// Package gitserver is a small SSH git server: git-upload-pack and
// git-receive-pack over SSH for the bare repositories under one directory,
// for one authorised public key, served by go-git's server side so it needs
// no git binary (it runs in an image FROM scratch). The git gate's tests and
// test images use it as the upstream.
//
// It speaks git's protocol v0 only (go-git's server does not do v2, side-band
// or multi_ack), which every git client and the gate fall back to. Fetches
// are answered by sendPack, go-git's upload-pack without its delta search.
package gitserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strings"
	"sync"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gossh "golang.org/x/crypto/ssh"
)

// Server is a running SSH git server.
type Server struct {
	Addr    string          // host:port it listens on
	HostKey gossh.PublicKey // its host key, for known_hosts
	root    string
	loader  server.Loader
	ssh     *gliderssh.Server
	ln      net.Listener
	wg      sync.WaitGroup

	mu       sync.Mutex
	sessions int // commands served, for tests
}

// Config says what to serve and to whom.
type Config struct {
	Root       string          // directory holding the bare repositories
	Authorized gossh.PublicKey // the one key allowed in
	HostKey    gossh.Signer    // the server's own key
	Listen     string          // "127.0.0.1:0" when empty
}

// Start listens and serves until Close.
func Start(c Config) (*Server, error) {
	if c.Authorized == nil || c.HostKey == nil || c.Root == "" {
		return nil, errors.New("gitserver: Root, Authorized and HostKey are required")
	}
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:    ln.Addr().String(),
		HostKey: c.HostKey.PublicKey(),
		root:    c.Root,
		loader:  server.NewFilesystemLoader(osfs.New(c.Root)),
		ln:      ln,
	}
	want := c.Authorized.Marshal()
	s.ssh = &gliderssh.Server{
		Handler: s.handle,
		PublicKeyHandler: func(_ gliderssh.Context, key gliderssh.PublicKey) bool {
			return string(key.Marshal()) == string(want)
		},
	}
	s.ssh.AddHostKey(c.HostKey)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.ssh.Serve(ln)
	}()
	return s, nil
}

// KnownHosts is the known_hosts line for the server.
func (s *Server) KnownHosts() string {
	host, port, _ := net.SplitHostPort(s.Addr)
	return fmt.Sprintf("[%s]:%s %s", host, port, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.HostKey))))
}

// Served is how many git commands the server has run.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Close stops the server and waits for it.
func (s *Server) Close() error {
	err := s.ssh.Close()
	s.wg.Wait()
	return err
}

func (s *Server) handle(sess gliderssh.Session) {
	err := s.serve(sess)
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "gitserver: %v\n", err)
		_ = sess.Exit(1)
		return
	}
	_ = sess.Exit(0)
}

func (s *Server) serve(sess gliderssh.Session) error {
	service, repo, err := parseCommand(sess.RawCommand())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	ep, err := transport.NewEndpoint(repo)
	if err != nil {
		return err
	}
	srv := server.NewServer(s.loader)
	ctx := sess.Context()
	switch service {
	case "git-upload-pack":
		up, err := srv.NewUploadPackSession(ep, nil)
		if err != nil {
			return notFound(repo, err)
		}
		return s.uploadPack(ctx, up, sess, ep)
	default:
		rp, err := srv.NewReceivePackSession(ep, nil)
		if err != nil {
			return notFound(repo, err)
		}
		return s.receivePack(ctx, rp, sess, ep)
	}
}

func notFound(repo string, err error) error {
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		return fmt.Errorf("repository %s not found", repo)
	}
	return err
}

// parseCommand reads "git-upload-pack '/a/b.git'" and returns the service
// and a clean path under the root; "..", absolute escapes and other
// commands are refused.
func parseCommand(cmd string) (service, repo string, err error) {
	service, arg, ok := strings.Cut(strings.TrimSpace(cmd), " ")
	if !ok || service != "git-upload-pack" && service != "git-receive-pack" {
		return "", "", fmt.Errorf("only git-upload-pack and git-receive-pack are served, not %q", cmd)
	}
	arg = strings.Trim(strings.TrimSpace(arg), "'\"")
	clean := path.Clean("/" + arg)
	if arg == "" || strings.Contains(arg, "..") || strings.ContainsAny(arg, "\x00\n\r") {
		return "", "", fmt.Errorf("bad repository path %q", arg)
	}
	return service, clean, nil
}

func (s *Server) uploadPack(ctx context.Context, up transport.UploadPackSession, sess gliderssh.Session, ep *transport.Endpoint) error {
	defer up.Close()
	ar, err := up.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	if err := ar.Encode(sess); err != nil {
		return err
	}
	req := packp.NewUploadPackRequest()
	if err := req.Decode(sess); err != nil {
		if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") {
			return nil // the client only listed the refs
		}
		return err
	}
	// go-git's decoder stops at the flush after the wants: the haves and
	// done are read here (go-git's own server never reads them, and so
	// closes while a client is still sending).
	if err := readHaves(sess, sess, req); err != nil {
		return err
	}
	st, err := s.loader.Load(ep)
	if err != nil {
		return err
	}
	return sendPack(sess, st, req)
}

// readHaves reads have lines until done (or the end), answering each
// flush with NAK as git's upload-pack does without multi_ack: this server
// acknowledges nothing, and still leaves out of the pack what the haves
// it holds reach.
func readHaves(r io.Reader, w io.Writer, req *packp.UploadPackRequest) error {
	sc := pktline.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSuffix(string(sc.Bytes()), "\n")
		switch {
		case line == "":
			if err := pktline.NewEncoder(w).EncodeString("NAK\n"); err != nil {
				return err
			}
		case line == "done":
			return nil
		case strings.HasPrefix(line, "have ") && plumbing.IsHash(line[5:]):
			req.Haves = append(req.Haves, plumbing.NewHash(line[5:]))
		default:
			return fmt.Errorf("unexpected %q among the haves", line)
		}
	}
	return sc.Err()
}

// sendPack answers an upload request's done: NAK and a pack of what the wants
// reach and the haves do not. It is go-git's upload-pack with two changes:
// haves the repository lacks are dropped (go-git fails on them; git ignores
// them), and objects are not deltified (go-git's delta search takes minutes
// on a 50 MB repository; git's own upload-pack reuses stored deltas).
func sendPack(w io.Writer, st storer.Storer, req *packp.UploadPackRequest) error {
	var haves []plumbing.Hash
	for _, h := range req.Haves {
		if st.HasEncodedObject(h) == nil {
			haves = append(haves, h)
		}
	}
	have, err := revlist.Objects(st, haves, nil)
	if err != nil {
		return err
	}
	objs, err := revlist.Objects(st, req.Wants, have)
	if err != nil {
		return err
	}
	// The encoder writes an object's header and data in small pieces: one
	// SSH packet each, unbuffered.
	buf := bufio.NewWriterSize(w, 64<<10)
	if err := pktline.NewEncoder(buf).EncodeString("NAK\n"); err != nil {
		return err
	}
	if _, err := packfile.NewEncoder(buf, st, false).Encode(objs, 0); err != nil {
		return err
	}
	return buf.Flush()
}

func (s *Server) receivePack(ctx context.Context, rp transport.ReceivePackSession, sess gliderssh.Session, ep *transport.Endpoint) error {
	defer rp.Close()
	ar, err := rp.AdvertisedReferencesContext(ctx)
	if err != nil {
		return fmt.Errorf("advertise: %w", err)
	}
	if err := ar.Encode(sess); err != nil {
		return fmt.Errorf("advertise encode: %w", err)
	}
	req := packp.NewReferenceUpdateRequest()
	if err := req.Decode(sess); err != nil {
		if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") {
			return nil
		}
		return err
	}
	if req.Packfile != nil {
		// go-git's pack writer fails with EOF when it reads the pack
		// straight from the SSH channel; it reads one from memory.
		pack, err := io.ReadAll(req.Packfile)
		if err != nil {
			return err
		}
		req.Packfile = io.NopCloser(bytes.NewReader(pack))
	}
	st, err := s.loader.Load(ep)
	if err != nil {
		return err
	}
	if stale := staleReport(st, req); stale != nil {
		return stale.Encode(sess)
	}
	rs, err := rp.ReceivePack(ctx, req)
	if rs != nil {
		if eerr := rs.Encode(sess); eerr != nil {
			return eerr
		}
	}
	return err
}

// staleReport refuses the whole push, as git's receive-pack refuses a ref,
// when a command's old value is not what the ref holds (someone pushed in
// between); go-git's server would overwrite it. Nil when all are current.
func staleReport(st storer.Storer, req *packp.ReferenceUpdateRequest) *packp.ReportStatus {
	stale := false
	rs := packp.NewReportStatus()
	rs.UnpackStatus = "ok"
	for _, c := range req.Commands {
		status := "ok"
		ref, err := st.Reference(c.Name)
		current := plumbing.ZeroHash
		if err == nil {
			current = ref.Hash()
		}
		if current != c.Old {
			status, stale = "stale info", true
		}
		rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: status})
	}
	if !stale {
		return nil
	}
	for _, cs := range rs.CommandStatuses {
		if cs.Status == "ok" {
			cs.Status = "not applied: another ref of this push was stale"
		}
	}
	return rs
}

// GenerateKey makes an ed25519 key: its signer and its OpenSSH private key
// file, as ssh-keygen writes it (for tests and test images).
func GenerateKey() (gossh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}
