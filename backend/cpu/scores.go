package cpu

// The attention scores of decoding (PagedAttention) are dot products of a
// query head with key rows, summed in one order fixed here, so that every
// SIMD level — and so every machine — samples the same tokens: sixteen
// lane sums (lane L takes the products of elements ≡ L mod 16, in order,
// each product rounded, then added: no FMA), then halved pairwise, lanes L
// and L+8, L and L+4, L and L+2, L and L+1. Sixteen lanes are one AVX-512
// register and two AVX2 ones, so a key row is read in whole registers and
// no lane needs a horizontal sum until its row's end.

// scoreLanes is the lane count of the score order.
const scoreLanes = 16

// dotScore is the score order's dot product of a and b[:len(a)], the
// reference every kernel reproduces bit for bit and the portable path
// (arm64 among others). Lanes 0–7 and 8–15 sum independent elements, so
// they are run as two passes of eight named variables, which stay in
// registers even where there are only sixteen (amd64 without AVX2). Each
// product is converted before it is added, which keeps the compiler from
// fusing the two (it may on arm64): the kernels round both.
func dotScore(a, b []float32) float32 {
	b = b[:len(a)]
	var s [scoreLanes]float32
	for half := 0; half < scoreLanes; half += scoreLanes / 2 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for i := half; i+scoreLanes/2 <= len(a); i += scoreLanes {
			a, b := a[i:i+8], b[i:i+8]
			s0 += float32(a[0] * b[0])
			s1 += float32(a[1] * b[1])
			s2 += float32(a[2] * b[2])
			s3 += float32(a[3] * b[3])
			s4 += float32(a[4] * b[4])
			s5 += float32(a[5] * b[5])
			s6 += float32(a[6] * b[6])
			s7 += float32(a[7] * b[7])
		}
		s[half], s[half+1], s[half+2], s[half+3] = s0, s1, s2, s3
		s[half+4], s[half+5], s[half+6], s[half+7] = s4, s5, s6, s7
	}
	// The elements past the last whole group of eight, into their lanes.
	for i := len(a) / (scoreLanes / 2) * (scoreLanes / 2); i < len(a); i++ {
		s[i%scoreLanes] += float32(a[i] * b[i])
	}
	for w := scoreLanes / 2; w >= 1; w /= 2 {
		for l := 0; l < w; l++ {
			s[l] += s[l+w]
		}
	}
	return s[0]
}

// scoreRows sets dst[h*ldd+r] = scale·dotScore(q[h*d:][:d], k[r*ldk:][:d])
// for heads query rows h (d apart) and keys key rows r (ldk apart): one
// kv head's keys of a cache block against the query heads that share it.
// Each product scale·dot is rounded once.
func scoreRows(q []float32, heads, d int, k []float32, ldk, keys int, scale float32, dst []float32, ldd int) {
	if heads <= 0 || keys <= 0 {
		return
	}
	if len(q) < heads*d || len(k) < (keys-1)*ldk+d || len(dst) < (heads-1)*ldd+keys {
		panic("cpu: scoreRows: operands out of range")
	}
	done := scoreRowsSIMD(q, heads, d, k, ldk, keys, scale, dst, ldd)
	for r := done; r < keys; r++ {
		krow := k[r*ldk:][:d]
		for h := 0; h < heads; h++ {
			dst[h*ldd+r] = scale * dotScore(q[h*d:][:d], krow)
		}
	}
}
