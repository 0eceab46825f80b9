package cpu

// fmaPeakAVX512 runs n iterations of 12 independent 16-lane FMAs on
// registers and stores the accumulators (12·16 floats) to out;
// fmaPeakAVX2 the same with 8 lanes. Twelve chains cover the FMA latency
// (4 cycles) times the FMA ports (2) with room to spare.
//
//go:noescape
func fmaPeakAVX512(n int, out *float32)

//go:noescape
func fmaPeakAVX2(n int, out *float32)

// fmaPeakLanes is the number of accumulator lanes of the selected level's
// probe (0: no probe); one iteration is 2·fmaPeakLanes() FLOPs.
func fmaPeakLanes() int {
	switch simd {
	case simdAVX512:
		return 12 * 16
	case simdAVX2:
		return 12 * 8
	}
	return 0
}

// fmaPeakLoop runs n iterations of the selected level's probe; out holds
// fmaPeakLanes() accumulators, each n afterwards.
func fmaPeakLoop(n int, out []float32) {
	if len(out) < fmaPeakLanes() {
		panic("cpu: fmaPeakLoop: out shorter than the probe's accumulators")
	}
	switch simd {
	case simdAVX512:
		fmaPeakAVX512(n, &out[0])
	case simdAVX2:
		fmaPeakAVX2(n, &out[0])
	}
}
