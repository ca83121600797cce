package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"go.starlark.net/starlark"

	"github.com/bottle-sh/bottle/builtins"
	"github.com/bottle-sh/bottle/engine"
)

// DefaultMaxSteps is the default step limit of a run: far more than any real
// recipe needs (a 200-step recipe uses well under a million), small enough
// that `while True:` stops within a second or two.
const DefaultMaxSteps = 10_000_000

// ErrInterrupted is the cause a caller gives its context when the user
// interrupts the run (SIGINT, SIGTERM): context.WithCancelCause and
// cancel(fmt.Errorf("%w by SIGINT", ErrInterrupted)). Such a run exits 130.
var ErrInterrupted = errors.New("interrupted")

// Options describe one run.
type Options struct {
	Recipe string            // path of the recipe; its directory is the recipe root
	Args   map[string]string // the recipe's args
	Engine engine.Engine     // the real engine, or the recorder under DryRun
	DryRun bool

	// Endpoint is where Engine is (engine()); Engines resolves and opens
	// the engines use_engine() names (nil: it fails); EngineGiven says the
	// operator named Endpoint for this run (bottle run --engine).
	Endpoint    engine.Endpoint
	Engines     engine.Engines
	EngineGiven bool

	StateRoot string // absolute; see StateRoot
	WorkDir   string // relative paths given to file builtins resolve here; default: the current directory

	Timeout     time.Duration // 0: none
	MaxSteps    uint64        // 0: DefaultMaxSteps
	UndoTimeout time.Duration // per undo step; 0: DefaultUndoTimeout
	JSON        bool          // progress and results as JSON lines

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	IsTTY  func() bool
	Getenv func(string) (string, bool) // default: os.LookupEnv
	Now    func() time.Time            // default: time.Now

	// Reader is where recipes are read: default a LocalReader confined to
	// the recipe's directory; an *FSReader reads Recipe (a path inside it)
	// and everything it loads from its FS (the embedded recipes).
	Reader FileReader

	// Help, when not nil, runs the recipe only up to its params() call,
	// which writes the recipe's parameters here (`bottle run RECIPE -h`);
	// every step is refused, and print() and log() go nowhere.
	Help io.Writer

	// Checked is what CheckRecipe returned for Recipe: Run runs its compiled
	// files instead of reading and compiling them again. Ignored when it was
	// checked for another recipe or another Reader.
	Checked *Checked

	extra starlark.StringDict // more predeclared names, for this package's tests
}

// given is the engine the operator named for the run, or nil.
func given(o Options) *engine.Endpoint {
	if !o.EngineGiven {
		return nil
	}
	at := o.Endpoint
	return &at
}

// RunError is a run that failed after it started; it has been rolled back.
type RunError struct {
	Recipe      string
	Err         error  // what failed, as Starlark reported it
	Backtrace   string // of the innermost frame, file:line:col, across load()
	Interrupted bool   // by a signal: exit 130
	TimedOut    string // "timed out after 15s (--timeout)" when --timeout ended it
	Undone      int    // undo steps that ran
	Undo        error  // every undo failure (a *multierror.Error), or nil
}

func (e *RunError) Error() string {
	s := e.Err.Error()
	if e.Undo != nil {
		s += "\n" + e.Undo.Error()
	}
	return s
}

func (e *RunError) Unwrap() error { return e.Err }

// UsageError is a bad invocation: a missing recipe, bad arguments. Exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode maps an error from Run or Check to bottle's exit code.
func ExitCode(err error) int {
	var re *RunError
	var se *StaticError
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &re):
		if re.Interrupted {
			return 130
		}
		return 1
	case errors.As(err, &se), errors.As(err, &ue):
		return 2
	case errors.Is(err, ErrInterrupted):
		return 130
	}
	return 1
}

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseArgs turns KEY=VALUE arguments into a map. A key is an identifier.
func ParseArgs(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, &UsageError{fmt.Errorf("argument %q is not KEY=VALUE (write %s=VALUE, or name=%s)", kv, kv, kv)}
		}
		if !keyRE.MatchString(k) {
			return nil, &UsageError{fmt.Errorf("argument %q: key %q must be a name (letters, digits, _; not starting with a digit)", kv, k)}
		}
		if _, dup := m[k]; dup {
			return nil, &UsageError{fmt.Errorf("argument %s given twice (%s=%s and %s=%s); give it once", k, k, m[k], k, v)}
		}
		m[k] = v
	}
	return m, nil
}

