//go:build !unix

package docker

import (
	"errors"
	"os"
)

func flockNB(*os.File) (bool, error) { return false, errors.New("no flock here") }
