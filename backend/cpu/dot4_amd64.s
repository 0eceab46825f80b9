#include "textflag.h"

// func dot4SSE(a, b *float32, ldb, n int, out *[4]float32)
// out[r] = dot(a[0:n], b[r*ldb : r*ldb+n]) for r = 0..3, n a multiple of 4,
// with exactly the rounding of the Go dot: four lane accumulators (lane j
// sums the products of elements ≡ j mod 4, multiply then add, no FMA), then
// (s0+s1)+(s2+s3). The four rows run in independent registers, which is
// where the speed comes from (the Go loop is bound by its add latency).
TEXT ·dot4SSE(SB), NOSPLIT, $0-40
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ ldb+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DX
	SHLQ $2, R8              // row stride in bytes
	LEAQ (DI)(R8*1), R9      // row 1
	LEAQ (R9)(R8*1), R10     // row 2
	LEAQ (R10)(R8*1), R11    // row 3
	XORPS X0, X0
	XORPS X1, X1
	XORPS X2, X2
	XORPS X3, X3
	XORQ AX, AX
	SHLQ $2, CX              // n in bytes
loop:
	CMPQ AX, CX
	JGE  done
	MOVUPS (SI)(AX*1), X4
	MOVUPS (DI)(AX*1), X5
	MULPS  X4, X5
	ADDPS  X5, X0
	MOVUPS (R9)(AX*1), X6
	MULPS  X4, X6
	ADDPS  X6, X1
	MOVUPS (R10)(AX*1), X7
	MULPS  X4, X7
	ADDPS  X7, X2
	MOVUPS (R11)(AX*1), X8
	MULPS  X4, X8
	ADDPS  X8, X3
	ADDQ $16, AX
	JMP  loop
done:
	// [s0,s1,s2,s3] → (s0+s1)+(s2+s3) with two horizontal adds.
	HADDPS X0, X0
	HADDPS X0, X0
	HADDPS X1, X1
	HADDPS X1, X1
	HADDPS X2, X2
	HADDPS X2, X2
	HADDPS X3, X3
	HADDPS X3, X3
	MOVSS X0, 0(DX)
	MOVSS X1, 4(DX)
	MOVSS X2, 8(DX)
	MOVSS X3, 12(DX)
	RET

