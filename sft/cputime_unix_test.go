//go:build unix

package sft

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used so far: on a shared,
// loaded machine CPU time per op is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
