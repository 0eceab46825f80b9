//go:build !unix

package sft

import "time"

// cpuTime is not measured off unix; benchmarks then report 0.
func cpuTime() time.Duration { return 0 }
