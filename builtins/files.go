package builtins

// Files family: reading and writing files on the host, and the state
// directories bottles live in. Relative paths resolve against Env.WorkDir.
// Under Env.DryRun nothing is written: each change prints a unified diff
// against the current file to Env.Stderr and the builtin returns what it
// would have. The builtins and what they return: `bottle builtins`, from the
// entries below.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/internal/flock"
)

func filesBuiltins() []Builtin {
	return []Builtin{
		def("write_inplace", "write_inplace(path, content, mode=None, secret=False) -> struct(path, inode, size, changed)",
			"write a file keeping its inode (for single-file bind mounts): truncate, write, fsync, never rename, never through a symlink; undo restores the old bytes; secret=True: --dry-run shows the size, not the content", effect, writeInplace),
		def("write_atomic", "write_atomic(path, content, mode=None, secret=False) -> struct(path, inode, size, changed)",
			"write a file by temp file, fsync and rename; refuses a running container's bind-mounted file; undo restores the old bytes", effect, writeAtomic),
		def("read", "read(path) -> text", "the content of a file", pure, readFile),
		def("exists", "exists(path) -> bool", "whether a path exists", pure, exists),
		def("stat", "stat(path) -> struct(path, dir, kind, uid, gid, mode) or None",
			"a path's kind (file, directory, socket, device, fifo, other), owner and mode, its path absolute with symlinks resolved; None when it does not exist", pure, stat),
		def("mkdir", "mkdir(path, mode=0o700) -> path", "create a directory and its parents; undo removes what it created", effect, mkdir),
		def("chmod", "chmod(path, mode) -> None", "change a path's mode; undo restores it", effect, chmod),
		def("chown", "chown(path, uid, gid) -> None", "change a path's owner and group; undo restores them", effect, chown),
		def("whoami", "whoami() -> struct(uid, gid)", "the uid and gid bottle runs as", pure, whoami),
		def("remove", "remove(path) -> bool", "remove a file or empty directory: True if removed, False if absent; undo restores it", effect, remove),
		def("state_dir", "state_dir(slug, timeout=60) -> path",
			"the absolute path of <state root>/<slug>, created 0700 and locked until the run ends (waiting up to timeout seconds for another run's)", effect, stateDir),
		def("state_root", "state_root() -> path", "the absolute path of the state root (not created)", pure, stateRoot),
		def("list_dir", "list_dir(path) -> list of names", "the sorted entry names of a directory; [] when it does not exist, an error for a non-directory", pure, listDir),
	}
}

// recordUndo adds an undo step to the run's journal, if there is one.
func recordUndo(env *Env, what string, undo func(ctx context.Context) error) {
	if env.Journal != nil {
		env.Journal.Record(what, undo)
	}
}

func stderr(env *Env) io.Writer {
	if env.Stderr == nil {
		return io.Discard
	}
	return env.Stderr
}

// DryRunReporter is an optional capability of a Progress: it takes the steps
// --dry-run did not take (what, and for files a unified diff), so that
// `bottle run --json` can turn them into JSON lines. Without it they are
// printed on Env.Stderr as "dry-run: <what>" followed by the diff.
type DryRunReporter interface {
	DryRun(what, diff string)
}

// dryRun reports a step that --dry-run did not take.
func dryRun(env *Env, what, diff string) {
	if r, ok := env.Progress.(DryRunReporter); ok {
		r.DryRun(what, diff)
		return
	}
	fmt.Fprintf(stderr(env), "dry-run: %s\n%s", what, diff)
}

// dryRunDiffLines is how much of a file's diff --dry-run shows: a new CA
// bundle would otherwise print thousands of lines that nobody reads.
const dryRunDiffLines = 60

// dryRunDiff reports what a file builtin would change.
func dryRunDiff(env *Env, name, path string, old []byte, existed bool, content string) {
	from := path
	if !existed {
		from = "/dev/null"
	}
	diff := udiff.Unified(from, path, string(old), content)
	dryRun(env, fmt.Sprintf("%s %s (%d bytes)", name, path, len(content)), shortenDiff(diff, dryRunDiffLines))
}

// shortenDiff keeps the first max lines of diff and says how much it left out.
func shortenDiff(diff string, max int) string {
	cut := 0
	for i := 0; i < max; i++ {
		j := strings.IndexByte(diff[cut:], '\n')
		if j < 0 {
			return diff
		}
		cut += j + 1
	}
	rest := diff[cut:]
	if rest == "" {
		return diff
	}
	n := strings.Count(rest, "\n")
	if !strings.HasSuffix(rest, "\n") {
		n++
	}
	return fmt.Sprintf("%s... (%d more lines, %d bytes)\n", diff[:cut], n, len(rest))
}

