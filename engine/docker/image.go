package docker

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/internal/flock"
)

// BinaryDigestLabel is the label on bottle images holding the sha256 of the
// bottle binary inside, so BottleImage can reuse an image that matches.
const BinaryDigestLabel = "dev.bottle.binary.sha256"

// ImageBuild sends contextDir as a tar stream and builds tag with dockerfile
// (relative to contextDir). Errors the daemon reports in the JSON message
// stream are returned, with the last build output lines.
func (e *Engine) ImageBuild(ctx context.Context, tag, contextDir, dockerfile string) (string, error) {
	if err := e.ready(ctx); err != nil {
		return "", err
	}
	step := "image_build"
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	fi, err := os.Stat(contextDir)
	if err != nil {
		return "", fmt.Errorf("%s %s: context: %v", step, tag, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s %s: context %s is not a directory", step, tag, contextDir)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(pw, contextDir)) }()
	defer pr.Close()
	return e.build(ctx, step, tag, pr, client.ImageBuildOptions{Tags: []string{tag}, Dockerfile: filepath.ToSlash(dockerfile), Remove: true, ForceRemove: true})
}

// build runs one build and reads its message stream to the end.
func (e *Engine) build(ctx context.Context, step, tag string, buildCtx io.Reader, opts client.ImageBuildOptions) (string, error) {
	res, err := e.api.ImageBuild(ctx, buildCtx, opts)
	if err != nil {
		return "", fail(step, tag, err)
	}
	defer res.Body.Close()
	var id string
	var out []string
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux json.RawMessage `json:"aux"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return "", fmt.Errorf("%s %s: %w", step, tag, ctx.Err())
			}
			return "", fmt.Errorf("%s %s: read build output: %v", step, tag, err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			m.Error = m.ErrorDetail.Message
		}
		if m.Error != "" {
			return "", fmt.Errorf("%s %s: %s%s", step, tag, strings.TrimSpace(m.Error), quoteBuildOutput(out))
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			out = append(out, strings.Split(s, "\n")...)
			if len(out) > keepLines {
				out = out[len(out)-keepLines:]
			}
		}
		var aux struct{ ID string }
		if len(m.Aux) > 0 && json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	}
	if id == "" {
		ins, err := e.api.ImageInspect(ctx, tag)
		if err != nil {
			return "", fail(step, tag, fmt.Errorf("inspect after build: %w", err))
		}
		id = ins.ID
	}
	return id, nil
}

func quoteBuildOutput(out []string) string {
	if len(out) == 0 {
		return ""
	}
	return "\n  build output (last lines):\n    " + strings.Join(out, "\n    ")
}

// tarDir writes dir as a tar stream with paths relative to dir.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tar context %s: %w", dir, err)
	}
	return tw.Close()
}

// BottleImage makes sure tag names a FROM-scratch image holding this bottle
// binary (or $BOTTLE_IMAGE_BINARY) as /bottle with entrypoint ["/bottle"],
// reusing an image whose digest label matches, and returns the image's
// pinned tag: tag with "-" and the first 12 hex digits of the binary's
// sha256 appended to its tag part (bottle:local-0123456789ab). tag itself
// moves to whichever binary built last; the pinned tag never moves, so a
// spec that names it runs this binary whatever another bottle version on
// the same daemon builds between this call and its compose up.
func (e *Engine) BottleImage(ctx context.Context, tag string) (string, error) {
	if err := e.ready(ctx); err != nil {
		return "", err
	}
	const step = "bottle_image"
	if tag == "" {
		tag = "bottle:local"
	}
	bin, err := bottleBinary()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", step, tag, err)
	}
	if err := checkStatic(bin); err != nil {
		return "", fmt.Errorf("%s %s: %v", step, tag, err)
	}
	sum, size, err := fileDigest(bin)
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", step, tag, err)
	}
	dockerfile := "FROM scratch\nCOPY bottle /bottle\nENTRYPOINT [\"/bottle\"]\n"
	return e.pinnedImage(ctx, step, tag, sum, func(tw *tar.Writer) error {
		if err := writeTarFile(tw, "Dockerfile", 0o644, []byte(dockerfile)); err != nil {
			return err
		}
		return copyTarFile(tw, "bottle", 0o755, bin, size)
	})
}

// defaultReplaceGrace is how old a replaced image must be before a build
// removes it: far longer than any start takes from bottle_image to compose up.
const defaultReplaceGrace = 10 * time.Minute

// pinnedImage makes sure tag, pinned to sum (pinnedTag), names an image
// whose BinaryDigestLabel is sum, building it from the context write
// writes (a Dockerfile and its files) only when no such image exists.
func (e *Engine) pinnedImage(ctx context.Context, step, tag, sum string, write func(*tar.Writer) error) (string, error) {
	pinned := pinnedTag(tag, sum)
	if ins, err := e.api.ImageInspect(ctx, pinned); err == nil && ins.Config != nil && ins.Config.Labels[BinaryDigestLabel] == sum {
		return pinned, nil
	}
	// current says which image tag names when it holds this binary, else
	// which older bottle image a build would take the tag from.
	var replacedAt time.Time
	current := func() (ours, replaced string, err error) {
		ins, err := e.api.ImageInspect(ctx, tag)
		if isNotFound(err) {
			return "", "", nil
		}
		if err != nil {
			return "", "", fail(step, tag, err)
		}
		if ins.Config != nil && ins.Config.Labels[BinaryDigestLabel] == sum {
			return ins.ID, "", nil
		}
		if ins.Config != nil && ins.Config.Labels[BinaryDigestLabel] != "" {
			replaced = ins.ID
			replacedAt, _ = time.Parse(time.RFC3339Nano, ins.Created)
		}
		return "", replaced, nil
	}
	// pin gives image id (this binary's) the pinned tag too; by id, since
	// tag may move meanwhile.
	pin := func(id string) (string, error) {
		if _, err := e.api.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: pinned}); err != nil {
			return "", fail(step, pinned, err)
		}
		return pinned, nil
	}
	ours, replaced, err := current()
	if err != nil {
		return "", err
	}
	if ours != "" {
		return pin(ours)
	}
	// A build: one at a time per tag on this host, so that two runs that
	// both found the tag stale do not both build and leave one image
	// dangling. The second finds the first's image and uses it.
	unlock, err := lockTag(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", step, tag, err)
	}
	defer unlock()
	if ours, replaced, err = current(); err != nil {
		return "", err
	} else if ours != "" {
		return pin(ours)
	}

	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(func() error {
			tw := tar.NewWriter(pw)
			if err := write(tw); err != nil {
				return err
			}
			return tw.Close()
		}())
	}()
	defer pr.Close()
	// NoCache: a layer from the build cache may be an image another run is
	// removing (the replaced one below), and the build then fails midway;
	// the label check above is this build's cache.
	if _, err := e.build(ctx, step, tag, pr, client.ImageBuildOptions{
		Tags: []string{tag, pinned}, Remove: true, ForceRemove: true, NoCache: true,
		Labels: map[string]string{BinaryDigestLabel: sum},
	}); err != nil {
		return "", err
	}
	if replaced != "" && time.Since(replacedAt) > e.replaceGrace {
		// The old image lost its tag: remove it (and its pinned tag) rather
		// than keep one image per bottle build. Not forced, so an image a
		// container still runs (a bottle started by the older binary) stays;
		// and not when it is new, since a start of the older binary that
		// built it may be between its bottle_image and its compose up.
		e.api.ImageRemove(ctx, replaced, client.ImageRemoveOptions{PruneChildren: true})
	}
	return pinned, nil
}

// writeTarFile writes one file of a build context.
func writeTarFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// copyTarFile writes the host file src, of size bytes, as name.
func copyTarFile(tw *tar.Writer, name string, mode int64, src string, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, ModTime: time.Now()}); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, size)
	return err
}

// pinnedTag is tag with "-" and 12 hex digits of the binary's digest added
// to its tag part ("latest" when it has none).
func pinnedTag(tag, sum string) string {
	repo, version := tag, "latest"
	if i := strings.LastIndexByte(tag, ':'); i > strings.LastIndexByte(tag, '/') {
		repo, version = tag[:i], tag[i+1:]
	}
	return repo + ":" + version + "-" + sum[:12]
}

// bottleBinary is the binary BottleImage packs: $BOTTLE_IMAGE_BINARY, else the
// running executable.
func bottleBinary() (string, error) {
	if p := os.Getenv("BOTTLE_IMAGE_BINARY"); p != "" {
		return p, nil
	}
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running binary: %v; set BOTTLE_IMAGE_BINARY to a static bottle build", err)
	}
	return p, nil
}

// checkStatic fails unless bin is a Linux ELF executable with no dynamic
// loader (PT_INTERP), which is what a FROM-scratch image can run.
func checkStatic(bin string) error {
	const how = "build one with `CGO_ENABLED=0 GOOS=linux go build -o bottle ./cmd/bottle` and set BOTTLE_IMAGE_BINARY to it"
	if err := checkStaticELF(bin); err != nil {
		return fmt.Errorf("%v: %s", err, how)
	}
	return nil
}

// checkStaticELF fails unless bin is an ELF executable with no PT_INTERP.
func checkStaticELF(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s is not a Linux ELF executable (%v); a FROM-scratch image needs a static Linux binary", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it needs a loader), so it cannot run in a FROM-scratch image", bin)
		}
	}
	return nil
}

func fileDigest(p string) (sum string, size int64, err error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %v", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// lockTag takes a host-wide lock (flock on a file in the user's cache
// directory) for building tag, waiting for another bottle process's build
// as long as ctx allows. Without a usable cache directory it locks
// nothing: the build still works, only not serialised.
func lockTag(ctx context.Context, tag string) (unlock func(), err error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return func() {}, nil
	}
	dir = filepath.Join(dir, "bottle")
	if os.MkdirAll(dir, 0o700) != nil {
		return func() {}, nil
	}
	sum := sha256.Sum256([]byte(tag))
	f, err := os.OpenFile(filepath.Join(dir, "image-"+hex.EncodeToString(sum[:8])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return func() {}, nil
	}
	switch err := flock.Wait(ctx, f, nil); {
	case err == nil:
		return func() { f.Close() }, nil
	case ctx.Err() != nil:
		f.Close()
		return nil, fmt.Errorf("waiting for another bottle process's build of %s: %w", tag, ctx.Err())
	default: // flock itself failed: build without the lock
		f.Close()
		return func() {}, nil
	}
}
