package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// unreadBytes is how many bytes written to pipe w its reader has not read.
func unreadBytes(w *os.File) (int, error) { return unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ) }