// StateRoot returns the state root: flag if not "", else $BOTTLE_STATE_DIR,
// else $XDG_STATE_HOME/bottle, else ~/.local/state/bottle; always absolute.
func StateRoot(flag string, getenv func(string) string) (string, error) {
	dir := flag
	if dir == "" {
		dir = getenv("BOTTLE_STATE_DIR")
	}
	if dir == "" {
		if x := getenv("XDG_STATE_HOME"); x != "" {
			dir = filepath.Join(x, "bottle")
		}
	}
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("state root: no --state, $BOTTLE_STATE_DIR, $XDG_STATE_HOME or home directory: %w", err)
			}
			home = h
		}
		dir = filepath.Join(home, ".local", "state", "bottle")
	}
	return filepath.Abs(dir)
}

// session is what a run shares between its parts.
type session struct {
	prog        *program
	predeclared starlark.StringDict
	cache       map[string]*loaded
	stack       []*module // files whose top level is executing; last is innermost
}

type loaded struct {
	globals starlark.StringDict
	err     error
}

// prepare resolves the recipe and compiles its load graph. The recipe is a
// path on the disk, or in reader when that is an *FSReader.
func prepare(ctx context.Context, recipe string, reader FileReader, extra starlark.StringDict) (*program, starlark.StringDict, error) {
	var real string
	if fr, ok := reader.(*FSReader); ok {
		var err error
		if real, err = fr.Recipe(ctx, recipe); err != nil {
			return nil, nil, &UsageError{fmt.Errorf("recipe %s: %w", recipe, err)}
		}
	} else {
		var err error
		if real, err = localRecipe(recipe); err != nil {
			return nil, nil, err
		}
	}
	if reader == nil {
		lr, err := NewLocalReader(filepath.Dir(real))
		if err != nil {
			return nil, nil, &UsageError{err}
		}
		reader = lr
	}
	pre := builtins.Predeclared()
	pre["args"] = starlark.NewDict(0) // placeholders for resolving
	pre["dry_run"] = starlark.False
	for k, v := range extra {
		pre[k] = v
	}
	prog, err := compile(ctx, reader, real, pre, displayer(recipe, real))
	if err != nil {
		return nil, nil, err
	}
	return prog, pre, nil
}

// localRecipe is the real path of the recipe file at recipe.
func localRecipe(recipe string) (string, error) {
	abs, err := filepath.Abs(recipe)
	if err != nil {
		return "", &UsageError{err}
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", &UsageError{fmt.Errorf("recipe %s: no such file", recipe)}
		}
		return "", &UsageError{fmt.Errorf("recipe %s: %w", recipe, err)}
	}
	if fi, err := os.Stat(real); err == nil && fi.IsDir() {
		return "", &UsageError{fmt.Errorf("recipe %s is a directory; give a .star file", recipe)}
	}
	return real, nil
}

// displayer returns how paths appear in messages: relative to the current
// directory when below it, else absolute; the recipe as the user gave it.
func displayer(given, real string) func(string) string {
	wd, _ := os.Getwd()
	if w, err := filepath.EvalSymlinks(wd); err == nil {
		wd = w
	}
	return func(p string) string {
		if p == real {
			return filepath.Clean(given)
		}
		if wd != "" {
			if rel, err := filepath.Rel(wd, p); err == nil && within(wd, p) {
				return rel
			}
		}
		return p
	}
}