// previous is what a path held before a builtin changed it.
type previous struct {
	existed bool
	data    []byte
	mode    fs.FileMode
	inode   uint64
}

// undoWhat names the undo of a write for progress lines and error reports.
func (p previous) undoWhat(path string) string {
	if !p.existed {
		return "remove created file " + path
	}
	return "restore " + path
}

func readPrevious(path string) (previous, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return previous{}, nil
	}
	if err != nil {
		return previous{}, err
	}
	if !fi.Mode().IsRegular() {
		return previous{}, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return previous{}, err
	}
	return previous{existed: true, data: data, mode: fi.Mode().Perm(), inode: inodeOf(fi)}, nil
}

func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// fileWrite is what write_inplace and write_atomic know before writing: the
// resolved path, the new content and mode, and what the file held before.
type fileWrite struct {
	path    string
	content string
	mode    modeArg
	secret  bool // --dry-run shows no diff (a key)
	prev    previous
	changed bool // new file, other bytes, or a mode= that differs
}

func unpackWrite(env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (fileWrite, error) {
	var w fileWrite
	var p string
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p, "content", &w.content, "mode?", &w.mode, "secret?", &w.secret); err != nil {
		return w, err
	}
	w.path = resolve(env, p)
	prev, err := readPrevious(w.path)
	if err != nil {
		return w, err
	}
	w.prev = prev
	w.changed = !prev.existed || string(prev.data) != w.content || (w.mode.set && prev.mode != fs.FileMode(w.mode.mode))
	return w, nil
}

// dryRun reports the write --dry-run does not make: a diff, or for a
// secret only its size, so that a dry run never prints a key.
func (w fileWrite) dryRun(env *Env, name string) {
	if w.secret {
		dryRun(env, fmt.Sprintf("%s %s (%d bytes, secret: not shown)", name, w.path, len(w.content)), "")
		return
	}
	dryRunDiff(env, name, w.path, w.prev.data, w.prev.existed, w.content)
}

func (w fileWrite) result(inode uint64, changed bool) starlark.Value {
	return mkstruct("path", w.path, "inode", inode, "size", len(w.content), "changed", changed)
}

// recordUndo records putting the previous bytes back with restore, or
// removing the file when there was none.
func (w fileWrite) recordUndo(env *Env, restore func(path string, data []byte, perm fs.FileMode) (uint64, error)) {
	recordUndo(env, w.prev.undoWhat(w.path), func(context.Context) error {
		if !w.prev.existed {
			if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		_, err := restore(w.path, w.prev.data, w.prev.mode)
		return err
	})
}

func writeInplace(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	w, err := unpackWrite(env, name, args, kwargs)
	if err != nil {
		return nil, err
	}
	if env.DryRun {
		w.dryRun(env, name)
		return w.result(w.prev.inode, w.changed), nil
	}
	if fi, err := os.Lstat(w.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// Said before anything is journalled; writeInPlace's O_NOFOLLOW
		// holds if a link appears after this.
		return nil, fmt.Errorf("%s: %s is a symlink: bottle does not write through one; remove it", name, w.path)
	}
	if !w.changed {
		// Same bytes and mode: rewriting would only open a window in which a
		// reader sees a partial file.
		return w.result(w.prev.inode, false), nil
	}
	perm := fs.FileMode(0o644)
	if w.mode.set {
		perm = fs.FileMode(w.mode.mode)
	}
	// The restore is in the journal before the first byte is written: a run
	// that dies or is interrupted mid-write still puts the old file back.
	w.recordUndo(env, restoreInPlace)
	inode, err := writeInPlace(w.path, []byte(w.content), perm, w.mode.set)
	if err != nil {
		return nil, w.putBack(name, err)
	}
	return w.result(inode, true), nil
}

// putBack restores what w.path held after a write failed part-way (a full
// disk leaves a prefix of the new bytes), so that nothing half-written is
// left for a later reload to pick up, and says so in the error.
func (w fileWrite) putBack(name string, err error) error {
	if !w.prev.existed {
		if rmErr := os.Remove(w.path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: %w; removing the partial file failed too: %v", name, w.path, err, rmErr)
		}
		return fmt.Errorf("%s %s: %w (nothing was left: the file did not exist before)", name, w.path, err)
	}
	if _, rErr := restoreInPlace(w.path, w.prev.data, w.prev.mode); rErr != nil {
		return fmt.Errorf("%s %s: %w; putting the old %d bytes back failed too: %v", name, w.path, err, len(w.prev.data), rErr)
	}
	return fmt.Errorf("%s %s: %w (the old content is back in place)", name, w.path, err)
}

// restoreInPlace puts data back at path through its inode, unless path
// already holds exactly data with perm: an undo after a write that failed
// and was put back, or that never started, changes nothing.
func restoreInPlace(path string, data []byte, perm fs.FileMode) (uint64, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
		if now, err := os.ReadFile(path); err == nil && bytes.Equal(now, data) {
			return inodeOf(fi), nil
		}
	}
	return writeInPlace(path, data, perm, true)
}

