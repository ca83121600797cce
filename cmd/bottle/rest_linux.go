package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// atRest hands back to the kernel what starting took and an idle egress
// does not use: the heap's free pages (a collection, then every free page
// returned), and the pages of this binary that starting mapped, two thirds
// of an idle egress's memory (the package inits of every command in the
// binary run, and the kernel maps a run of file pages at each fault). The
// binary's read-only mappings are dropped with MADV_DONTNEED, which needs
// no right to the file (MADV_PAGEOUT needs its owner, and the egress's user
// is not): no page of them was ever written, so each comes back unchanged
// from the page cache at its next use, and the page cache is the kernel's
// to keep or reclaim.
func atRest() error {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00a07000 r-xp 00000000 08:01 1234 /path/to/bottle
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") || !strings.HasSuffix(fields[1], "p") {
			continue
		}
		from, to, _ := strings.Cut(fields[0], "-")
		lo, err1 := strconv.ParseUint(from, 16, 64)
		hi, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise(MADV_DONTNEED) of %s: %w", fields[0], errno)
		}
	}
	return sc.Err()
}
