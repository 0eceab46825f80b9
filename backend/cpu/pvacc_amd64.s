#include "textflag.h"

// The PV sum of paged attention over one KV block:
// out[0:d] += p[j] · v[j·stride : j·stride+d] for j = 0..n-1, in that order,
// one fused multiply-add per element and key — exactly what n calls of
// axpyAVX512 (axpyAVX2) compute, with the loop over the keys inside and
// the output kept in registers. stride and d count floats; d is a multiple
// of 16 (AVX-512) or 8 (AVX2).

// func pvAccAVX512(out, p, v *float32, n, stride, d int)
TEXT ·pvAccAVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	MOVQ d+40(FP), R9

chunk32:
	CMPQ R9, $32
	JLT  chunk16
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ CX, R12

keys32:
	TESTQ R12, R12
	JEQ   store32
	VBROADCASTSS (R10), Z15
	VFMADD231PS (R11), Z15, Z0
	VFMADD231PS 64(R11), Z15, Z1
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JMP  keys32

store32:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $128, DI
	ADDQ $128, DX
	SUBQ $32, R9
	JMP  chunk32

chunk16:
	CMPQ R9, $16
	JLT  done512
	VMOVUPS (DI), Z0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ CX, R12

keys16:
	TESTQ R12, R12
	JEQ   store16
	VBROADCASTSS (R10), Z15
	VFMADD231PS (R11), Z15, Z0
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JMP  keys16

store16:
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, DX
	SUBQ $16, R9
	JMP  chunk16

done512:
	VZEROUPPER
	RET

// func pvAccAVX2(out, p, v *float32, n, stride, d int)
TEXT ·pvAccAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	MOVQ d+40(FP), R9

chunk4:
	CMPQ R9, $32
	JLT  chunk1
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ CX, R12

keys4:
	TESTQ R12, R12
	JEQ   store4
	VBROADCASTSS (R10), Y15
	VFMADD231PS (R11), Y15, Y0
	VFMADD231PS 32(R11), Y15, Y1
	VFMADD231PS 64(R11), Y15, Y2
	VFMADD231PS 96(R11), Y15, Y3
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JMP  keys4

store4:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, DX
	SUBQ $32, R9
	JMP  chunk4

chunk1:
	CMPQ R9, $8
	JLT  done2
	VMOVUPS (DI), Y0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ CX, R12

keys1:
	TESTQ R12, R12
	JEQ   store1
	VBROADCASTSS (R10), Y15
	VFMADD231PS (R11), Y15, Y0
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JMP  keys1

store1:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, R9
	JMP  chunk1

done2:
	VZEROUPPER
	RET