// Check parses and resolves each recipe and everything it loads, and checks
// every load() statically. It runs nothing.
func Check(ctx context.Context, recipes ...string) error {
	var errs []error
	for _, r := range recipes {
		if _, _, err := prepare(ctx, r, nil, nil); err != nil {
			var se *StaticError
			if errors.As(err, &se) {
				errs = append(errs, se.Errs...)
				continue
			}
			return err
		}
	}
	if len(errs) > 0 {
		return &StaticError{Errs: errs}
	}
	return nil
}

// Checked is a recipe that passed Check, compiled, with every file it loads.
type Checked struct {
	recipe string
	reader FileReader
	prog   *program
	pre    starlark.StringDict
}

// CheckRecipe is Check for one recipe that is about to run: give the result
// to Run as Options.Checked, and the recipe is not compiled a second time.
// reader is where the recipe is (nil: the disk; an *FSReader: in it), as
// Options.Reader.
func CheckRecipe(ctx context.Context, recipe string, reader FileReader) (*Checked, error) {
	prog, pre, err := prepare(ctx, recipe, reader, nil)
	if err != nil {
		return nil, err
	}
	return &Checked{recipe: recipe, reader: reader, prog: prog, pre: pre}, nil
}

// Run runs a recipe as a transaction; see the package comment. The caller
// cancels ctx on SIGINT/SIGTERM, with ErrInterrupted as its cause.
func Run(ctx context.Context, o Options) error {
	var prog *program
	var pre starlark.StringDict
	if c := o.Checked; c != nil && c.recipe == o.Recipe && c.reader == o.Reader && o.extra == nil {
		prog, pre = c.prog, maps.Clone(c.pre) // Run sets args and dry_run in its own copy
	} else {
		var err error
		if prog, pre, err = prepare(ctx, o.Recipe, o.Reader, o.extra); err != nil {
			return err
		}
	}
	args := starlark.NewDict(len(o.Args))
	keys := slices.Sorted(maps.Keys(o.Args))
	for _, k := range keys {
		args.SetKey(starlark.String(k), starlark.String(o.Args[k]))
	}
	args.Freeze()
	pre["args"] = args
	pre["dry_run"] = starlark.Bool(o.DryRun)
	pre.Freeze()

	setDefaults(&o)
	if o.Help != nil {
		o.Stdout, o.Stderr = io.Discard, io.Discard
	}
	p := &progress{stdout: o.Stdout, stderr: o.Stderr, json: o.JSON}
	journal := &undoJournal{}

	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, &timeoutError{o.Timeout})
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var atEnd []func() // run after the rollback, last registered first
	defer func() {
		for i := len(atEnd) - 1; i >= 0; i-- {
			atEnd[i]()
		}
	}()

	s := &session{prog: prog, predeclared: pre, cache: map[string]*loaded{}}
	thread := &starlark.Thread{
		Name:  "recipe",
		Print: func(_ *starlark.Thread, msg string) { p.Log(msg) },
		Load:  s.load,
	}
	limit := o.MaxSteps
	thread.SetMaxExecutionSteps(limit)
	thread.OnMaxSteps = func(t *starlark.Thread) {
		t.Cancel(fmt.Sprintf("step limit of %d reached (a runaway loop?); raise it with --max-steps", limit))
	}
	builtins.SetEnv(thread, &builtins.Env{
		Ctx:       ctx,
		Engine:    o.Engine,
		Endpoint:  o.Endpoint,
		Engines:   o.Engines,
		Given:     given(o),
		DryRun:    o.DryRun,
		StateRoot: o.StateRoot,
		WorkDir:   o.WorkDir,
		Recipe:    o.Recipe,
		Args:      o.Args,
		Journal:   journal,
		Progress:  p,
		Stdin:     o.Stdin,
		Stdout:    o.Stdout,
		Stderr:    o.Stderr,
		IsTTY:     o.IsTTY,
		Getenv:    o.Getenv,
		Now:       o.Now,
		AtEnd:     func(f func()) { atEnd = append(atEnd, f) },
		Help:      o.Help,
	})
	builtins.SetLoading(thread, "")

	stop := context.AfterFunc(ctx, func() { thread.Cancel(context.Cause(ctx).Error()) })
	defer stop()

	s.stack = []*module{prog.main}
	err := execute(thread, prog.main.prog, pre)
	if o.Help != nil {
		return helpOutcome(o, err)
	}
	if err == nil {
		return nil // the journal is dropped: what was made stays
	}
	var bad *builtins.ArgsError
	if errors.As(err, &bad) && journal.Len() == 0 {
		return &UsageError{bad} // params() comes before any step: nothing ran
	}

	re := &RunError{Recipe: o.Recipe, Err: err, Backtrace: backtrace(err)}
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrInterrupted) {
		re.Interrupted = true
	}
	why := message(err)
	var timeout *timeoutError
	if cause := context.Cause(ctx); errors.As(cause, &timeout) {
		// A builtin blocked in the engine returns ctx.Err(): say why instead.
		re.TimedOut = timeout.Error()
		re.Backtrace = strings.ReplaceAll(re.Backtrace, context.DeadlineExceeded.Error(), re.TimedOut)
		why = re.TimedOut
	}
	if re.Interrupted {
		why = context.Cause(ctx).Error()
	}
	re.Undone = journal.Len()
	if re.Undone > 0 {
		p.rollingBack(re.Undone, why)
		re.Undo = journal.rollback(o.UndoTimeout, p)
	}
	return re
}

