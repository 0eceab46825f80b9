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
// reference every kernel reproduces bit for bit.
func dotScore(a, b []float32) float32 {
	b = b[:len(a)]
	var s [scoreLanes]float32
	for i := range a {
		// The conversion keeps the compiler from fusing the multiply
		// and the add (it may on arm64): the kernels round both.
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