// writeInPlace overwrites path through its existing inode: truncate to zero,
// write, fsync. It never renames, so single-file bind mounts see the bytes.
//
// Truncating first is what makes a racing reader fail closed: it can only
// see an empty file or a prefix of the new content, which the egress rejects
// (empty, cut mid-line, no final newline) or reads as a subset of the new
// routes. Writing first and truncating after would let it see the new bytes
// followed by the tail of the old file: possibly valid YAML that allows a
// host neither version allows. The writer signals after the fsync, so the
// reload it asks for reads the whole file.
func writeInPlace(path string, data []byte, perm fs.FileMode, setMode bool) (uint64, error) {
	// O_NOFOLLOW: a symlink planted where bottle writes (a state dir's
	// file) must not send the bytes to the file it points to.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW, perm)
	if errors.Is(err, syscall.ELOOP) {
		return 0, fmt.Errorf("%s is a symlink: bottle does not write through one; remove it", path)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return 0, err
	}
	if setMode {
		if err := f.Chmod(perm); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return inodeOf(fi), f.Close()
}

func writeAtomic(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	w, err := unpackWrite(env, name, args, kwargs)
	if err != nil {
		return nil, err
	}
	if w.prev.existed && env.Engine != nil {
		if err := refuseBindMounted(env, name, w.path); err != nil {
			return nil, err
		}
	}
	if env.DryRun {
		w.dryRun(env, name)
		return w.result(0, w.changed), nil
	}
	perm := fs.FileMode(0o644)
	if w.prev.existed {
		perm = w.prev.mode
	}
	if w.mode.set {
		perm = fs.FileMode(w.mode.mode)
	}
	inode, err := renameInto(w.path, []byte(w.content), perm)
	if err != nil {
		return nil, err
	}
	w.recordUndo(env, renameInto)
	return w.result(inode, w.changed), nil
}

// refuseBindMounted fails when path is the source of a single-file bind
// mount of a running container: a rename would leave the container reading
// the old inode.
func refuseBindMounted(env *Env, name, path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	mounts, err := env.Engine.BindMounts(env.Ctx)
	if err != nil {
		return fmt.Errorf("%s: checking bind mounts before replacing %s: %w", name, path, err)
	}
	for _, m := range mounts {
		if !m.IsFile {
			continue
		}
		src := m.Source
		if r, err := filepath.EvalSymlinks(src); err == nil {
			src = r
		}
		if src == real {
			return fmt.Errorf("%s: %s is bind-mounted as a single file into running container %s at %s; a rename would leave the container reading the old file: use write_inplace", name, path, m.Container, m.Destination)
		}
	}
	return nil
}

// renameInto writes a temp file next to path, fsyncs it, renames it over
// path and fsyncs the directory.
func renameInto(path string, data []byte, perm fs.FileMode) (uint64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	fail := func(err error) (uint64, error) {
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return inodeOf(fi), nil
}

func readFile(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	data, err := readRegular(resolve(env, p))
	if err != nil {
		return nil, readError(p, err)
	}
	return starlark.String(data), nil
}

// readRegular reads a regular file (symlinks followed). A FIFO, device or
// socket is refused without blocking: recipes read files in directories a
// bottle's sidecar writes (requests.json, answers.jsonl), where one taken
// over could put a FIFO to hang the operator's next approve.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, syscall.EISDIR
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v): read takes files", path, st.Mode().Type())
	}
	return io.ReadAll(f)
}

// readError says what to do about the mistakes people make with a path:
// one that does not exist, one that is a directory.
func readError(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file; check the path (a relative one is from the directory bottle runs in)", p)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%s is a directory; give the path of a file in it", p)
	}
	return err
}

func exists(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	_, err := os.Lstat(resolve(env, p))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return starlark.False, nil // ENOTDIR: a path through a file
	}
	if err != nil {
		return nil, err
	}
	return starlark.True, nil
}