// helpOutcome is the end of a run under Options.Help: params() wrote the
// parameters (ErrHelp), or the recipe declares none, which Help then says.
func helpOutcome(o Options, err error) error {
	switch {
	case errors.Is(err, builtins.ErrHelp):
		return nil
	case err == nil, errors.Is(err, builtins.ErrNoParams):
		fmt.Fprintf(o.Help, "%s declares no parameters (it does not call params() before its first step); it reads the KEY=VALUE arguments from args as it likes\n", o.Recipe)
		return nil
	}
	return err
}

// timeoutError is the cause of a run's context when --timeout ends it.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("timed out after %s (--timeout)", e.after) }

// execute runs the recipe's top level. A panic in a builtin is a bug, but
// what the run made must still be rolled back, so it becomes an error.
func execute(thread *starlark.Thread, prog *starlark.Program, pre starlark.StringDict) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (a bug in bottle, please report it): panic: %v\n%s", r, debug.Stack())
		}
	}()
	_, err = prog.Init(thread, pre)
	return err
}

func setDefaults(o *Options) {
	if o.MaxSteps == 0 {
		o.MaxSteps = DefaultMaxSteps
	}
	if o.UndoTimeout == 0 {
		o.UndoTimeout = DefaultUndoTimeout
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	if o.IsTTY == nil {
		o.IsTTY = func() bool { return false }
	}
	if o.Getenv == nil {
		o.Getenv = os.LookupEnv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WorkDir == "" {
		o.WorkDir, _ = os.Getwd()
	}
}

// load is the thread's Load: it runs a loaded file's top level once, with
// effects refused, and caches its frozen globals.
func (s *session) load(thread *starlark.Thread, target string) (starlark.StringDict, error) {
	from := s.stack[len(s.stack)-1]
	var m *module
	for _, l := range from.loads {
		if l.target == target {
			m = s.prog.modules[l.path]
		}
	}
	if m == nil {
		// Compile saw every load(); this is a bug, not a recipe error.
		return nil, fmt.Errorf("internal error: %s was not checked before the run", target)
	}
	if c, ok := s.cache[m.path]; ok {
		if c == nil {
			return nil, fmt.Errorf("load cycle through %s", m.display)
		}
		return c.globals, c.err
	}
	s.cache[m.path] = nil
	s.stack = append(s.stack, m)
	prev := builtins.Loading(thread)
	builtins.SetLoading(thread, m.display)
	g, err := m.prog.Init(thread, s.predeclared)
	builtins.SetLoading(thread, prev)
	s.stack = s.stack[:len(s.stack)-1]
	g.Freeze()
	s.cache[m.path] = &loaded{g, err}
	return g, err
}

// innermost returns the innermost EvalError in err's chain: with load() the
// outer errors only say "cannot load x", the inner one has the whole stack.
func innermost(err error) error {
	var last error = err
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ee, ok := e.(*starlark.EvalError); ok {
			last = ee
		}
	}
	return last
}

// message is the innermost error's first line, without a builtin's name
// prefix that the backtrace shows anyway.
func message(err error) string {
	in := innermost(err)
	msg := firstLine(in)
	if ee, ok := in.(*starlark.EvalError); ok {
		if n := len(ee.CallStack); n > 0 && ee.CallStack[n-1].Pos.Filename() == "<builtin>" {
			msg = strings.TrimPrefix(msg, ee.CallStack[n-1].Name+": ")
		}
	}
	return msg
}

// backtrace formats like EvalError.Backtrace, without repeating the
// builtin's name when its message already starts with it.
func backtrace(err error) string {
	ee, ok := innermost(err).(*starlark.EvalError)
	if !ok {
		return "Error: " + err.Error()
	}
	stack, in, msg := ee.CallStack, "", ee.Msg
	if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
		in = " in " + stack[n-1].Name
		msg = strings.TrimPrefix(msg, stack[n-1].Name+": ")
		stack = stack[:n-1]
	}
	return fmt.Sprintf("%sError%s: %s", stack, in, msg)
}

