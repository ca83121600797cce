package builtins

import (
	"context"
	"io"
	"os"
	"time"

	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/engine"
)

// Env is everything a builtin may use beyond its arguments. The runtime makes
// one per run and puts it on the thread with SetEnv; builtins read it back with
// EnvOf. Builtins keep no state of their own.
type Env struct {
	Ctx    context.Context
	Engine engine.Engine // the real engine, or the recorder under --dry-run
	DryRun bool

	// Endpoint is where Engine is; Engines resolves and opens the engines
	// use_engine() names; Given is the engine `bottle run --engine` named
	// (nil: none was).
	Endpoint  engine.Endpoint
	Engines   engine.Engines
	Given     *engine.Endpoint
	StateRoot string // absolute
	WorkDir   string // relative paths given to file builtins resolve here
	Recipe    string // path of the recipe given to `bottle run`
	Args      map[string]string

	Journal  Journal
	Progress Progress

	Stdin  io.Reader // for edit(): the terminal
	Stdout io.Writer // results (log())
	Stderr io.Writer // progress
	IsTTY  func() bool

	Getenv func(string) (string, bool)
	Now    func() time.Time

	// AtEnd registers f to run when the run is over, after any rollback
	// (lock() releases its locks so). nil: what lock() holds stays held
	// until the process exits.
	AtEnd func(f func())

	// Help, when not nil, is where params() writes the recipe's parameters
	// (`bottle run RECIPE -h`); it then stops the run with ErrHelp, and
	// every step refuses to run (ErrNoParams).
	Help io.Writer

	opened     map[string]engine.Engine // use_engine(): the engines this run opened, by host
	locks      map[string]*os.File      // lock(): the files this run holds locked
	intents    map[string]string        // audit_intent(): id -> slug NUL action
	paramsDone bool                     // params() was called
	stepped    string                   // the first step or effect builtin called, for params()
}

// givenHere reports whether the run's engine now is the one `bottle run
// --engine` named.
func (env *Env) givenHere() bool {
	return env.Given != nil && env.Given.Host == env.Endpoint.Host
}

// Journal is the run's undo journal: every builtin that creates or changes
// something records how to undo it, right after it succeeds.
type Journal interface {
	// Record adds an undo step. what describes it for error reports
	// ("remove network bottle-x-int").
	Record(what string, undo func(ctx context.Context) error)
}

// Progress receives one event per completed step.
type Progress interface {
	Step(name, detail string, took time.Duration, err error)
	// Log prints a recipe's log() output (stdout).
	Log(msg string)
}

const envKey = "bottle.env"

// SetEnv attaches env to thread and, when env.Now is set, makes it the clock
// of the thread's time.now(), so that a test's clock reaches recipes too.
func SetEnv(thread *starlark.Thread, env *Env) {
	thread.SetLocal(envKey, env)
	if now := env.Now; now != nil {
		startime.SetNow(thread, func() (time.Time, error) { return now(), nil })
	}
}

// EnvOf returns the Env on thread; it panics when none is set, which is a bug
// in the host, never in a recipe.
func EnvOf(thread *starlark.Thread) *Env {
	env, _ := thread.Local(envKey).(*Env)
	if env == nil {
		panic("bottle: builtin called on a thread without builtins.Env")
	}
	return env
}

const loadingKey = "bottle.loading"

// SetLoading marks thread as executing the top level of a loaded module
// (module path), or clears the mark with "". Side-effect builtins refuse to run
// while it is set.
func SetLoading(thread *starlark.Thread, module string) { thread.SetLocal(loadingKey, module) }

// Loading returns the module being loaded, or "".
func Loading(thread *starlark.Thread) string {
	s, _ := thread.Local(loadingKey).(string)
	return s
}
