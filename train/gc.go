package train

import (
	"os"
	"runtime/debug"
)

// gcTargetBytes is the size of weights from which training runs the
// garbage collector with a tighter target. Go's default (GOGC=100) lets the
// heap grow to twice what is live before it collects; a training step
// frees and reallocates its activations and gradients every step, so a
// 112M model peaked at 5.5–5.7 GB against PyTorch's 5.3 GB. With GOGC=25
// it peaks at 3.7–3.8 GB and runs as fast or faster (210–245 against
// 202–206 tok/s: reused memory is not faulted in and zeroed by the OS
// again); llama-7m 894–932 → 609–611 MB at the same speed. The tensors are
// pointer-free, so a collection costs little however big they are; only at
// the built-in model's size (5 MB of weights, many small tensors) did the
// tighter target cost time (tiny-zero's update 17% slower), hence the
// threshold.
const gcTargetBytes = 16 << 20

// gcPercentLarge is the GOGC used at or above gcTargetBytes.
const gcPercentLarge = 25

// GCTarget sets the collector's target for training a model of
// weightBytes (model.Config.WeightBytes; see gcTargetBytes) unless the user
// set GOGC, and returns what restores the previous target.
func GCTarget(weightBytes int64) (restore func()) {
	if weightBytes < gcTargetBytes || os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(gcPercentLarge)
	return func() { debug.SetGCPercent(prev) }
}
