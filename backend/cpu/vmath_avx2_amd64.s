#include "textflag.h"

// AVX2+FMA versions of the kernels in vmath_avx512_amd64.s, 8 lanes at a
// time; n must be a multiple of 8 (the Go wrappers finish the tail).
// Constants stay in memory and are broadcast where used: AVX2 has only 16
// vector registers. Without VSCALEFPS, 2ⁿ is applied as two factors
// 2^⌊n/2⌋·2^(n−⌊n/2⌋), each a normal float for n in [−150, 128], so that
// overflow gives +Inf and underflow rounds once into the subnormals.

DATA vmc2<>+0(SB)/4, $1.44269504088896341
DATA vmc2<>+4(SB)/4, $0.693359375
DATA vmc2<>+8(SB)/4, $-2.12194440e-4
DATA vmc2<>+12(SB)/4, $1.9875691500e-4
DATA vmc2<>+16(SB)/4, $1.3981999507e-3
DATA vmc2<>+20(SB)/4, $8.3334519073e-3
DATA vmc2<>+24(SB)/4, $4.1665795894e-2
DATA vmc2<>+28(SB)/4, $1.6666665459e-1
DATA vmc2<>+32(SB)/4, $5.0000001201e-1
DATA vmc2<>+36(SB)/4, $1.0
DATA vmc2<>+40(SB)/4, $89.0
DATA vmc2<>+44(SB)/4, $-104.0
DATA vmc2<>+48(SB)/4, $127
GLOBL vmc2<>(SB), RODATA|NOPTR, $52

// EXP replaces Y0 with e^Y0, using Y1..Y3 (Y0 is the second source of the
// clamps, so NaN passes through).
#define EXP \
	VBROADCASTSS vmc2<>+40(SB), Y1; \
	VMINPS Y0, Y1, Y0; \
	VBROADCASTSS vmc2<>+44(SB), Y1; \
	VMAXPS Y0, Y1, Y0; \
	VBROADCASTSS vmc2<>+0(SB), Y1; \
	VMULPS Y1, Y0, Y1; \
	VROUNDPS $0, Y1, Y1; \
	VBROADCASTSS vmc2<>+4(SB), Y2; \
	VFNMADD231PS Y2, Y1, Y0; \
	VBROADCASTSS vmc2<>+8(SB), Y2; \
	VFNMADD231PS Y2, Y1, Y0; \
	VBROADCASTSS vmc2<>+12(SB), Y2; \
	VBROADCASTSS vmc2<>+16(SB), Y3; \
	VFMADD213PS Y3, Y0, Y2; \
	VBROADCASTSS vmc2<>+20(SB), Y3; \
	VFMADD213PS Y3, Y0, Y2; \
	VBROADCASTSS vmc2<>+24(SB), Y3; \
	VFMADD213PS Y3, Y0, Y2; \
	VBROADCASTSS vmc2<>+28(SB), Y3; \
	VFMADD213PS Y3, Y0, Y2; \
	VBROADCASTSS vmc2<>+32(SB), Y3; \
	VFMADD213PS Y3, Y0, Y2; \
	VBROADCASTSS vmc2<>+36(SB), Y3; \
	VFMADD213PS Y3, Y0, Y2; \
	VFMADD213PS Y3, Y0, Y2; \
	VCVTPS2DQ Y1, Y1; \
	VPSRAD $1, Y1, Y3; \
	VPSUBD Y3, Y1, Y1; \
	VPBROADCASTD vmc2<>+48(SB), Y0; \
	VPADDD Y0, Y3, Y3; \
	VPADDD Y0, Y1, Y1; \
	VPSLLD $23, Y3, Y3; \
	VPSLLD $23, Y1, Y1; \
	VMULPS Y3, Y2, Y2; \
	VMULPS Y1, Y2, Y0

// HSUM8 leaves the sum of the 8 lanes of y in the low lane of x.
#define HSUM8(y, x) \
	VEXTRACTF128 $1, y, X1; \
	VADDPS X1, x, x; \
	VMOVHLPS x, x, X1; \
	VADDPS X1, x, x; \
	VMOVSHDUP x, X1; \
	VADDSS X1, x, x

