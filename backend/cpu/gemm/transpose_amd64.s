//go:build amd64

#include "textflag.h"

// func transpose8AVX2(n int, src *float32, ld int, dst *float32, stride int, alpha *[8]float32)
//
// For q < n (a multiple of 8) and r < 8: dst[q*stride + r] = alpha[0]·src[r*ld + q].
// Eight rows are loaded eight columns at a time and transposed in registers
// (unpack, shuffle, 128-bit lane permute), so each output row of eight is
// one store instead of eight.
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ stride+32(FP), R9
	SHLQ $2, R9
	MOVQ alpha+40(FP), R13
	LEAQ (R8)(R8*2), R10 // 3 rows
	LEAQ (SI)(R8*4), R11 // row 4
	LEAQ (R9)(R9*2), R12 // 3 output rows
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VMOVUPS (R11), Y4
	VMOVUPS (R11)(R8*1), Y5
	VMOVUPS (R11)(R8*2), Y6
	VMOVUPS (R11)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMULPS (R13), Y8, Y8
	VMULPS (R13), Y9, Y9
	VMULPS (R13), Y10, Y10
	VMULPS (R13), Y11, Y11
	VMULPS (R13), Y12, Y12
	VMULPS (R13), Y13, Y13
	VMULPS (R13), Y14, Y14
	VMULPS (R13), Y15, Y15
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R9*1)
	VMOVUPS Y10, (DI)(R9*2)
	VMOVUPS Y11, (DI)(R12*1)
	LEAQ (DI)(R9*4), DI
	VMOVUPS Y12, (DI)
	VMOVUPS Y13, (DI)(R9*1)
	VMOVUPS Y14, (DI)(R9*2)
	VMOVUPS Y15, (DI)(R12*1)
	LEAQ (DI)(R9*4), DI
	ADDQ $32, SI
	ADDQ $32, R11
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET
