//go:build amd64

#include "textflag.h"

// Paged attention's scores in the order of scores.go: sixteen lane sums
// (multiply, then add), halved pairwise L+8, L+4, L+2, L+1, then times the
// scale. Each kernel takes a chunk of key rows at a time and, for each
// query head, runs the chunk's lane sums side by side — one register (two
// at AVX2) per key — and reduces them together, the halvings done across
// keys by block shuffles so the chunk's scores come out side by side.
// d is a multiple of 16; the q heads are d floats apart; ldk and ldd are
// in floats.

// func scoreRows8AVX512(q *float32, heads, d int, k *float32, ldk, chunks int, scale float32, dst *float32, ldd int)
//
// Eight keys per chunk: accumulators Z0–Z7.
TEXT ·scoreRows8AVX512(SB), NOSPLIT, $0-72
	MOVQ d+16(FP), DX
	SHLQ $2, DX                // d in bytes
	MOVQ k+24(FP), BX          // the chunk's first key row
	MOVQ ldk+32(FP), R9
	SHLQ $2, R9                // key row stride in bytes
	MOVQ chunks+40(FP), R10
	VBROADCASTSS scale+48(FP), Z31
	MOVQ dst+56(FP), R11       // the chunk's scores of head 0
	MOVQ ldd+64(FP), R12
	SHLQ $2, R12               // score row stride in bytes
	VMOVDQU32 keyOrder8<>(SB), Z30
chunk8:
	MOVQ q+0(FP), SI
	MOVQ heads+8(FP), R8
	MOVQ R11, AX
head8:
	MOVQ BX, DI                // rows 0, 1, 2, 4 off DI
	LEAQ (BX)(R9*2), R13
	ADDQ R9, R13               // row 3; rows 5 and 7 off it
	LEAQ (R13)(R9*2), R14
	ADDQ R9, R14               // row 6
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ DX, CX
	SHRQ $6, CX                // steps of sixteen floats
step8:
	VMOVUPS (SI), Z8
	VMULPS (DI), Z8, Z9
	VADDPS Z9, Z0, Z0
	VMULPS (DI)(R9*1), Z8, Z10
	VADDPS Z10, Z1, Z1
	VMULPS (DI)(R9*2), Z8, Z11
	VADDPS Z11, Z2, Z2
	VMULPS (R13), Z8, Z12
	VADDPS Z12, Z3, Z3
	VMULPS (DI)(R9*4), Z8, Z13
	VADDPS Z13, Z4, Z4
	VMULPS (R13)(R9*2), Z8, Z14
	VADDPS Z14, Z5, Z5
	VMULPS (R14), Z8, Z15
	VADDPS Z15, Z6, Z6
	VMULPS (R13)(R9*4), Z8, Z16
	VADDPS Z16, Z7, Z7
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R13
	ADDQ $64, R14
	DECQ CX
	JNZ step8
	// L+8: [a lanes 0–7 | b lanes 0–7] + [a 8–15 | b 8–15] for the key
	// pairs 01, 23, 45, 67.
	VSHUFF64X2 $0x44, Z1, Z0, Z8
	VSHUFF64X2 $0xEE, Z1, Z0, Z9
	VADDPS Z9, Z8, Z8
	VSHUFF64X2 $0x44, Z3, Z2, Z10
	VSHUFF64X2 $0xEE, Z3, Z2, Z11
	VADDPS Z11, Z10, Z10
	VSHUFF64X2 $0x44, Z5, Z4, Z12
	VSHUFF64X2 $0xEE, Z5, Z4, Z13
	VADDPS Z13, Z12, Z12
	VSHUFF64X2 $0x44, Z7, Z6, Z14
	VSHUFF64X2 $0xEE, Z7, Z6, Z15
	VADDPS Z15, Z14, Z14
	// L+4: four keys' lanes 0–3 against their lanes 4–7.
	VSHUFF32X4 $0x88, Z10, Z8, Z0
	VSHUFF32X4 $0xDD, Z10, Z8, Z1
	VADDPS Z1, Z0, Z0          // keys 0 1 2 3, four lanes each
	VSHUFF32X4 $0x88, Z14, Z12, Z2
	VSHUFF32X4 $0xDD, Z14, Z12, Z3
	VADDPS Z3, Z2, Z2          // keys 4 5 6 7
	// L+2, then L+1.
	VSHUFPS $0x44, Z2, Z0, Z4
	VSHUFPS $0xEE, Z2, Z0, Z5
	VADDPS Z5, Z4, Z4          // each block: key i lanes 0 1, key i+4 lanes 0 1
	VMOVSHDUP Z4, Z5
	VADDPS Z5, Z4, Z4          // key i at lane 4i, key i+4 at 4i+2
	VPERMPS Z4, Z30, Z4
	VMULPS Z31, Z4, Z4
	VMOVUPS Y4, (AX)
	ADDQ R12, AX
	DECQ R8
	JNZ head8
	LEAQ (BX)(R9*8), BX
	ADDQ $32, R11
	DECQ R10
	JNZ chunk8
	VZEROUPPER
	RET