// fileKind names what a path is, so a recipe can refuse to bind-mount a
// directory, socket or device a manifest names as a file.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	}
	return "other"
}

func mkdir(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	mode := modeArg{mode: 0o700, set: true}
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p, "mode?", &mode); err != nil {
		return nil, err
	}
	if !mode.set {
		mode = modeArg{mode: 0o700, set: true}
	}
	path := resolve(env, p)
	created, err := makeDirs(env, path, fs.FileMode(mode.mode))
	if err != nil {
		return nil, err
	}
	if env.DryRun {
		if len(created) > 0 {
			dryRun(env, fmt.Sprintf("mkdir %s (mode %#o)", path, mode.mode), "")
		}
		return starlark.String(path), nil
	}
	if len(created) > 0 {
		recordUndo(env, "remove directory "+path, func(context.Context) error {
			var errs []error
			for i := len(created) - 1; i >= 0; i-- {
				if err := os.Remove(created[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		})
	}
	return starlark.String(path), nil
}

// makeDirs creates path and its missing parents with perm (exactly, not
// masked by the umask) and returns the directories it created, outermost
// first. Under dry-run it only reports what it would create.
func makeDirs(env *Env, path string, perm fs.FileMode) ([]string, error) {
	var missing []string
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s exists and is not a directory", p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{p}, missing...)
		if filepath.Dir(p) == p {
			break
		}
	}
	if env.DryRun {
		return missing, nil
	}
	for i, d := range missing {
		if err := os.Mkdir(d, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			for j := i - 1; j >= 0; j-- {
				os.Remove(missing[j])
			}
			return nil, err
		}
		if err := os.Chmod(d, perm); err != nil {
			return nil, err
		}
	}
	return missing, nil
}

func chmod(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	var mode modeArg
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p, "mode", &mode); err != nil {
		return nil, err
	}
	if !mode.set {
		return nil, fmt.Errorf("%s: mode must be an int such as 0o600, not None", name)
	}
	path := resolve(env, p)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	old := fi.Mode().Perm() | (fi.Mode() & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	if env.DryRun {
		dryRun(env, fmt.Sprintf("chmod %s %#o -> %#o", path, old.Perm(), mode.mode), "")
		return starlark.None, nil
	}
	if err := os.Chmod(path, fs.FileMode(mode.mode)); err != nil {
		return nil, err
	}
	recordUndo(env, "restore mode of "+path, func(context.Context) error { return os.Chmod(path, old) })
	return starlark.None, nil
}

func chown(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		p        string
		uid, gid int
	)
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p, "uid", &uid, "gid", &gid); err != nil {
		return nil, err
	}
	if uid < 0 || gid < 0 {
		return nil, fmt.Errorf("%s %s: uid %d, gid %d: want ids of 0 or more", name, p, uid, gid)
	}
	path := resolve(env, p)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s %s: this system reports no owner", name, path)
	}
	oldUID, oldGID := int(st.Uid), int(st.Gid)
	if oldUID == uid && oldGID == gid {
		return starlark.None, nil
	}
	if env.DryRun {
		dryRun(env, fmt.Sprintf("chown %s %d:%d -> %d:%d", path, oldUID, oldGID, uid, gid), "")
		return starlark.None, nil
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return nil, err
	}
	recordUndo(env, "restore owner of "+path, func(context.Context) error { return os.Lchown(path, oldUID, oldGID) })
	return starlark.None, nil
}

func stat(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(resolve(env, p))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return starlark.None, nil
	}
	if err != nil {
		return nil, err
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	return mkstruct("path", real, "dir", fi.IsDir(), "kind", fileKind(fi.Mode()), "uid", uid, "gid", gid, "mode", int(fi.Mode().Perm())), nil
}

func whoami(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(name, args, kwargs); err != nil {
		return nil, err
	}
	return mkstruct("uid", os.Getuid(), "gid", os.Getgid()), nil
}

