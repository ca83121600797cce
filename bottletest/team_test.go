package bottletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A team tests its recipes from its own module with `go test`, as the package
// comment shows: TestMain calls Main, a test calls Run on its suite. This
// builds bottle, writes such a module next to it and runs its tests: one
// passing script and one whose failure must show up as a failing go test.
func TestTeamModuleRunsItsSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bottle and a module: skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bottle := filepath.Join(tmp, "bin", "bottle")
	build := exec.Command(goBin, "build", "-o", bottle, "./cmd/bottle")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	_, requires, _ := strings.Cut(string(gomod), "require (")
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	team := filepath.Join(tmp, "team")
	files := map[string]string{
		"go.mod": "module example.com/team\n\ngo 1.26\n\nrequire github.com/bottle-sh/bottle v0.0.0\n\n" +
			"require (" + requires + "\nreplace github.com/bottle-sh/bottle => " + repo + "\n",
		"go.sum": string(sum),
		"recipes_test.go": `package team

import (
	"testing"

	"github.com/bottle-sh/bottle/bottletest"
)

func TestMain(m *testing.M) { bottletest.Main(m) }

func TestRecipes(t *testing.T) {
	bottletest.Run(t, "testdata/scripts", bottletest.Recipes("recipes"))
}
`,
		"recipes/greet.star": "log(\"hello,\", args[\"who\"])\n",
		"testdata/scripts/greet.txtar": "bottle run $RECIPES/greet.star who=team\nstdout '^hello, team$'\n" +
			"! bottle run $RECIPES/greet.star\nstatus 1\nstderr 'key \"who\" not in dict'\n",
	}
	for name, content := range files {
		p := filepath.Join(team, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goTest := func() (string, error) {
		cmd := exec.Command(goBin, "test", "-count=1", "-v", ".")
		cmd.Dir = team
		// The machine's own GOPROXY, as a team's go test has: the team's
		// module graph needs go.mod files (Microsoft/go-winio's) that
		// bottle's own build never fetches, so GOPROXY=off failed on a
		// fresh module cache.
		cmd.Env = append(os.Environ(), "BOTTLE_BINARY="+bottle, "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := goTest()
	if err != nil || !strings.Contains(out, "--- PASS: TestRecipes/greet") {
		t.Fatalf("the team's go test: %v\n%s", err, out)
	}

	// A failing script fails the team's go test, naming the script and line.
	os.WriteFile(filepath.Join(team, "testdata/scripts/wrong.txtar"), []byte("bottle run $RECIPES/greet.star who=team\nstdout '^goodbye'\n"), 0o644)
	out, err = goTest()
	if err == nil || !strings.Contains(out, "--- FAIL: TestRecipes/wrong") || !strings.Contains(out, "wrong.txtar:2: no match for `^goodbye`") {
		t.Fatalf("a failing script: %v\n%s", err, out)
	}
}