// resultEvent is the last JSON line of a run.
type resultEvent struct {
	Type       string   `json:"type"`
	OK         bool     `json:"ok"`
	Exit       int      `json:"exit"`
	Error      string   `json:"error,omitempty"`
	Backtrace  string   `json:"backtrace,omitempty"`
	Undone     int      `json:"undone,omitempty"`
	UndoErrors []string `json:"undo_errors,omitempty"`
}

func flattenUndo(err error) []string {
	var me *multierror.Error
	if errors.As(err, &me) {
		out := make([]string, len(me.Errors))
		for i, e := range me.Errors {
			out[i] = e.Error()
		}
		return out
	}
	return []string{err.Error()}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Report writes the outcome of a run for a user: nothing on success (the
// progress lines said it all), else the backtrace or the static errors and
// every undo failure. With asJSON it writes one JSON line of type "result".
func Report(w io.Writer, err error, asJSON bool) {
	if asJSON {
		e := resultEvent{Type: "result", OK: err == nil, Exit: ExitCode(err)}
		if err != nil {
			e.Error = err.Error()
			var re *RunError
			if errors.As(err, &re) {
				e.Error = message(re.Err)
				if re.TimedOut != "" {
					e.Error = strings.ReplaceAll(e.Error, context.DeadlineExceeded.Error(), re.TimedOut)
				}
				e.Backtrace = re.Backtrace
				e.Undone = re.Undone
				if re.Undo != nil {
					e.UndoErrors = flattenUndo(re.Undo)
				}
			}
		}
		writeJSON(w, e)
		return
	}
	if err == nil {
		return
	}
	var re *RunError
	if errors.As(err, &re) {
		fmt.Fprintln(w, re.Backtrace)
		failed := "failed"
		if re.TimedOut != "" {
			failed = re.TimedOut
		}
		switch {
		case re.Undo != nil:
			fmt.Fprintf(w, "bottle: %s %s; rollback incomplete: %v\n", re.Recipe, failed, re.Undo)
		case re.Undone > 0:
			fmt.Fprintf(w, "bottle: %s %s; rolled back %d step(s)\n", re.Recipe, failed, re.Undone)
		default:
			fmt.Fprintf(w, "bottle: %s %s; nothing to roll back\n", re.Recipe, failed)
		}
		return
	}
	fmt.Fprintln(w, err)
}
