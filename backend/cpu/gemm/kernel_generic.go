package gemm

// kernelGeneric is the portable 4×4 micro-kernel. Sixteen scalar
// accumulators are the most the Go compiler keeps in registers on common
// targets; an array would be spilled to memory on every update.
func kernelGeneric(k int, a, b, c []float32, ldc int, beta float32) {
	a = a[:4*k]
	b = b[:4*k]
	c = c[:3*ldc+4]
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < 4*k; p += 4 {
		ap := a[p : p+4 : p+4]
		bp := b[p : p+4 : p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	store4(c[0:4], beta, c00, c01, c02, c03)
	store4(c[ldc:ldc+4], beta, c10, c11, c12, c13)
	store4(c[2*ldc:2*ldc+4], beta, c20, c21, c22, c23)
	store4(c[3*ldc:3*ldc+4], beta, c30, c31, c32, c33)
}

func store4(c []float32, beta, v0, v1, v2, v3 float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = v0, v1, v2, v3
		return
	}
	c[0] = beta*c[0] + v0
	c[1] = beta*c[1] + v1
	c[2] = beta*c[2] + v2
	c[3] = beta*c[3] + v3
}
