// Command upstream is the git gate story's upstream: an SSH git server
// (internal/gitserver, go-git's server side) in an image FROM scratch, on a
// network the agent cannot reach.
//
//	upstream keys DIR HOST    write DIR/client (the gate's key, OpenSSH
//	                          format), DIR/client.pub, DIR/host (the server's
//	                          key) and DIR/known_hosts (HOST and the server's key)
//	upstream serve ROOT KEYS  make ROOT/acme/app.git (one commit on main) unless
//	                          it exists, and serve ROOT on :22 for KEYS/client.pub
//	upstream refs REPO        print REPO's refs, "<hash> <name>", sorted
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	gossh "golang.org/x/crypto/ssh"

	"github.com/bottle-sh/bottle/internal/gitserver"
)

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: upstream keys DIR HOST | serve ROOT KEYS | refs REPO"))
	}
	var err error
	switch os.Args[1] {
	case "keys":
		err = keys(os.Args[2], os.Args[3])
	case "serve":
		err = serve(os.Args[2], os.Args[3])
	case "refs":
		err = refs(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "upstream:", err)
	os.Exit(1)
}

func keys(dir, host string) error {
	write := func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	private := func(name string) (gossh.PublicKey, error) {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := gossh.MarshalPrivateKey(key, name)
		if err != nil {
			return nil, err
		}
		sshPub, err := gossh.NewPublicKey(pub)
		if err != nil {
			return nil, err
		}
		return sshPub, write(name, pem.EncodeToMemory(block))
	}
	client, err := private("client")
	if err != nil {
		return err
	}
	if err := write("client.pub", gossh.MarshalAuthorizedKey(client)); err != nil {
		return err
	}
	server, err := private("host")
	if err != nil {
		return err
	}
	return write("known_hosts", []byte(host+" "+string(gossh.MarshalAuthorizedKey(server))))
}

func serve(root, keyDir string) error {
	if err := seed(filepath.Join(root, "acme", "app.git")); err != nil {
		return err
	}
	pub, err := os.ReadFile(filepath.Join(keyDir, "client.pub"))
	if err != nil {
		return err
	}
	authorized, _, _, _, err := gossh.ParseAuthorizedKey(pub)
	if err != nil {
		return err
	}
	hostPEM, err := os.ReadFile(filepath.Join(keyDir, "host"))
	if err != nil {
		return err
	}
	hostKey, err := gossh.ParsePrivateKey(hostPEM)
	if err != nil {
		return err
	}
	srv, err := gitserver.Start(gitserver.Config{Root: root, Authorized: authorized, HostKey: hostKey, Listen: ":22"})
	if err != nil {
		return err
	}
	fmt.Println("upstream: serving", root, "on", srv.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return srv.Close()
}

// seed makes a bare repository with one commit on main: its objects and
// refs are written straight into the directory (no git binary, no push),
// the work tree being in memory.
func seed(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	storage := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	fs := memfs.New()
	repo, err := git.Init(storage, fs)
	if err != nil {
		return err
	}
	f, err := fs.Create("README")
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "acme/app: the story's upstream")
	f.Close()
	tree, err := repo.Worktree()
	if err != nil {
		return err
	}
	if _, err := tree.Add("README"); err != nil {
		return err
	}
	who := &object.Signature{Name: "upstream", Email: "upstream@example.com", When: time.Unix(1700000000, 0)}
	head, err := tree.Commit("first", &git.CommitOptions{Author: who, Committer: who})
	if err != nil {
		return err
	}
	if err := storage.SetReference(plumbing.NewHashReference("refs/heads/main", head)); err != nil {
		return err
	}
	if err := storage.RemoveReference(plumbing.Master); err != nil {
		return err
	}
	if err := storage.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/main")); err != nil {
		return err
	}
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	cfg.Core.IsBare = true
	cfg.Core.Worktree = ""
	cfg.Raw.Section("core").RemoveOption("worktree")
	return repo.SetConfig(cfg)
}

func refs(dir string) error {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	iter, err := repo.References()
	if err != nil {
		return err
	}
	var lines []string
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			lines = append(lines, r.Hash().String()+" "+r.Name().String())
		}
		return nil
	})
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}
