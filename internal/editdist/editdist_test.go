package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"run", "run", 0}, {"", "abc", 3},
		{"lgo", "log", 1}, // a swap is one edit
		{"imag", "image", 1}, {"kitten", "sitting", 3},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	for _, c := range []struct {
		name       string
		candidates []string
		want       string
	}{
		{"rnu", []string{"run", "check", "test"}, "run"},
		{"ad", []string{"add", "remove"}, "add"},
		{"wirte_inplace", []string{"write_atomic", "write_inplace"}, "write_inplace"},
		{"agnet", []string{"egress", "agent"}, "agent"},
		{"xyz", []string{"run", "check"}, ""},         // nothing near
		{"frobnicate", []string{"force", "json"}, ""}, // far past a third
		{"ab", []string{"b", "a"}, "a"},               // ties: alphabetically first
	} {
		if got := Closest(c.name, c.candidates); got != c.want {
			t.Errorf("Closest(%q, %v) = %q, want %q", c.name, c.candidates, got, c.want)
		}
	}
}
