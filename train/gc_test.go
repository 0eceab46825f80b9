package train

import (
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// Training a model of 16 MiB of weights or more runs the collector at
// GOGC=25 (and restores the previous target after); smaller models, and any
// run whose user set GOGC, keep the target they had.
func TestGCTarget(t *testing.T) {
	t.Setenv("GOGC", "")
	before := gcPercent()
	restore := GCTarget(4 << 20)
	if got := gcPercent(); got != before {
		t.Fatalf("small model: GOGC %d, want %d unchanged", got, before)
	}
	restore()
	restore = GCTarget(20 << 20)
	if got := gcPercent(); got != gcPercentLarge {
		t.Fatalf("large model: GOGC %d, want %d", got, gcPercentLarge)
	}
	restore()
	if got := gcPercent(); got != before {
		t.Fatalf("after restore: GOGC %d, want %d", got, before)
	}
	t.Setenv("GOGC", "80")
	restore = GCTarget(20 << 20)
	if got := gcPercent(); got != before {
		t.Fatalf("GOGC set by the user: target %d, want %d unchanged", got, before)
	}
	restore()
}
