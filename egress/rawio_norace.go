//go:build linux && !race

package egress

import (
	"syscall"
	"unsafe"
)

func sysRead(fd uintptr, b []byte) (int, syscall.Errno)  { return rawIO(syscall.SYS_READ, fd, b) }
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) { return rawIO(syscall.SYS_WRITE, fd, b) }

// rawIO is read(2) or write(2) without entersyscall: see rawConn.
func rawIO(trap, fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}
