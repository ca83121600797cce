// Package runtime is bottle's Starlark host: it loads a recipe and the files
// it loads, runs it on one thread against an engine, and turns the run into a
// transaction. The rules below are what recipes, tests and the CLI rely on.
//
// # Files and load()
//
// A recipe is a Starlark file. Its directory is the recipe root. The recipe and
// every file it loads are parsed and resolved with the same FileOptions
// (see [FileOptions], which says why each option is on or off: set, while,
// top-level if/for and global reassignment are allowed; recursion is not).
//
// load() accepts two forms of path and nothing else:
//
//	load("lib/net.star", "f")      relative to the directory of the loading file
//	load("//lib/net.star", "f")    relative to the recipe root
//
// Absolute paths are refused. A path that leaves the root, by ".." or through a
// symlink (both the root and the target are resolved with EvalSymlinks before
// they are compared), is an error. Paths are read through a [FileReader], so a
// caller can serve recipes from somewhere other than the disk.
//
// Before anything runs, the recipe and everything it loads, transitively, are
// parsed and resolved, every load() target is checked to exist inside the root,
// every loaded name is checked to be defined by its module, and the load graph
// is checked for cycles (the error names the chain: a.star -> b.star -> a.star).
// Any of these errors is a static error: it names file:line:col, nothing has
// run, and `bottle run` exits 2. `bottle check` performs exactly this phase.
//
// Each file's top level is executed at most once per run (a cache keyed by the
// file's real path); a second load() of it gets the same, frozen, globals.
//
// # What a module may do while it loads
//
// While the top level of a loaded file executes, the thread is marked with
// builtins.SetLoading and every builtin that creates or changes something
// refuses to run, naming the module. A module may define functions, constants
// and call pure builtins (yaml.encode, struct, ...). Only the recipe itself, or
// functions it calls, act on the world. This keeps load() free of effects, so
// that which files are loaded, and in what order, never changes what a run does.
//
// # Predeclared names
//
// The builtins registry (builtins.Predeclared: the same list `bottle builtins`
// prints) plus args, a frozen dict of the KEY=VALUE strings given on the
// command line, and dry_run, True under --dry-run (Options.DryRun), so that a
// recipe that must act differently when nothing is written says so plainly.
// print() goes to the run's log output, like log().
//
// A recipe declares its arguments with params() (builtins/params.go) before
// its first step; an argument params() refuses is a *builtins.ArgsError,
// which Run returns as a *UsageError (exit 2): nothing ran. Under
// Options.Help the recipe runs only up to params(), which writes its
// parameters, with every step refused.
//
// # One thread, cancellation and limits
//
// A run executes on one starlark.Thread. SIGINT, SIGTERM (the caller's context)
// and the timeout cancel both the thread (thread.Cancel, which stops Starlark
// code between steps) and the context in builtins.Env.Ctx that every builtin
// waits on. A step limit (thread.SetMaxExecutionSteps) stops runaway loops such
// as `while True:` with an error that names the limit and how to raise it.
//
// Options.Now is the run's clock: builtins read it through builtins.Env.Now,
// and time.now() in the recipe and in its on_failure steps returns it
// (builtins.SetEnv sets lib/time's per-thread clock).
//
// # Transactions
//
// Builtins record how to undo what they did in the run's journal (builtins.Journal).
// When the run fails for any reason (an error, fail(), a signal, the timeout,
// the step limit), every recorded undo runs in reverse order, all of them even
// when some fail, each with its own fresh context and timeout (the run's context
// is already cancelled by then). Every undo failure is reported, one line
// each ("undo on_failure cleanup: cannot clean up (r.star:4:9)" for a
// recipe-defined step). A second signal during the rollback is ignored. On
// success the journal is dropped and what was made stays.
//
// # Progress
//
// One line per step on stderr with its duration, log() and print() on
// stdout, and under --dry-run a "dry-run: <what>" line per step not taken
// (file writes with a diff, cut after 60 lines). With Options.JSON each of
// these is one JSON line: type step, dry-run (msg, diff), rollback, undo, log,
// and a final result line written by [Report].
//
// # Errors and exit codes
//
// A failed run reports the innermost Starlark backtrace, file:line:col for each
// frame, across load(). Starlark's own messages, such as the "did you mean"
// hints of UnpackArgs, are passed through untouched. [ExitCode] maps an error
// returned by [Run] to the exit code of docs/DESIGN.md:
//
//	0    success
//	1    the recipe failed and was rolled back (including --timeout and the step limit)
//	2    usage, syntax or resolve error, bad load(): nothing ran
//	130  interrupted by SIGINT or SIGTERM, and rolled back
package runtime
