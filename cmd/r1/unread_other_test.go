//go:build !linux

package main

import (
	"errors"
	"os"
)

// unreadBytes: not known off Linux.
func unreadBytes(*os.File) (int, error) { return 0, errors.New("no TIOCINQ") }