// keyOrder8 gathers lanes 0, 4, 8, 12, 2, 6, 10, 14: keys 0–7.
DATA keyOrder8<>+0(SB)/4, $0
DATA keyOrder8<>+4(SB)/4, $4
DATA keyOrder8<>+8(SB)/4, $8
DATA keyOrder8<>+12(SB)/4, $12
DATA keyOrder8<>+16(SB)/4, $2
DATA keyOrder8<>+20(SB)/4, $6
DATA keyOrder8<>+24(SB)/4, $10
DATA keyOrder8<>+28(SB)/4, $14
DATA keyOrder8<>+32(SB)/4, $1
DATA keyOrder8<>+36(SB)/4, $3
DATA keyOrder8<>+40(SB)/4, $5
DATA keyOrder8<>+44(SB)/4, $7
DATA keyOrder8<>+48(SB)/4, $9
DATA keyOrder8<>+52(SB)/4, $11
DATA keyOrder8<>+56(SB)/4, $13
DATA keyOrder8<>+60(SB)/4, $15
GLOBL keyOrder8<>(SB), RODATA|NOPTR, $64

// func scoreRows4AVX2(q *float32, heads, d int, k *float32, ldk, chunks int, scale float32, dst *float32, ldd int)
//
// Four keys per chunk: key r's lanes 0–7 in Y(2r), 8–15 in Y(2r+1).
TEXT ·scoreRows4AVX2(SB), NOSPLIT, $0-72
	MOVQ d+16(FP), DX
	SHLQ $2, DX
	MOVQ k+24(FP), BX
	MOVQ ldk+32(FP), R9
	SHLQ $2, R9
	MOVQ chunks+40(FP), R10
	VBROADCASTSS scale+48(FP), Y15
	MOVQ dst+56(FP), R11
	MOVQ ldd+64(FP), R12
	SHLQ $2, R12
	VMOVDQU keyOrder4<>(SB), Y14
chunk4:
	MOVQ q+0(FP), SI
	MOVQ heads+8(FP), R8
	MOVQ R11, AX
head4:
	MOVQ BX, DI
	LEAQ (BX)(R9*2), R13
	ADDQ R9, R13               // row 3
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ DX, CX
	SHRQ $6, CX
step4:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VMULPS (DI), Y8, Y10
	VADDPS Y10, Y0, Y0
	VMULPS 32(DI), Y9, Y11
	VADDPS Y11, Y1, Y1
	VMULPS (DI)(R9*1), Y8, Y12
	VADDPS Y12, Y2, Y2
	VMULPS 32(DI)(R9*1), Y9, Y13
	VADDPS Y13, Y3, Y3
	VMULPS (DI)(R9*2), Y8, Y10
	VADDPS Y10, Y4, Y4
	VMULPS 32(DI)(R9*2), Y9, Y11
	VADDPS Y11, Y5, Y5
	VMULPS (R13), Y8, Y12
	VADDPS Y12, Y6, Y6
	VMULPS 32(R13), Y9, Y13
	VADDPS Y13, Y7, Y7
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R13
	DECQ CX
	JNZ step4
	// L+8: each key's two registers.
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y5, Y4, Y4
	VADDPS Y7, Y6, Y6
	// L+4: [key0 0–3 | key1 0–3] + [key0 4–7 | key1 4–7], keys 2 3 alike.
	VPERM2F128 $0x20, Y2, Y0, Y8
	VPERM2F128 $0x31, Y2, Y0, Y9
	VADDPS Y9, Y8, Y8
	VPERM2F128 $0x20, Y6, Y4, Y10
	VPERM2F128 $0x31, Y6, Y4, Y11
	VADDPS Y11, Y10, Y10
	// L+2, then L+1.
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VADDPS Y1, Y0, Y0
	VMOVSHDUP Y0, Y1
	VADDPS Y1, Y0, Y0          // key 0 at lane 0, 2 at 2, 1 at 4, 3 at 6
	VPERMPS Y0, Y14, Y0
	VMULPS X15, X0, X0
	VMOVUPS X0, (AX)
	ADDQ R12, AX
	DECQ R8
	JNZ head4
	LEAQ (BX)(R9*4), BX
	ADDQ $16, R11
	DECQ R10
	JNZ chunk4
	VZEROUPPER
	RET

// keyOrder4 gathers lanes 0, 4, 2, 6: keys 0–3.
DATA keyOrder4<>+0(SB)/4, $0
DATA keyOrder4<>+4(SB)/4, $4
DATA keyOrder4<>+8(SB)/4, $2
DATA keyOrder4<>+12(SB)/4, $6
DATA keyOrder4<>+16(SB)/4, $1
DATA keyOrder4<>+20(SB)/4, $3
DATA keyOrder4<>+24(SB)/4, $5
DATA keyOrder4<>+28(SB)/4, $7
GLOBL keyOrder4<>(SB), RODATA|NOPTR, $32