func remove(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	path := resolve(env, p)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return starlark.False, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("%s: %s is a directory that is not empty; remove its files first", name, path)
		}
		if env.DryRun {
			dryRun(env, fmt.Sprintf("remove directory %s", path), "")
			return starlark.True, nil
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		mode := fi.Mode().Perm()
		recordUndo(env, "recreate directory "+path, func(context.Context) error { return os.Mkdir(path, mode) })
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if env.DryRun {
			dryRunDiff(env, name, path, data, true, "")
			return starlark.True, nil
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		mode := fi.Mode().Perm()
		recordUndo(env, "restore "+path, func(context.Context) error {
			_, err := writeInPlace(path, data, mode, true)
			return err
		})
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return nil, err
		}
		if env.DryRun {
			dryRun(env, fmt.Sprintf("remove symlink %s -> %s", path, target), "")
			return starlark.True, nil
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		recordUndo(env, "restore symlink "+path, func(context.Context) error { return os.Symlink(target, path) })
	default:
		return nil, fmt.Errorf("%s: %s is neither a file, a directory nor a symlink", name, path)
	}
	return starlark.True, nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// checkSlug explains the slug rule when s breaks it.
func checkSlug(name, s string) error {
	if slugRE.MatchString(s) {
		return nil
	}
	return fmt.Errorf("%s: invalid slug %q: a slug is 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit (e.g. \"implementer\")", name, s)
}

func stateDir(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var slug string
	timeout := seconds(60 * time.Second)
	if err := starlark.UnpackArgs(name, args, kwargs, "slug", &slug, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if err := checkSlug(name, slug); err != nil {
		return nil, err
	}
	if env.StateRoot == "" {
		return nil, fmt.Errorf("%s: no state root; pass --state DIR or set BOTTLE_STATE_DIR", name)
	}
	path := filepath.Join(env.StateRoot, slug)
	for _, p := range []string{env.StateRoot, path} {
		if err := checkStatePath(p); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if env.DryRun {
		created, err := makeDirs(env, path, 0o700)
		if err != nil {
			return nil, err
		}
		if len(created) > 0 {
			dryRun(env, fmt.Sprintf("mkdir %s (mode 0700)", path), "")
		}
		return starlark.String(path), nil
	}
	parents, err := makeDirs(env, env.StateRoot, 0o700)
	if err != nil {
		return nil, err
	}
	// Made locked, or locked as found: the run holds the directory's lock
	// until it ends, so cleanup and ls tell a start in progress (locked)
	// from one that died (unlocked, no metadata.json), and a second run
	// for the same slug waits here for the first.
	f, err := flock.MkdirLocked(path, 0o700)
	for tries := 0; errors.Is(err, fs.ErrExist); tries++ {
		_, err = takeLock(env, name, path, time.Duration(timeout), true)
		if errors.Is(err, errLockGone) && tries < 3 {
			// The run this one waited for rolled back and removed it.
			f, err = flock.MkdirLocked(path, 0o700)
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, err
		}
		return starlark.String(path), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	keepLock(env, path, f)
	// The run made this bottle's state directory, so everything in it is
	// the run's own: undo removes it whole.
	// Parents it made (the state root itself) are removed only when empty.
	recordUndo(env, "remove state directory "+path, func(context.Context) error {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		for i := len(parents) - 1; i >= 0; i-- {
			os.Remove(parents[i])
		}
		return nil
	})
	return starlark.String(path), nil
}

// checkStatePath refuses a state root or state dir, when it exists, that
// another host user could have planted or can change: a symlink (bottle,
// often root, would fill and chmod the directory it points to), one owned
// by someone else, or one writable by group or others (they could plant
// symlinks in it for bottle to write through).
func checkStatePath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	const fix = "pick a state root of your own (--state DIR or BOTTLE_STATE_DIR), not one in a directory other users can write"
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return fmt.Errorf("%s: is a symlink (to %s): bottle keeps keys and credentials there and will not write through a link someone may have planted; remove it, or %s", path, target, fix)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: is not a directory; move it away, or %s", path, fix)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s: is owned by uid %d, not by uid %d, who runs bottle: its owner could replace the files in it; chown it, or %s", path, st.Uid, os.Geteuid(), fix)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: is writable by group or others (mode %#o): they could plant files or links in it; chmod go-w %s, or %s", path, fi.Mode().Perm(), path, fix)
	}
	return nil
}

func stateRoot(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(name, args, kwargs); err != nil {
		return nil, err
	}
	if env.StateRoot == "" {
		return nil, fmt.Errorf("%s: no state root; pass --state DIR or set BOTTLE_STATE_DIR", name)
	}
	return starlark.String(env.StateRoot), nil
}

func listDir(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(name, args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	path := resolve(env, p)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return starlark.NewList(nil), nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %s is not a directory; pass a directory, or use exists()/read() for a file", name, path)
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]starlark.Value, len(entries))
	for i, e := range entries {
		names[i] = starlark.String(e.Name())
	}
	return starlark.NewList(names), nil
}
