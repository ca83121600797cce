//go:build !linux

package main

import "runtime/debug"

// atRest returns the heap's free pages to the system (rest_linux.go also
// drops the binary's pages that starting touched).
func atRest() error {
	debug.FreeOSMemory()
	return nil
}
