package routes

import (
	"strings"
	"testing"
)

const sampleRoutes = `routes:
  - host: api.anthropic.com     # exact host
    paths: ["/v1/"]
    methods: [GET, post]
    inject:
      header: x-api-key
      env: ANTHROPIC_API_KEY
  - host: github.com
  - host: "*.example.test"
  - host: "*.deep.example.test"
    methods: [GET]
`

func TestParseRoutes(t *testing.T) {
	rs, err := Parse([]byte(sampleRoutes))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 4 {
		t.Fatalf("got %d routes, want 4", rs.Len())
	}
	api := rs.Routes[0]
	if api.Line != 2 || api.Inject == nil || api.Inject.Header != "X-Api-Key" || api.Inject.Env != "ANTHROPIC_API_KEY" {
		t.Errorf("api route = %+v", api)
	}
	if strings.Join(api.Methods, ",") != "GET,POST" || !api.Intercepts() {
		t.Errorf("api methods %v intercepts %v", api.Methods, api.Intercepts())
	}
	if rs.Routes[1].Intercepts() {
		t.Error("github.com has no rules, yet Intercepts() is true")
	}
}

func TestMatch(t *testing.T) {
	rs, err := Parse([]byte(sampleRoutes))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"api.anthropic.com":   "api.anthropic.com",
		"API.Anthropic.COM.":  "api.anthropic.com",
		"github.com":          "github.com",
		"a.example.test":      "*.example.test",
		"a.b.example.test":    "*.example.test",
		"x.deep.example.test": "*.deep.example.test",
		"example.test":        "",
		"example.test.evil":   "",
		"aexample.test":       "",
		"gist.github.com":     "",
		"127.0.0.1":           "",
		"anthropic.com":       "",
	}
	for host, want := range cases {
		got := ""
		if r := rs.Match(host); r != nil {
			got = r.Host
		}
		if got != want {
			t.Errorf("Match(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestAllows(t *testing.T) {
	r := Route{Paths: []string{"/v1/"}, Methods: []string{"GET", "POST"}}
	for _, c := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1/messages", true},
		{"POST", "/v1/", true},
		{"DELETE", "/v1/messages", false},
		{"GET", "/v2/messages", false},
		{"GET", "/v1", false},
	} {
		if got := r.Allows(c.method, c.path); got != c.want {
			t.Errorf("Allows(%s %s) = %v, want %v", c.method, c.path, got, c.want)
		}
	}
}

func TestParseRoutesErrors(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string // substrings of the error, each must appear
	}{
		{"empty", "", []string{"empty"}},
		{"blank", "  \n\n", []string{"empty"}},
		{"bad yaml", "routes:\n  - host: [a\n", []string{"invalid YAML", "line"}},
		{"not a mapping", "- host: a.com\n", []string{"line 1: file: expected a mapping"}},
		{"unknown top key", "routes: []\nroute: x\n", []string{"line 2: route: unknown key"}},
		{"missing routes", "other: 1\n", []string{"line 1: other: unknown key", "routes: missing"}},
		{"routes not a list", "routes: github.com\n", []string{"line 1: routes: expected a list"}},
		{"route not a mapping", "routes:\n  - github.com\n", []string{"line 2: route: expected a mapping"}},
		{"missing host", "routes:\n  - paths: [/]\n", []string{"line 2: host: missing"}},
		{"unknown route key", "routes:\n  - host: a.com\n    path: [/x]\n", []string{"line 3: path: unknown key"}},
		{"bad host", "routes:\n  - host: \"exa mple.com\"\n", []string{"line 2: host:", "not a valid host"}},
		{"url host", "routes:\n  - host: https://a.com/\n", []string{"line 2: host:", "URL"}},
		{"port", "routes:\n  - host: a.com:443\n", []string{"line 2: host:", "port"}},
		{"tld wildcard", "routes:\n  - host: \"*.com\"\n", []string{"line 2: host:", `public suffix "com"`}},
		{"tab", "routes:\n\t- host: a.com\n", []string{"line 2: YAML does not allow tabs for indentation"}},
		{"public suffix wildcard", "routes:\n  - host: \"*.co.uk\"\n", []string{"line 2: host:", `public suffix "co.uk"`, "*.example.co.uk"}},
		{"mid wildcard", "routes:\n  - host: \"a.*.com\"\n", []string{"line 2: host:", "wildcard"}},
		{"dup host", "routes:\n  - host: a.com\n  - host: A.com\n", []string{"line 3: host:", "line 2"}},
		{"relative path", "routes:\n  - host: a.com\n    paths: [v1/]\n", []string{"line 3: paths:", "start with"}},
		{"paths not list", "routes:\n  - host: a.com\n    paths: /v1/\n", []string{"line 3: paths: expected a list"}},
		{"empty methods", "routes:\n  - host: a.com\n    methods: []\n", []string{"line 3: methods:", "empty list"}},
		{"bad method", "routes:\n  - host: a.com\n    methods: [\"GE T\"]\n", []string{"line 3: methods:", "not an HTTP method"}},
		{"inject missing env", "routes:\n  - host: a.com\n    inject:\n      header: x-api-key\n", []string{"line 4: inject.env: missing"}},
		{"inject bad env", "routes:\n  - host: a.com\n    inject: {header: x-api-key, env: 1KEY}\n", []string{"line 3: inject.env:"}},
		{"inject unknown", "routes:\n  - host: a.com\n    inject: {header: a, env: B, value: c}\n", []string{"line 3: inject.value: unknown key"}},
		{"inject hop", "routes:\n  - host: a.com\n    inject: {header: connection, env: B}\n", []string{"line 3: inject.header:", "hop-by-hop"}},
		{"no final newline", "routes:\n  - host: api.exa", []string{"line 2: file:", "partly written"}},
		{"two documents", "routes: []\n---\nroutes: []\n", []string{"line 2:", "second"}},
		{"every error", "routes:\n  - host: \"*.com\"\n  - host: a.com\n    colour: red\n", []string{"2 errors", "line 2: host", "line 4: colour"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.text))
			if err == nil {
				t.Fatalf("no error for %q", c.text)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseRoutesEmptyList(t *testing.T) {
	for _, text := range []string{"routes: []\n", "routes:\n"} {
		rs, err := Parse([]byte(text))
		if err != nil || rs.Len() != 0 {
			t.Errorf("%q: got %v, %v; want 0 routes", text, rs.Len(), err)
		}
		if rs.Match("github.com") != nil {
			t.Errorf("%q: empty routes matched a host", text)
		}
	}
}

// A file cut anywhere while it is being written in place must never load
// as a different, smaller set of routes.
func TestParseRoutesTruncated(t *testing.T) {
	for n := 0; n < len(sampleRoutes)-1; n++ {
		cut := sampleRoutes[:n]
		rs, err := Parse([]byte(cut))
		if err == nil && rs.Len() > 0 {
			// A cut at a line end can be valid YAML: it must then still be
			// a prefix that holds only whole routes with whole values.
			if !strings.HasSuffix(cut, "\n") {
				t.Errorf("cut at %d without newline accepted", n)
			}
		}
	}
}
