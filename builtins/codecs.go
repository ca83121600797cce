package builtins

// Codecs family: the yaml and json modules, and sha256. YAML decoding is
// where untrusted manifests enter, so it is bounded (size, aliases, values)
// and its errors name the line. The builtins and what they return:
// `bottle builtins`, from the entries below.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.yaml.in/yaml/v3"

	"github.com/bottle-sh/bottle/internal/yamlhint"
)

func codecsBuiltins() []Builtin {
	out := module("yaml", "YAML encoding and decoding",
		def("yaml.encode", "yaml.encode(v) -> text", "a value as YAML text; dicts keep their key order", pure, yamlEncode),
		def("yaml.decode", "yaml.decode(s, name=None) -> value",
			"parse one YAML document (at most 1 MiB, 1000 alias uses, 100000 values) into dicts, lists and scalars; errors name the line (as name:line when name is given)", pure, yamlDecode),
	)
	out = append(out, def("sha256", "sha256(s) -> text", "the SHA-256 digest of a string's bytes, as 64 lowercase hex digits", pure, sha256Hex))
	return append(out, libModule(starjson.Module, "JSON encoding and decoding (go.starlark.net/lib/json)", map[string][2]string{
		"encode":        {"json.encode(v)", "a value as compact JSON"},
		"decode":        {"json.decode(s, default=unbound)", "parse JSON text"},
		"indent":        {`json.indent(s, prefix="", indent="\t")`, "reformat JSON text with indentation"},
		"encode_indent": {`json.encode_indent(v, prefix="", indent="\t")`, "a value as indented JSON"},
	})...)
}

func yamlEncode(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(name, args, kwargs, "v", &v); err != nil {
		return nil, err
	}
	s, err := encodeYAML(v)
	if err != nil {
		return nil, err
	}
	return starlark.String(s), nil
}

func encodeYAML(v starlark.Value) (string, error) {
	n, err := yamlNode(v, "")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// yamlNode converts a Starlark value to a YAML node; where names the value's
// position ("services.agent.ports[0]") for errors.
func yamlNode(v starlark.Value, where string) (*yaml.Node, error) {
	scalar := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	switch v := v.(type) {
	case starlark.NoneType:
		return scalar("!!null", "null"), nil
	case starlark.Bool:
		return scalar("!!bool", strconv.FormatBool(bool(v))), nil
	case starlark.Int:
		return scalar("!!int", v.String()), nil
	case starlark.Float:
		f := float64(v)
		switch {
		case math.IsInf(f, 1):
			return scalar("!!float", ".inf"), nil
		case math.IsInf(f, -1):
			return scalar("!!float", "-.inf"), nil
		case math.IsNaN(f):
			return scalar("!!float", ".nan"), nil
		}
		return scalar("!!float", strconv.FormatFloat(f, 'g', -1, 64)), nil
	case starlark.String:
		n := scalar("!!str", string(v))
		if strings.Contains(string(v), "\n") {
			n.Style = yaml.LiteralStyle
		} else if yaml11Ambiguous(string(v)) {
			n.Style = yaml.DoubleQuotedStyle
		}
		return n, nil
	case *starlark.List, starlark.Tuple:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		var x starlark.Value
		for i := 0; it.Next(&x); i++ {
			c, err := yamlNode(x, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case *starlark.Dict:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, kv := range v.Items() {
			var key string
			switch k := kv[0].(type) {
			case starlark.String:
				key = string(k)
			case starlark.Int, starlark.Bool:
				key = k.String()
			default:
				return nil, fmt.Errorf("%s: dict key %s is a %s; YAML keys here must be strings", orTop(where), kv[0], kv[0].Type())
			}
			path := key
			if where != "" {
				path = where + "." + key
			}
			c, err := yamlNode(kv[1], path)
			if err != nil {
				return nil, err
			}
			k, _ := yamlNode(starlark.String(key), where)
			n.Content = append(n.Content, k, c)
		}
		return n, nil
	}
	return nil, fmt.Errorf("%s: cannot encode a %s as YAML", orTop(where), v.Type())
}

// yaml11Ambiguous reports whether a YAML 1.1 parser (PyYAML, which
// docker-compose v1 uses) would read s as something other than a string:
// on/off/yes/no booleans, and numbers such as "22:22" (base 60) or "0o644".
func yaml11Ambiguous(s string) bool {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "":
		return true
	}
	return strings.Trim(s, "0123456789:_.+-eEoxXabcdefABCDEF") == "" && strings.ContainsAny(s, "0123456789")
}

func orTop(where string) string {
	if where == "" {
		return "value"
	}
	return where
}

func yamlDecode(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	var file starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "s", &s, "name?", &file); err != nil {
		return nil, err
	}
	fname, err := fileName(name, file)
	if err != nil {
		return nil, err
	}
	v, err := decodeYAML(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, withFile(err, fname))
	}
	return v, nil
}

// errLineRE matches the "line N: " that starts an error (or each line of a
// list of them), as decodeYAML, routes_check and allowlist.parse write it.
var errLineRE = regexp.MustCompile(`(?m)^(\s*)line (\d+): `)

// withFile turns "line N: msg" into "file:N: msg", on every line of err
// (and an error without one into "file: msg"); file "" leaves err as it is.
func withFile(err error, file string) error {
	if file == "" {
		return err
	}
	msg := err.Error()
	if !errLineRE.MatchString(msg) {
		return fmt.Errorf("%s: %s", file, msg)
	}
	return errors.New(errLineRE.ReplaceAllString(msg, "${1}"+strings.ReplaceAll(file, "$", "$$")+":${2}: "))
}

