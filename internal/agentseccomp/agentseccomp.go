// Package agentseccomp is the agent's seccomp profile: Docker's default
// (github.com/moby/profiles/seccomp) that also refuses, with EPERM, to make
// a file setuid or setgid. The agent runs as the workspace's owner, so a
// setuid file it made in the host directory would run as that owner (root,
// for a root agent) for any host user who runs it. As systemd's
// RestrictSUIDSGID: chmod and its kin, and creating a file (open with
// O_CREAT, creat, mknod) with S_ISUID or S_ISGID in the mode.
package agentseccomp

import (
	"encoding/json"
	"slices"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	setIDBits = 0o6000 // S_ISUID | S_ISGID
	oCreat    = 0o100  // O_CREAT on Linux
	enosys    = 38
)

// modeArg is the mode argument's index of each call that sets a file's mode.
var modeArg = map[string]uint{
	"chmod": 1, "fchmod": 1, "fchmodat": 2, "fchmodat2": 2,
	"creat": 1, "mknod": 1, "mknodat": 2,
}

// createArgs are the flags and mode arguments' indexes of the open calls.
var createArgs = map[string][2]uint{"open": {1, 2}, "openat": {2, 3}}

// Profile is the profile's JSON, for security_opt seccomp=FILE.
func Profile() ([]byte, error) {
	p := seccomp.DefaultProfile()
	guarded := func(name string) bool {
		_, mode := modeArg[name]
		_, open := createArgs[name]
		return mode || open || name == "openat2"
	}
	kept := p.Syscalls[:0]
	for _, s := range p.Syscalls {
		s.Names = slices.DeleteFunc(slices.Clone(s.Names), guarded)
		if len(s.Names) > 0 {
			kept = append(kept, s)
		}
	}
	p.Syscalls = kept
	// Allowed only when the mode has neither bit (one masked comparison);
	// the default action (EPERM) refuses the rest.
	noSetID := func(index uint) []specs.LinuxSeccompArg {
		return []specs.LinuxSeccompArg{{Index: index, Value: setIDBits, ValueTwo: 0, Op: specs.OpMaskedEqual}}
	}
	allow := func(name string, args []specs.LinuxSeccompArg) *seccomp.Syscall {
		return &seccomp.Syscall{LinuxSyscall: specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow, Args: args}}
	}
	for _, name := range sortedKeys(modeArg) {
		p.Syscalls = append(p.Syscalls, allow(name, noSetID(modeArg[name])))
	}
	for _, name := range sortedKeys(createArgs) {
		a := createArgs[name]
		noCreate := []specs.LinuxSeccompArg{{Index: a[0], Value: oCreat, ValueTwo: 0, Op: specs.OpMaskedEqual}}
		// Two rules for one call: either lets it through.
		p.Syscalls = append(p.Syscalls, allow(name, noCreate), allow(name, noSetID(a[1])))
	}
	// openat2's mode is in a struct seccomp cannot read: ENOSYS, so libc
	// and programs fall back to openat.
	errno := uint(enosys)
	p.Syscalls = append(p.Syscalls, &seccomp.Syscall{LinuxSyscall: specs.LinuxSyscall{Names: []string{"openat2"}, Action: specs.ActErrno, ErrnoRet: &errno}})
	return json.Marshal(p) // one line: docker inspect shows it inline
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
