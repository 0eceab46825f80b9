//go:build !amd64

package cpu

// No FMA probe off amd64: the peak is reported as 0 (not measured).
func fmaPeakLanes() int          { return 0 }
func fmaPeakLoop(int, []float32) {}