// fileName unpacks the name= parameter of a builtin that parses a file's
// text (None: no name).
func fileName(builtin string, v starlark.Value) (string, error) {
	switch f := v.(type) {
	case starlark.NoneType:
		return "", nil
	case starlark.String:
		return string(f), nil
	}
	return "", fmt.Errorf("%s: name: want a string or None, got %s", builtin, v.Type())
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?line (\d+): `)

// yamlHints say how to fix the YAML mistakes people make most.
var yamlHints = []struct{ has, hint string }{
	{"found a tab character", "indent with spaces, not tabs"},
	{"mapping values are not allowed", "quote a value that contains \": \""},
	{"did not find expected key", "check the indentation of this line and the one before"},
	{"found character that cannot start any token", "quote a value that starts with @, ` or %"},
}

func yamlHint(msg string) string {
	for _, h := range yamlHints {
		if strings.Contains(msg, h.has) {
			return "; " + h.hint
		}
	}
	return ""
}

// Limits on what yaml.decode takes: manifests, routes and pipelock configs
// are a few KiB, and a few aliases. A "billion laughs" document of a few
// hundred bytes expands, alias within alias, to gigabytes; the limits stop
// it after a few thousand values instead.
const (
	yamlMaxBytes   = 1 << 20 // of the text
	yamlMaxAliases = 1000    // alias uses, counting those inside expanded aliases
	yamlMaxValues  = 100_000 // values made, counting those expanded from aliases
)

// yamlBudget counts what fromYAML makes, against the limits above.
type yamlBudget struct{ aliases, values int }

// decodeYAML parses one YAML document. Errors start with "line N: ".
func decodeYAML(s string) (starlark.Value, error) {
	if len(s) > yamlMaxBytes {
		return nil, fmt.Errorf("%d bytes, more than the %d a YAML document may have here (1 MiB)", len(s), yamlMaxBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(s, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil || !errors.Is(err, io.EOF) {
		line := extra.Line
		if line == 0 {
			line = secondDocumentLine(s)
		}
		return nil, fmt.Errorf("line %d: a second YAML document starts here; give one document (remove this \"---\" and what follows, or merge it into the first)", line)
	}
	if doc.Kind == 0 {
		return starlark.None, nil
	}
	return fromYAML(&doc, 0, &yamlBudget{})
}

// yamlError turns a parse error into "line N: what; how to fix it".
func yamlError(s string, err error) error {
	if tab := yamlhint.Tab(s, err); tab != nil {
		return tab
	}
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("line %s: %s%s", m[1], msg[len(m[0]):], yamlHint(msg))
	}
	return fmt.Errorf("%s%s", strings.TrimPrefix(msg, "yaml: "), yamlHint(msg))
}

// secondDocumentLine is the line of the "---" that starts a second document
// (the decoder's error for a broken second document has no node to ask).
func secondDocumentLine(s string) int {
	seen := false
	for i, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "---") {
			if seen || i > 0 {
				return i + 1
			}
			seen = true
		}
	}
	return 1
}

func fromYAML(n *yaml.Node, depth int, b *yamlBudget) (starlark.Value, error) {
	if depth > 100 {
		return nil, fmt.Errorf("line %d: nesting too deep", n.Line)
	}
	if b.values++; b.values > yamlMaxValues {
		return nil, fmt.Errorf("line %d: too many YAML values (limit %d, counting those aliases repeat); write a smaller document", n.Line, yamlMaxValues)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return starlark.None, nil
		}
		return fromYAML(n.Content[0], depth+1, b)
	case yaml.AliasNode:
		if b.aliases++; b.aliases > yamlMaxAliases {
			return nil, fmt.Errorf("line %d: too many YAML aliases (limit %d, counting those inside other aliases); write the values out, or use fewer aliases", n.Line, yamlMaxAliases)
		}
		return fromYAML(n.Alias, depth+1, b)
	case yaml.SequenceNode:
		out := make([]starlark.Value, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromYAML(c, depth+1, b)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return starlark.NewList(out), nil
	case yaml.MappingNode:
		d := starlark.NewDict(len(n.Content) / 2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := fromYAML(n.Content[i], depth+1, b)
			if err != nil {
				return nil, err
			}
			if _, ok := k.(starlark.String); !ok && n.Content[i].Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key must be a scalar", n.Content[i].Line)
			}
			v, err := fromYAML(n.Content[i+1], depth+1, b)
			if err != nil {
				return nil, err
			}
			if _, found, _ := d.Get(k); found {
				return nil, fmt.Errorf("line %d: duplicate key %s", n.Content[i].Line, k)
			}
			if err := d.SetKey(k, v); err != nil {
				return nil, fmt.Errorf("line %d: %v", n.Content[i].Line, err)
			}
		}
		return d, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return starlark.None, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %v", n.Line, err)
			}
			return starlark.Bool(b), nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return starlark.MakeInt64(i), nil
			}
			if b, ok := new(big.Int).SetString(strings.ReplaceAll(n.Value, "_", ""), 0); ok {
				return starlark.MakeBigInt(b), nil
			}
			return nil, fmt.Errorf("line %d: bad integer %q", n.Line, n.Value)
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, fmt.Errorf("line %d: %v", n.Line, err)
			}
			return starlark.Float(f), nil
		default:
			return starlark.String(n.Value), nil
		}
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func sha256Hex(_ *starlark.Thread, _ *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(name, args, kwargs, "s", &s); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(s))
	return starlark.String(hex.EncodeToString(sum[:])), nil
}
