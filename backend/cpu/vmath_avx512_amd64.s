#include "textflag.h"

// Vectorised float32 math for the non-GEMM kernels (see vmath.go for the
// algorithm and vmath_amd64.go for the Go declarations). AVX-512F only:
// VSCALEFPS builds 2ⁿ·p with correct overflow to +Inf and gradual
// underflow to subnormals, so no special-case branches are needed.
// The tail (n mod 16 elements) runs under a lane mask.

// Constants, each one float32 broadcast into a register by LOADC.
DATA vmc<>+0(SB)/4, $1.44269504088896341    // log2(e)
DATA vmc<>+4(SB)/4, $0.693359375            // ln2 high part (exact n·ln2hi)
DATA vmc<>+8(SB)/4, $-2.12194440e-4         // ln2 low part
DATA vmc<>+12(SB)/4, $1.9875691500e-4       // e^r ≈ 1 + r + r²·P(r), P's coefficients
DATA vmc<>+16(SB)/4, $1.3981999507e-3
DATA vmc<>+20(SB)/4, $8.3334519073e-3
DATA vmc<>+24(SB)/4, $4.1665795894e-2
DATA vmc<>+28(SB)/4, $1.6666665459e-1
DATA vmc<>+32(SB)/4, $5.0000001201e-1
DATA vmc<>+36(SB)/4, $1.0
DATA vmc<>+40(SB)/4, $89.0                  // above: exp overflows to +Inf anyway
DATA vmc<>+44(SB)/4, $-104.0                // below: exp underflows to 0 anyway
DATA vmc<>+48(SB)/4, $0.0
DATA vmc<>+52(SB)/4, $0.0
DATA vmc<>+56(SB)/4, $0.0
DATA vmc<>+60(SB)/4, $0.0
GLOBL vmc<>(SB), RODATA|NOPTR, $64

// LOADC fills Z16..Z27 with the constants above.
#define LOADC \
	VBROADCASTSS vmc<>+0(SB), Z16; \
	VBROADCASTSS vmc<>+4(SB), Z17; \
	VBROADCASTSS vmc<>+8(SB), Z18; \
	VBROADCASTSS vmc<>+12(SB), Z19; \
	VBROADCASTSS vmc<>+16(SB), Z20; \
	VBROADCASTSS vmc<>+20(SB), Z21; \
	VBROADCASTSS vmc<>+24(SB), Z22; \
	VBROADCASTSS vmc<>+28(SB), Z23; \
	VBROADCASTSS vmc<>+32(SB), Z24; \
	VBROADCASTSS vmc<>+36(SB), Z25; \
	VBROADCASTSS vmc<>+40(SB), Z26; \
	VBROADCASTSS vmc<>+44(SB), Z27

// EXP replaces x with e^x; n and p are scratch. The clamps keep NaN (x is
// the second source of VMINPS/VMAXPS, which is what they return on NaN).
// x = n·ln2 + r, |r| ≤ ln2/2; e^x = 2ⁿ·(1 + r + r²·P(r)).
#define EXP(x, n, p) \
	VMINPS x, Z26, x; \
	VMAXPS x, Z27, x; \
	VMULPS Z16, x, n; \
	VRNDSCALEPS $0, n, n; \
	VFNMADD231PS Z17, n, x; \
	VFNMADD231PS Z18, n, x; \
	VMOVAPS Z19, p; \
	VFMADD213PS Z20, x, p; \
	VFMADD213PS Z21, x, p; \
	VFMADD213PS Z22, x, p; \
	VFMADD213PS Z23, x, p; \
	VFMADD213PS Z24, x, p; \
	VFMADD213PS Z25, x, p; \
	VFMADD213PS Z25, x, p; \
	VSCALEFPS n, p, x

// HSUM leaves the sum of the 16 lanes of z in the low lane of its X form.
#define HSUM(z, y, x) \
	VEXTRACTF64X4 $1, z, Y1; \
	VADDPS Y1, y, y; \
	VEXTRACTF128 $1, y, X1; \
	VADDPS X1, x, x; \
	VMOVHLPS x, x, X1; \
	VADDPS X1, x, x; \
	VMOVSHDUP x, X1; \
	VADDSS X1, x, x

// TAILMASK sets K1 to the low CX bits.
#define TAILMASK \
	MOVL $1, AX; \
	SHLL CX, AX; \
	DECL AX; \
	KMOVW AX, K1

// func expSubSumAVX512(dst, src *float32, n int, m float32) float32
TEXT ·expSubSumAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Z15
	LOADC
	VXORPS Z14, Z14, Z14
	VXORPS Z13, Z13, Z13

