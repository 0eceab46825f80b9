package cpu

import "math"

// expf is a float32 exp accurate to about 2 ulp, several times faster than
// math.Exp on float64: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
// polynomial, 2ⁿ by building the exponent bits.
func expf(x float32) float32 {
	switch {
	case x > 89: // e^x overflows; up to here the ni > 127 branch rounds to +Inf
		return float32(math.Inf(1))
	case x < -103.9:
		return 0
	case x != x:
		return x
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	// Adding and subtracting 1.5·2²³ rounds to the nearest integer in
	// float32 arithmetic (Go never reassociates floating-point operations).
	const round = 12582912
	n := (x*log2e + round) - round
	r := x - n*ln2hi - n*ln2lo
	// e^r = 1 + r + r²·P(r) on [−ln2/2, ln2/2] with P a minimax fit (the
	// Cephes expf coefficients); the vector kernels use the same ones.
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r + 1
	p = p*r + 1
	ni := int32(n)
	if ni < -126 { // subnormal result: scale in two steps
		return p * math.Float32frombits(uint32(ni+126+127)<<23) * math.Float32frombits(1<<23)
	}
	if ni > 127 {
		return p * 2 * math.Float32frombits(uint32(ni-1+127)<<23)
	}
	return p * math.Float32frombits(uint32(ni+127)<<23)
}

// expT is exp for the generic kernels: the fast float32 path, or math.Exp
// for the float64 gradient-check precision.
func expT[T float](x T) T {
	if _, ok := any(x).(float32); ok {
		return T(expf(float32(x)))
	}
	return T(math.Exp(float64(x)))
}
