// Command gitagent is the git gate story's agent: a git client (go-git) in
// an image FROM scratch, and the probes the story runs inside the agent.
//
//	gitagent clone URL DIR              clone URL into DIR
//	gitagent commit DIR BRANCH FILE TEXT  check out BRANCH (made from HEAD),
//	                                    write TEXT to FILE, commit
//	gitagent push DIR REFSPEC           push REFSPEC to origin; prints
//	                                    "pushed REFSPEC" or "refused: ERROR"
//	gitagent environ                    every process's environment and
//	                                    command line, from /proc
//	gitagent dial HOST:PORT             "connected" or "blocked: ERROR"
//	gitagent idle                       wait for SIGTERM
//
// URLs are rewritten as git rewrites them: the url.<base>.insteadOf entries
// of GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n (the longest
// matching prefix wins), which bottle sets in the agent. go-git does not
// read them itself, so this client does, at every clone and push, and keeps
// the URL as given in the repository's config (as git does).
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"help"}
	}
	var err error
	switch {
	case args[0] == "clone" && len(args) == 3:
		err = clone(args[1], args[2])
	case args[0] == "commit" && len(args) == 5:
		err = commit(args[1], args[2], args[3], args[4])
	case args[0] == "push" && len(args) == 3:
		err = push(args[1], args[2])
	case args[0] == "environ":
		err = environ()
	case args[0] == "dial" && len(args) == 2:
		dial(args[1])
	case args[0] == "idle":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
	default:
		err = errors.New("usage: gitagent clone URL DIR | commit DIR BRANCH FILE TEXT | push DIR REFSPEC | environ | dial HOST:PORT | idle")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gitagent:", err)
		os.Exit(1)
	}
}

// rewrite applies git's url.<base>.insteadOf from the environment.
func rewrite(url string) string {
	n, _ := strconv.Atoi(os.Getenv("GIT_CONFIG_COUNT"))
	best, base := "", ""
	for i := 0; i < n; i++ {
		key := os.Getenv(fmt.Sprintf("GIT_CONFIG_KEY_%d", i))
		value := os.Getenv(fmt.Sprintf("GIT_CONFIG_VALUE_%d", i))
		b, ok := strings.CutPrefix(key, "url.")
		if !ok || !strings.HasSuffix(strings.ToLower(b), ".insteadof") {
			continue
		}
		b = b[:len(b)-len(".insteadOf")]
		if strings.HasPrefix(url, value) && len(value) > len(best) {
			best, base = value, b
		}
	}
	if best == "" {
		return url
	}
	return base + url[len(best):]
}

func clone(url, dir string) error {
	to := rewrite(url)
	fmt.Printf("clone %s via %s\n", url, to)
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: to, Progress: os.Stderr})
	if err != nil {
		return err
	}
	// The repository keeps the URL as given, as git does.
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	cfg.Remotes["origin"].URLs = []string{url}
	return repo.SetConfig(cfg)
}

func commit(dir, branch, file, text string) error {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	tree, err := repo.Worktree()
	if err != nil {
		return err
	}
	name := plumbing.NewBranchReferenceName(branch)
	if _, err := repo.Reference(name, false); err != nil {
		err = tree.Checkout(&git.CheckoutOptions{Branch: name, Create: true})
		if err != nil {
			return err
		}
	} else if err := tree.Checkout(&git.CheckoutOptions{Branch: name}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(text+"\n"), 0o644); err != nil {
		return err
	}
	if _, err := tree.Add(file); err != nil {
		return err
	}
	who := &object.Signature{Name: "agent", Email: "agent@example.com", When: time.Now()}
	h, err := tree.Commit("agent: "+file, &git.CommitOptions{Author: who, Committer: who})
	if err != nil {
		return err
	}
	fmt.Printf("committed %s on %s\n", h, branch)
	return nil
}

func push(dir, refspec string) error {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	remote, err := repo.Remote("origin")
	if err != nil {
		return err
	}
	to := rewrite(remote.Config().URLs[0])
	err = repo.Push(&git.PushOptions{
		RemoteName: "origin",
		RemoteURL:  to,
		RefSpecs:   []config.RefSpec{config.RefSpec(refspec)},
		Progress:   os.Stdout, // the gate's "remote:" lines (sideband)
	})
	if err != nil {
		fmt.Printf("refused: %v\n", err)
		return nil
	}
	fmt.Printf("pushed %s via %s\n", refspec, to)
	return nil
}

func environ() error {
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return err
	}
	for _, p := range procs {
		for _, f := range []string{"environ", "cmdline"} {
			b, err := os.ReadFile(filepath.Join(p, f))
			if err != nil {
				fmt.Printf("%s/%s: %v\n", p, f, err)
				continue
			}
			for _, v := range strings.Split(string(b), "\x00") {
				if v != "" {
					fmt.Printf("%s/%s: %s\n", p, f, v)
				}
			}
		}
	}
	return nil
}

func dial(addr string) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Printf("blocked: %v\n", err)
		return
	}
	c.Close()
	fmt.Println("connected")
}