// func dot8AVX(a, b *float32, ldb, n int, scale float32, out *[8]float32)
// dot4SSE for eight rows: the same four lane sums per row (multiply, then
// add), two rows to a 256-bit register (row 2i in the low half, 2i+1 in
// the high), so the four 8-lane adds a step retire eight rows' products
// where dot4SSE's four 4-lane adds retired four.
TEXT ·dot8AVX(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ ldb+16(FP), R8
	MOVQ n+24(FP), CX
	SHLQ $2, R8              // row stride in bytes
	LEAQ (DI)(R8*1), R9      // row 1
	LEAQ (DI)(R8*2), R10     // row 2
	LEAQ (R9)(R8*2), R11     // row 3
	LEAQ (DI)(R8*4), R12     // row 4
	LEAQ (R9)(R8*4), R13     // row 5
	LEAQ (R10)(R8*4), R14    // row 6
	LEAQ (R11)(R8*4), R8     // row 7
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX
	SHLQ $2, CX              // n in bytes
loop8:
	CMPQ AX, CX
	JGE  done8
	VBROADCASTF128 (SI)(AX*1), Y8
	VMOVUPS     (DI)(AX*1), X4
	VINSERTF128 $1, (R9)(AX*1), Y4, Y4
	VMULPS      Y8, Y4, Y4
	VADDPS      Y4, Y0, Y0
	VMOVUPS     (R10)(AX*1), X5
	VINSERTF128 $1, (R11)(AX*1), Y5, Y5
	VMULPS      Y8, Y5, Y5
	VADDPS      Y5, Y1, Y1
	VMOVUPS     (R12)(AX*1), X6
	VINSERTF128 $1, (R13)(AX*1), Y6, Y6
	VMULPS      Y8, Y6, Y6
	VADDPS      Y6, Y2, Y2
	VMOVUPS     (R14)(AX*1), X7
	VINSERTF128 $1, (R8)(AX*1), Y7, Y7
	VMULPS      Y8, Y7, Y7
	VADDPS      Y7, Y3, Y3
	ADDQ $16, AX
	JMP  loop8
done8:
	// Each half [s0,s1,s2,s3] → (s0+s1)+(s2+s3), as dot4SSE: two rounds of
	// pairwise adds across the four registers give rows 0,2,4,6 | 1,3,5,7,
	// put in order by one permute.
	// Then times scale, rounded once as Go's scale*dot.
	MOVQ out+40(FP), DX
	VHADDPS Y1, Y0, Y4
	VHADDPS Y3, Y2, Y5
	VHADDPS Y5, Y4, Y6
	VMOVDQU rowOrder<>(SB), Y7
	VPERMPS Y6, Y7, Y6
	VBROADCASTSS scale+32(FP), Y7
	VMULPS Y7, Y6, Y6
	VMOVUPS Y6, (DX)
	VZEROUPPER
	RET

// rowOrder puts rows 0,2,4,6 | 1,3,5,7 back in order (VPERMPS indices).
DATA rowOrder<>+0(SB)/4, $0
DATA rowOrder<>+4(SB)/4, $4
DATA rowOrder<>+8(SB)/4, $1
DATA rowOrder<>+12(SB)/4, $5
DATA rowOrder<>+16(SB)/4, $2
DATA rowOrder<>+20(SB)/4, $6
DATA rowOrder<>+24(SB)/4, $3
DATA rowOrder<>+28(SB)/4, $7
GLOBL rowOrder<>(SB), RODATA|NOPTR, $32

// func dot8x2AVX(a0, a1, b *float32, ldb, n int, scale float32, out0, out1 *[8]float32)
// dot8AVX for two query rows over the same eight key rows (two heads of
// grouped-query attention): each key pair is loaded once for both, and
// each of the sixteen sums rounds as dot8AVX's.
TEXT ·dot8x2AVX(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), SI
	MOVQ a1+8(FP), BX
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	MOVQ n+32(FP), CX
	SHLQ $2, R8              // row stride in bytes
	LEAQ (DI)(R8*1), R9      // row 1
	LEAQ (DI)(R8*2), R10     // row 2
	LEAQ (R9)(R8*2), R11     // row 3
	LEAQ (DI)(R8*4), R12     // row 4
	LEAQ (R9)(R8*4), R13     // row 5
	LEAQ (R10)(R8*4), R14    // row 6
	LEAQ (R11)(R8*4), R8     // row 7
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	SHLQ $2, CX              // n in bytes
loop8x2:
	CMPQ AX, CX
	JGE  done8x2
	VBROADCASTF128 (SI)(AX*1), Y12
	VBROADCASTF128 (BX)(AX*1), Y13
	VMOVUPS     (DI)(AX*1), X8
	VINSERTF128 $1, (R9)(AX*1), Y8, Y8
	VMOVUPS     (R10)(AX*1), X9
	VINSERTF128 $1, (R11)(AX*1), Y9, Y9
	VMOVUPS     (R12)(AX*1), X10
	VINSERTF128 $1, (R13)(AX*1), Y10, Y10
	VMOVUPS     (R14)(AX*1), X11
	VINSERTF128 $1, (R8)(AX*1), Y11, Y11
	VMULPS Y12, Y8, Y14
	VMULPS Y13, Y8, Y15
	VADDPS Y14, Y0, Y0
	VADDPS Y15, Y4, Y4
	VMULPS Y12, Y9, Y14
	VMULPS Y13, Y9, Y15
	VADDPS Y14, Y1, Y1
	VADDPS Y15, Y5, Y5
	VMULPS Y12, Y10, Y14
	VMULPS Y13, Y10, Y15
	VADDPS Y14, Y2, Y2
	VADDPS Y15, Y6, Y6
	VMULPS Y12, Y11, Y14
	VMULPS Y13, Y11, Y15
	VADDPS Y14, Y3, Y3
	VADDPS Y15, Y7, Y7
	ADDQ $16, AX
	JMP  loop8x2
done8x2:
	// Each half [s0,s1,s2,s3] → (s0+s1)+(s2+s3), as dot8AVX.
	// Then times scale, as dot8AVX.
	VMOVDQU rowOrder<>(SB), Y12
	VBROADCASTSS scale+40(FP), Y13
	VHADDPS Y1, Y0, Y8
	VHADDPS Y3, Y2, Y9
	VHADDPS Y9, Y8, Y10
	VPERMPS Y10, Y12, Y10
	VMULPS Y13, Y10, Y10
	MOVQ out0+48(FP), DX
	VMOVUPS Y10, (DX)
	VHADDPS Y5, Y4, Y8
	VHADDPS Y7, Y6, Y9
	VHADDPS Y9, Y8, Y10
	VPERMPS Y10, Y12, Y10
	VMULPS Y13, Y10, Y10
	MOVQ out1+56(FP), DX
	VMOVUPS Y10, (DX)
	VZEROUPPER
	RET

