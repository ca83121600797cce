//go:build linux && race

package egress

import "syscall"

// Under the race detector rawConn reads and writes through the syscall
// package: it is what tells the detector of happens-before through a socket
// (its annotations are on a variable of its own that no other package can
// reach). Speed does not matter there.

func sysRead(fd uintptr, b []byte) (int, syscall.Errno)  { return errno(syscall.Read(int(fd), b)) }
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) { return errno(syscall.Write(int(fd), b)) }

func errno(n int, err error) (int, syscall.Errno) {
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}
