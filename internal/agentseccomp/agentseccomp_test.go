package agentseccomp

import (
	"encoding/json"
	"testing"
)

// The profile refuses setuid/setgid modes: no unconditional allow of a
// guarded call is left in it (a later conditional rule would not narrow it).
func TestProfileHasNoUnconditionalModeCalls(t *testing.T) {
	data, err := Profile()
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []struct {
			Names  []string          `json:"names"`
			Action string            `json:"action"`
			Args   []json.RawMessage `json:"args"`
		} `json:"syscalls"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Fatalf("defaultAction %s", p.DefaultAction)
	}
	seen := map[string]bool{}
	for _, s := range p.Syscalls {
		for _, n := range s.Names {
			_, mode := modeArg[n]
			_, open := createArgs[n]
			if (mode || open) && s.Action == "SCMP_ACT_ALLOW" {
				if len(s.Args) == 0 {
					t.Errorf("%s is allowed whatever its mode", n)
				}
				seen[n] = true
			}
		}
	}
	for _, n := range []string{"chmod", "fchmod", "fchmodat", "open", "openat", "creat"} {
		if !seen[n] {
			t.Errorf("%s is not allowed at all", n)
		}
	}
}