// func expSubSumAVX2(dst, src *float32, n int, m float32) float32
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VXORPS Y14, Y14, Y14

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	EXP
	VMOVUPS Y0, (DI)
	VADDPS  Y0, Y14, Y14
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	HSUM8(Y14, X14)
	VMOVSS X14, ret+32(FP)
	VZEROUPPER
	RET

// func expSumDotAVX2(src *float32, n int, m float32) (s, sz float32)
TEXT ·expSumDotAVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VXORPS Y14, Y14, Y14
	VXORPS Y13, Y13, Y13

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	VMOVAPS Y0, Y4
	EXP
	VADDPS  Y0, Y14, Y14
	VFMADD231PS Y4, Y0, Y13
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     loop

done:
	HSUM8(Y14, X14)
	HSUM8(Y13, X13)
	VMOVSS X14, s+24(FP)
	VMOVSS X13, sz+28(FP)
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32  (n ≥ 8)
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS (SI), Y14

loop:
	CMPQ CX, $8
	JLT  done
	VMAXPS (SI), Y14, Y14
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    loop

done:
	VEXTRACTF128 $1, Y14, X1
	VMAXPS X1, X14, X14
	VMOVHLPS X14, X14, X1
	VMAXPS X1, X14, X14
	VMOVSHDUP X14, X1
	VMAXSS X1, X14, X14
	VMOVSS X14, ret+16(FP)
	VZEROUPPER
	RET

// func swigluAVX2(o, gt, u *float32, n int)
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ gt+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y15, Y15, Y15
	VBROADCASTSS vmc2<>+36(SB), Y14

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y5
	VSUBPS  Y5, Y15, Y0
	EXP
	VADDPS  Y14, Y0, Y0
	VMULPS  (DX), Y5, Y6
	VDIVPS  Y0, Y6, Y6
	VMOVUPS Y6, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func swigluBackwardAVX2(dg, du, d, gt, u *float32, n int)
TEXT ·swigluBackwardAVX2(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R8
	MOVQ d+16(FP), R9
	MOVQ gt+24(FP), SI
	MOVQ u+32(FP), DX
	MOVQ n+40(FP), CX
	VXORPS Y15, Y15, Y15
	VBROADCASTSS vmc2<>+36(SB), Y14

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y5
	VSUBPS  Y5, Y15, Y0
	EXP
	VADDPS  Y14, Y0, Y0
	VDIVPS  Y0, Y14, Y7       // σ
	VMULPS  (R9), Y7, Y8      // d·σ
	VMULPS  Y5, Y8, Y11       // du
	VSUBPS  Y7, Y14, Y9       // 1−σ
	VFMADD213PS Y14, Y5, Y9   // 1 + g(1−σ)
	VMULPS  (DX), Y8, Y8
	VMULPS  Y9, Y8, Y8        // dg
	VMOVUPS Y11, (R8)
	VMOVUPS Y8, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R9
	ADDQ    $32, R8
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func lsmBackwardAVX2(row *float32, n int, l, ng, nge, h float32)
TEXT ·lsmBackwardAVX2(SB), NOSPLIT, $0-32
	MOVQ row+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS l+16(FP), Y15
	VBROADCASTSS ng+20(FP), Y12
	VBROADCASTSS nge+24(FP), Y11
	VBROADCASTSS h+28(FP), Y10
	VBROADCASTSS vmc2<>+44(SB), Y5 // exp's lower clamp: the factor of a −Inf logit stays finite

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (DI), Y0
	VSUBPS  Y15, Y0, Y0
	VMAXPS  Y0, Y5, Y4
	VADDPS  Y10, Y4, Y4
	VFMADD213PS Y12, Y11, Y4
	EXP
	VMULPS  Y4, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func scaleAVX2(x *float32, n int, s float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y15

loop:
	CMPQ CX, $8
	JLT  done
	VMULPS  (DI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func axpyAVX2(y *float32, a float32, x *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	VBROADCASTSS a+8(FP), Y15
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func addAVX2(o, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET
