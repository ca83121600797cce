//go:build !unix

// Package flock takes exclusive flock(2) locks without waiting (unix only).
package flock

import (
	"errors"
	"os"
)

// Try fails: file locks need a unix host.
func Try(*os.File) (bool, error) { return false, errors.New("file locks need a unix host") }
