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
