package docker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Build errors arrive in the JSON message stream, after the HTTP 200; they
// must come back as errors naming the tag.
func TestImageBuildErrorsSurface(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	for _, c := range []struct{ dockerfile, want string }{
		{"FROM scratch\nCOPY missing-file /x\n", "missing-file"},
		{"FROM bt-test-no-such-base:1\n", "bt-test-no-such-base"},
		{"FROM scratch\nBOGUS instruction\n", "BOGUS"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(c.dockerfile), 0o644); err != nil {
			t.Fatal(err)
		}
		tag := testRun + "-broken:1"
		_, err := e.ImageBuild(ctx, tag, dir, "")
		if err == nil || !strings.Contains(err.Error(), "image_build "+tag) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v", c.dockerfile, err)
		}
	}
	_, err := e.ImageBuild(ctx, testRun+"-x:1", filepath.Join(t.TempDir(), "absent"), "")
	if err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing context: %v", err)
	}
}

func TestBottleImage(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	tag := "bottle-enginetest-self:latest"
	// Any static binary will do; the reader stands in for bottle.
	t.Setenv("BOTTLE_IMAGE_BINARY", readerBin)
	got, err := e.BottleImage(ctx, tag)
	sum, _, _ := fileDigest(readerBin)
	if err != nil || got != "bottle-enginetest-self:latest-"+sum[:12] {
		t.Fatalf("BottleImage = %q, %v; want the tag pinned to the binary's digest", got, err)
	}
	ins, err := e.api.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if pinned, err := e.api.ImageInspect(ctx, got); err != nil || pinned.ID != ins.ID {
		t.Fatalf("pinned tag %s: %v, id %s; want %s's image %s", got, err, pinned.ID, tag, ins.ID)
	}
	if ins.Config.Labels[BinaryDigestLabel] != sum || strings.Join(ins.Config.Entrypoint, " ") != "/bottle" {
		t.Errorf("image config: labels %v entrypoint %v", ins.Config.Labels, ins.Config.Entrypoint)
	}
	// Reused while the digest matches: same image, no build.
	start := time.Now()
	if _, err := e.BottleImage(ctx, tag); err != nil {
		t.Fatal(err)
	}
	again, _ := e.api.ImageInspect(ctx, tag)
	if again.ID != ins.ID {
		t.Errorf("image rebuilt: %s -> %s", ins.ID, again.ID)
	}
	t.Logf("reuse took %s", time.Since(start))

	// It runs: /bottle is the entrypoint.
	name := testRun + "-self"
	if _, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name, Config: &container.Config{Image: tag, Cmd: []string{"serve"}, Labels: testLabels()},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ContainerRemove(ctx, name) })
	if _, err := e.api.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WaitLog(ctx, name, regexp.MustCompile(`ready`), time.Unix(0, 0), 10*time.Second); err != nil {
		t.Error(err)
	}

	// A dynamically linked binary is refused with advice.
	if dyn := "/bin/ls"; isDynamic(dyn) {
		t.Setenv("BOTTLE_IMAGE_BINARY", dyn)
		_, err := e.BottleImage(ctx, testRun+"-dyn:1")
		if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("dynamic binary: %v", err)
		}
	}
	// So is something that is not an ELF executable.
	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("BOTTLE_IMAGE_BINARY", notELF)
	if _, err := e.BottleImage(ctx, testRun+"-sh:1"); err == nil || !strings.Contains(err.Error(), "not a Linux ELF") {
		t.Errorf("script: %v", err)
	}
}

func isDynamic(p string) bool { return checkStatic(p) != nil }

// A new binary takes the tag from the older bottle image, which is removed
// rather than left dangling (one per build otherwise); an image a container
// still uses is kept.
func TestBottleImageReplacesOldImage(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	tag := testRun + "-replace:1"
	t.Cleanup(func() {
		e.api.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	data, err := os.ReadFile(readerBin)
	if err != nil {
		t.Fatal(err)
	}
	// Trailing bytes change the digest and leave a valid static ELF; the
	// run's name keeps them this run's own (a run of another checkout on
	// the same daemon would otherwise share the images).
	variant := func(name string) string {
		p := filepath.Join(t.TempDir(), "bottle")
		if err := os.WriteFile(p, append(data, name+" "+testRun+"\n"...), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one, other := variant("one build"), variant("another build")
	var pins []string
	build := func(bin string) string {
		t.Helper()
		t.Setenv("BOTTLE_IMAGE_BINARY", bin)
		pinned, err := e.BottleImage(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, pinned)
		t.Cleanup(func() {
			e.api.ImageRemove(context.Background(), pinned, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		})
		ins, err := e.api.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		return ins.ID
	}
	// A young image keeps its place when another build takes its tag: a
	// start of the binary that built it may not have run compose up yet.
	young := build(variant("a young build"))
	build(variant("another young build"))
	if _, err := e.api.ImageInspect(ctx, young); err != nil {
		t.Errorf("bottle image %s, built a moment ago, removed when its tag moved: %v", young, err)
	}
	e.replaceGrace = 0 // from here on, as if every image were old
	first := build(one)
	second := build(other)
	if first == second {
		t.Fatalf("a different binary reused image %s", first)
	}
	// What the first call returned never names the second binary: a bottle
	// that got it between bottle_image() and compose_up runs its own
	// binary or fails to find it, never another version's.
	sumOne, _, _ := fileDigest(one)
	if ins, err := e.api.ImageInspect(ctx, pins[2]); err == nil && ins.Config.Labels[BinaryDigestLabel] != sumOne {
		t.Errorf("%s, returned for the first binary, now holds the binary with digest %s", pins[2], ins.Config.Labels[BinaryDigestLabel])
	}
	if _, err := e.api.ImageInspect(ctx, first); !isNotFound(err) {
		t.Errorf("old bottle image %s still there after its tag moved (err %v)", first, err)
	}

	// In use by a container: kept.
	name := testRun + "-replace"
	if _, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name, Config: &container.Config{Image: tag, Cmd: []string{"serve"}, Labels: testLabels()},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ContainerRemove(context.Background(), name) })
	third := build(one)
	t.Cleanup(func() {
		e.api.ImageRemove(context.Background(), third, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	if _, err := e.api.ImageInspect(ctx, second); err != nil {
		t.Errorf("bottle image %s removed while a container uses it: %v", second, err)
	}
	t.Cleanup(func() {
		e.api.ImageRemove(context.Background(), second, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}

// Three runs building the same tag from the same new binary at once: one
// builds, the others wait and use its image; none is left dangling.
func TestBottleImageConcurrentBuilds(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	tag := testRun + "-concurrent:1"
	bin := filepath.Join(t.TempDir(), "bottle")
	data, err := os.ReadFile(readerBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, append(data, "concurrent "+testRun+"\n"...), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, _, _ := fileDigest(bin)
	t.Setenv("BOTTLE_IMAGE_BINARY", bin)
	t.Cleanup(func() {
		e.api.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		e.api.ImageRemove(context.Background(), pinnedTag(tag, sum), client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := e.BottleImage(ctx, tag); errs <- err }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f := client.Filters{}.Add("label", BinaryDigestLabel+"="+sum)
	res, err := e.api.ImageList(ctx, client.ImageListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("%d images carry this binary's digest after 3 concurrent builds, want 1", len(res.Items))
	}
}