loop32:
	CMPQ CX, $32
	JLT  loop16
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z3
	VSUBPS  Z15, Z0, Z0
	VSUBPS  Z15, Z3, Z3
	EXP(Z0, Z1, Z2)
	EXP(Z3, Z4, Z5)
	VMOVUPS Z0, (DI)
	VMOVUPS Z3, 64(DI)
	VADDPS  Z0, Z14, Z14
	VADDPS  Z3, Z13, Z13
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     loop32

loop16:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (SI), Z0
	VSUBPS  Z15, Z0, Z0
	EXP(Z0, Z1, Z2)
	VMOVUPS Z0, (DI)
	VADDPS  Z0, Z14, Z14
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS    Z15, Z0, Z0
	EXP(Z0, Z1, Z2)
	VMOVUPS   Z0, K1, (DI)
	VADDPS    Z0, Z14, K1, Z14

done:
	VADDPS Z13, Z14, Z14
	HSUM(Z14, Y14, X14)
	VMOVSS X14, ret+32(FP)
	VZEROUPPER
	RET

// func expSumDotAVX512(src *float32, n int, m float32) (s, sz float32)
// s = Σ e^(x−m), sz = Σ e^(x−m)·(x−m).
TEXT ·expSumDotAVX512(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Z15
	LOADC
	VXORPS Z14, Z14, Z14
	VXORPS Z13, Z13, Z13

loop:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (SI), Z0
	VSUBPS  Z15, Z0, Z0
	VMOVAPS Z0, Z3
	EXP(Z0, Z1, Z2)
	VADDPS  Z0, Z14, Z14
	VFMADD231PS Z3, Z0, Z13
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     loop

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS    Z15, Z0, Z0
	VMOVAPS   Z0, Z3
	EXP(Z0, Z1, Z2)
	VADDPS    Z0, Z14, K1, Z14
	VFMADD231PS Z3, Z0, K1, Z13

done:
	HSUM(Z14, Y14, X14)
	HSUM(Z13, Y13, X13)
	VMOVSS X14, s+24(FP)
	VMOVSS X13, sz+28(FP)
	VZEROUPPER
	RET

// func maxAVX512(x *float32, n int) float32  (n ≥ 1)
TEXT ·maxAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS (SI), Z14
	VMOVAPS Z14, Z13

loop:
	CMPQ CX, $32
	JLT  loop16
	VMAXPS (SI), Z14, Z14
	VMAXPS 64(SI), Z13, Z13
	ADDQ   $128, SI
	SUBQ   $32, CX
	JMP    loop

loop16:
	CMPQ CX, $16
	JLT  tail
	VMAXPS (SI), Z14, Z14
	ADDQ   $64, SI
	SUBQ   $16, CX

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VMAXPS    Z0, Z14, K1, Z14

done:
	VMAXPS Z13, Z14, Z14
	VEXTRACTF64X4 $1, Z14, Y1
	VMAXPS Y1, Y14, Y14
	VEXTRACTF128 $1, Y14, X1
	VMAXPS X1, X14, X14
	VMOVHLPS X14, X14, X1
	VMAXPS X1, X14, X14
	VMOVSHDUP X14, X1
	VMAXSS X1, X14, X14
	VMOVSS X14, ret+16(FP)
	VZEROUPPER
	RET

// func swigluAVX512(o, gt, u *float32, n int)
// o = g·u/(1+e^−g).
TEXT ·swigluAVX512(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ gt+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	LOADC
	VXORPS Z15, Z15, Z15

loop:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (SI), Z5
	VSUBPS  Z5, Z15, Z0
	EXP(Z0, Z1, Z2)
	VADDPS  Z25, Z0, Z0
	VMULPS  (DX), Z5, Z6
	VDIVPS  Z0, Z6, Z6
	VMOVUPS Z6, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     loop

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (SI), K1, Z5
	VMOVUPS.Z (DX), K1, Z7
	VSUBPS  Z5, Z15, Z0
	EXP(Z0, Z1, Z2)
	VADDPS  Z25, Z0, Z0
	VMULPS  Z7, Z5, Z6
	VDIVPS  Z0, Z6, Z6
	VMOVUPS Z6, K1, (DI)

done:
	VZEROUPPER
	RET

// func swigluBackwardAVX512(dg, du, d, gt, u *float32, n int)
// σ = 1/(1+e^−g); du = d·g·σ; dg = d·u·σ·(1 + g·(1−σ)).
TEXT ·swigluBackwardAVX512(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R8
	MOVQ d+16(FP), R9
	MOVQ gt+24(FP), SI
	MOVQ u+32(FP), DX
	MOVQ n+40(FP), CX
	LOADC
	VXORPS Z15, Z15, Z15

loop:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (SI), Z5
	VMOVUPS (DX), Z6
	VMOVUPS (R9), Z10
	VSUBPS  Z5, Z15, Z0
	EXP(Z0, Z1, Z2)
	VADDPS  Z25, Z0, Z0
	VDIVPS  Z0, Z25, Z7       // σ
	VMULPS  Z7, Z10, Z8       // d·σ
	VMULPS  Z5, Z8, Z11       // du
	VSUBPS  Z7, Z25, Z9       // 1−σ
	VFMADD213PS Z25, Z5, Z9   // 1 + g(1−σ)
	VMULPS  Z6, Z8, Z8
	VMULPS  Z9, Z8, Z8        // dg
	VMOVUPS Z11, (R8)
	VMOVUPS Z8, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, R9
	ADDQ    $64, R8
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     loop

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (SI), K1, Z5
	VMOVUPS.Z (DX), K1, Z6
	VMOVUPS.Z (R9), K1, Z10
	VSUBPS  Z5, Z15, Z0
	EXP(Z0, Z1, Z2)
	VADDPS  Z25, Z0, Z0
	VDIVPS  Z0, Z25, Z7
	VMULPS  Z7, Z10, Z8
	VMULPS  Z5, Z8, Z11
	VSUBPS  Z7, Z25, Z9
	VFMADD213PS Z25, Z5, Z9
	VMULPS  Z6, Z8, Z8
	VMULPS  Z9, Z8, Z8
	VMOVUPS Z11, K1, (R8)
	VMOVUPS Z8, K1, (DI)

done:
	VZEROUPPER
	RET

// func lsmBackwardAVX512(row *float32, n int, l, ng, nge, h float32)
// logp = x − l; row = e^logp·(ng + nge·(logp + h)). The factor uses logp
// clamped at −104 (where e^logp is 0), so a −Inf logit gives 0, not 0·−Inf.
TEXT ·lsmBackwardAVX512(SB), NOSPLIT, $0-32
	MOVQ row+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS l+16(FP), Z15
	VBROADCASTSS ng+20(FP), Z12
	VBROADCASTSS nge+24(FP), Z11
	VBROADCASTSS h+28(FP), Z10
	LOADC

loop:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (DI), Z0
	VSUBPS  Z15, Z0, Z0
	VMAXPS  Z0, Z27, Z3
	VADDPS  Z10, Z3, Z3
	VFMADD213PS Z12, Z11, Z3
	EXP(Z0, Z1, Z2)
	VMULPS  Z3, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     loop

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (DI), K1, Z0
	VSUBPS  Z15, Z0, Z0
	VMAXPS  Z0, Z27, Z3
	VADDPS  Z10, Z3, Z3
	VFMADD213PS Z12, Z11, Z3
	EXP(Z0, Z1, Z2)
	VMULPS  Z3, Z0, Z0
	VMOVUPS Z0, K1, (DI)

done:
	VZEROUPPER
	RET

// func scaleAVX512(x *float32, n int, s float32)
TEXT ·scaleAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z15

loop:
	CMPQ CX, $16
	JLT  tail
	VMULPS  (DI), Z15, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     loop

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (DI), K1, Z0
	VMULPS    Z0, Z15, Z0
	VMOVUPS   Z0, K1, (DI)

done:
	VZEROUPPER
	RET

// func axpyAVX512(y *float32, a float32, x *float32, n int)
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	VBROADCASTSS a+8(FP), Z15
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX

loop:
	CMPQ CX, $32
	JLT  loop16
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VFMADD231PS (SI), Z15, Z0
	VFMADD231PS 64(SI), Z15, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     loop

loop16:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (DI), Z0
	VFMADD231PS (SI), Z15, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	SUBQ    $16, CX

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z (SI), K1, Z1
	VFMADD231PS Z1, Z15, Z0
	VMOVUPS Z0, K1, (DI)

done:
	VZEROUPPER
	RET

// func addAVX512(o, a, b *float32, n int)
TEXT ·addAVX512(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX

loop:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (SI), Z0
	VADDPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	ADDQ    $64, DX
	SUBQ    $16, CX
	JMP     loop

tail:
	TESTQ CX, CX
	JEQ   done
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DX), K1, Z1
	VADDPS    Z1, Z0, Z0
	VMOVUPS   Z0, K1, (DI)

done:
	VZEROUPPER
	RET
