//go:build !unix

package gemm

import "time"

// cpuTime is unavailable here; benchmarks then skip the CPU-time metric.
func cpuTime() time.Duration { return 0 }
