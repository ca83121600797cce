package builtins

// Argument kinds that recur across families, as starlark.Unpacker types, and
// the conversions every family shares (paths, structs, modules).

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// optString is a string parameter that may be None.
type optString struct {
	s   string
	set bool
}

func (o *optString) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		o.s, o.set = "", false
	case starlark.String:
		o.s, o.set = string(v), true
	default:
		return fmt.Errorf("got %s, want string or None", v.Type())
	}
	return nil
}

// cmdArg is a command: a list of strings, or one string run with `sh -c`.
type cmdArg []string

func (c *cmdArg) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.String:
		*c = []string{"sh", "-c", string(v)}
		return nil
	case *starlark.List, starlark.Tuple:
		ss, err := stringList(v.(starlark.Iterable))
		if err != nil {
			return err
		}
		if len(ss) == 0 {
			return fmt.Errorf("empty command")
		}
		*c = ss
		return nil
	}
	return fmt.Errorf("got %s, want string or list of strings", v.Type())
}

func stringList(it starlark.Iterable) ([]string, error) {
	var out []string
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for i := 0; iter.Next(&x); i++ {
		s, ok := x.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, want string", i, x.Type())
		}
		out = append(out, string(s))
	}
	return out, nil
}

// modeArg is a Unix permission mode (write it 0o644), or None.
type modeArg struct {
	mode uint32
	set  bool
}

func (m *modeArg) Unpack(v starlark.Value) error {
	if v == starlark.None {
		m.set = false
		return nil
	}
	i, ok := v.(starlark.Int)
	if !ok {
		return fmt.Errorf("got %s, want an int mode such as 0o644", v.Type())
	}
	n, ok := i.Int64()
	if !ok || n < 0 || n > 0o7777 {
		return fmt.Errorf("mode %s out of range; write modes in octal, e.g. 0o644", i)
	}
	m.mode, m.set = uint32(n), true
	return nil
}

// seconds is a duration given as an int or float number of seconds.
type seconds time.Duration

func (s *seconds) Unpack(v starlark.Value) error {
	var f float64
	switch v := v.(type) {
	case starlark.Int:
		n, _ := v.Int64()
		f = float64(n)
	case starlark.Float:
		f = float64(v)
	default:
		return fmt.Errorf("got %s, want a number of seconds", v.Type())
	}
	if f < 0 || math.IsNaN(f) || f > 1e9 {
		return fmt.Errorf("%v seconds is out of range", f)
	}
	*s = seconds(time.Duration(f * float64(time.Second)))
	return nil
}

// labelsArg is a dict of string to string, or None.
type labelsArg map[string]string

func (l *labelsArg) Unpack(v starlark.Value) error {
	if v == starlark.None {
		*l = nil
		return nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("got %s, want dict of string to string", v.Type())
	}
	m := make(map[string]string, d.Len())
	for _, kv := range d.Items() {
		k, ok1 := kv[0].(starlark.String)
		val, ok2 := kv[1].(starlark.String)
		if !ok1 || !ok2 {
			return fmt.Errorf("label %s: %s, want string to string", kv[0], kv[1].Type())
		}
		m[string(k)] = string(val)
	}
	*l = m
	return nil
}

// resolve makes a path given to a file builtin absolute: relative paths
// resolve against the directory `bottle run` was started in.
func resolve(env *Env, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(env.WorkDir, p)
}

// mkstruct builds a struct from alternating field names and values.
func mkstruct(kv ...any) *starlarkstruct.Struct {
	d := make(starlark.StringDict, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		d[kv[i].(string)] = toValue(kv[i+1])
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, d)
}

// toValue converts the plain Go values that cross the engine to Starlark.
func toValue(x any) starlark.Value {
	switch x := x.(type) {
	case starlark.Value:
		return x
	case nil:
		return starlark.None
	case string:
		return starlark.String(x)
	case bool:
		return starlark.Bool(x)
	case int:
		return starlark.MakeInt(x)
	case int64:
		return starlark.MakeInt64(x)
	case uint64:
		return starlark.MakeUint64(x)
	case time.Time:
		if x.IsZero() {
			return starlark.None
		}
		return starlark.String(x.UTC().Format(time.RFC3339Nano))
	case map[string]string:
		d := starlark.NewDict(len(x))
		keys := slices.Sorted(maps.Keys(x))
		for _, k := range keys {
			d.SetKey(starlark.String(k), starlark.String(x[k]))
		}
		return d
	}
	panic(fmt.Sprintf("builtins: toValue(%T)", x))
}

// module turns members into a module entry followed by one entry per member
// ("yaml.encode"), so `bottle builtins` lists them.
func module(name, doc string, members ...Builtin) []Builtin {
	m := &starlarkstruct.Module{Name: name, Members: starlark.StringDict{}}
	var names []string
	for _, b := range members {
		short := strings.TrimPrefix(b.Name, name+".")
		m.Members[short] = b.Value
		names = append(names, short)
	}
	sort.Strings(names)
	out := []Builtin{{Name: name, Sig: name, Doc: doc + " (" + strings.Join(names, ", ") + ")", Value: m}}
	return append(out, members...)
}
