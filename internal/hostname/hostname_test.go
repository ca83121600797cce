package hostname

import (
	"strings"
	"testing"
)

func TestCheckAccepts(t *testing.T) {
	for in, want := range map[string]string{
		"api.example.com":                "api.example.com",
		"API.Example.COM":                "api.example.com",
		"*.example.com":                  "*.example.com",
		"*.example.co.uk":                "*.example.co.uk",
		"*.githubusercontent.com":        "*.githubusercontent.com", // private section: one company's
		"*.github.io":                    "*.github.io",
		"*.corp.internal":                "*.corp.internal",
		"localhost":                      "localhost",
		"xn--bcher-kva.example":          "xn--bcher-kva.example",
		strings.Repeat("a", 63) + ".com": strings.Repeat("a", 63) + ".com",
	} {
		got, err := Check(in)
		if err != nil || got != want {
			t.Errorf("Check(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "empty host",
		"*.com":                           `"*.com" would match every domain under the public suffix "com"`,
		"*.co.uk":                         `public suffix "co.uk"`,
		"*.CO.UK":                         `public suffix "co.uk"`,
		"*.internal":                      `public suffix "internal"`,
		"*.foo.ck":                        `public suffix "foo.ck"`, // *.ck: every name under ck is a suffix
		"10.0.0.1":                        "is an IP address",
		"[::1]":                           "is an IP address",
		"example.com:443":                 "has a port",
		"https://example.com/":            "is a URL",
		"a.*.example.com":                 `only as a leading "*."`,
		"*example.com":                    `only as a leading "*."`,
		"no_underscores.com":              `'_' is not allowed`,
		"exa mple.com":                    "no spaces",
		"example.com.":                    "drop the trailing dot",
		"a..com":                          "empty label",
		"-a.com":                          "starts or ends with '-'",
		strings.Repeat("a", 64) + ".com":  "longer than 63",
		strings.Repeat("a.", 127) + "com": "longer than 253",
	} {
		_, err := Check(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v; want an error with %q", in, err, want)
		}
	}
}
