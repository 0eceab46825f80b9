#include "textflag.h"

// e^x in float64 for ExpSum64 (expsum64.go): lane by lane the exact
// operations of the Go runtime's math.Exp on amd64 with FMA (Shibata's
// method, $GOROOT/src/math/exp_amd64.s), so each lane equals math.Exp's
// result bit for bit. A block holding a lane whose exponent n leaves
// [−1022, 1023] (x below about −708 or above 709, ±Inf, NaN) is not
// computed: the kernel returns how many elements it did before it and the
// Go wrapper takes that block with math.Exp itself. The sum is added one
// element at a time in index order, so it equals the scalar loop's too.

DATA e64<>+0(SB)/8, $1.4426950408889634073599246810018920  // LOG2E
DATA e64<>+8(SB)/8, $0.69314718055966295651160180568695068359375  // LN2U
DATA e64<>+16(SB)/8, $0.28235290563031577122588448175013436025525412068e-12  // LN2L
DATA e64<>+24(SB)/8, $0.0625
DATA e64<>+32(SB)/8, $2.4801587301587301587e-5  // Taylor coefficients, 1/8! … 1/3!
DATA e64<>+40(SB)/8, $1.9841269841269841270e-4
DATA e64<>+48(SB)/8, $1.3888888888888888889e-3
DATA e64<>+56(SB)/8, $8.3333333333333333333e-3
DATA e64<>+64(SB)/8, $4.1666666666666666667e-2
DATA e64<>+72(SB)/8, $1.6666666666666666667e-1
DATA e64<>+80(SB)/8, $0.5
DATA e64<>+88(SB)/8, $1.0
DATA e64<>+96(SB)/8, $2.0
DATA e64<>+104(SB)/8, $1023             // exponent bias (int64)
DATA e64<>+112(SB)/4, $-1022            // n range of the normal path (int32)
DATA e64<>+116(SB)/4, $1023
GLOBL e64<>(SB), RODATA|NOPTR, $120

// func expSum64AVX512(dst *float64, src *float32, n int, t, m, sum float64) (done int, s float64)
// 8 lanes per block; n must be a multiple of 8.
TEXT ·expSum64AVX512(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD t+24(FP), Z16
	VBROADCASTSD m+32(FP), Z17
	VMOVSD sum+40(FP), X15
	VBROADCASTSD e64<>+0(SB), Z18
	VBROADCASTSD e64<>+8(SB), Z19
	VBROADCASTSD e64<>+16(SB), Z20
	VBROADCASTSD e64<>+24(SB), Z21
	VBROADCASTSD e64<>+32(SB), Z22
	VBROADCASTSD e64<>+40(SB), Z23
	VBROADCASTSD e64<>+48(SB), Z24
	VBROADCASTSD e64<>+56(SB), Z25
	VBROADCASTSD e64<>+64(SB), Z26
	VBROADCASTSD e64<>+72(SB), Z27
	VBROADCASTSD e64<>+80(SB), Z28
	VBROADCASTSD e64<>+88(SB), Z29
	VBROADCASTSD e64<>+96(SB), Z30
	VPBROADCASTQ e64<>+104(SB), Z31
	VPBROADCASTD e64<>+112(SB), Y13
	VPBROADCASTD e64<>+116(SB), Y14
	XORQ AX, AX

loop512:
	CMPQ AX, CX
	JGE  done512
	VCVTPS2PD (SI)(AX*4), Z0
	VDIVPD    Z16, Z0, Z0    // x/t
	VSUBPD    Z17, Z0, Z0    // x/t − m
	VMULPD    Z18, Z0, Z1
	VCVTPD2DQ Z1, Y2         // n = round(x·log2 e)
	VPMAXSD   Y13, Y2, Y3
	VPMINSD   Y14, Y3, Y3
	VPCMPEQD  Y2, Y3, Y3
	VPMOVMSKB Y3, DX
	CMPL      DX, $-1
	JNE       done512        // a lane off the normal path: the wrapper takes this block
	VCVTDQ2PD Y2, Z1
	VFNMADD231PD Z19, Z1, Z0 // x −= n·ln2 (high, then low part)
	VFNMADD231PD Z20, Z1, Z0
	VMULPD    Z21, Z0, Z0    // x/16
	VMOVAPD   Z22, Z3        // Taylor polynomial
	VFMADD213PD Z23, Z0, Z3
	VFMADD213PD Z24, Z0, Z3
	VFMADD213PD Z25, Z0, Z3
	VFMADD213PD Z26, Z0, Z3
	VFMADD213PD Z27, Z0, Z3
	VFMADD213PD Z28, Z0, Z3
	VFMADD213PD Z29, Z0, Z3
	VMULPD    Z3, Z0, Z0
	VADDPD    Z30, Z0, Z3    // square back up four times: y·(y+2)
	VMULPD    Z3, Z0, Z0
	VADDPD    Z30, Z0, Z3
	VMULPD    Z3, Z0, Z0
	VADDPD    Z30, Z0, Z3
	VMULPD    Z3, Z0, Z0
	VADDPD    Z30, Z0, Z3
	VFMADD213PD Z29, Z3, Z0  // … + 1
	VPMOVSXDQ Y2, Z4         // 2ⁿ from its bits
	VPADDQ    Z31, Z4, Z4
	VPSLLQ    $52, Z4, Z4
	VMULPD    Z4, Z0, Z0
	VMOVUPD   Z0, (DI)(AX*8)
	VADDSD    (DI)(AX*8), X15, X15
	VADDSD    8(DI)(AX*8), X15, X15
	VADDSD    16(DI)(AX*8), X15, X15
	VADDSD    24(DI)(AX*8), X15, X15
	VADDSD    32(DI)(AX*8), X15, X15
	VADDSD    40(DI)(AX*8), X15, X15
	VADDSD    48(DI)(AX*8), X15, X15
	VADDSD    56(DI)(AX*8), X15, X15
	ADDQ      $8, AX
	JMP       loop512

done512:
	MOVQ   AX, done+48(FP)
	VMOVSD X15, s+56(FP)
	VZEROUPPER
	RET

// func expSum64AVX2(dst *float64, src *float32, n int, t, m, sum float64) (done int, s float64)
// 4 lanes per block; n must be a multiple of 4.
TEXT ·expSum64AVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD t+24(FP), Y8
	VBROADCASTSD m+32(FP), Y9
	VMOVSD sum+40(FP), X15
	VBROADCASTSD e64<>+0(SB), Y10
	VBROADCASTSD e64<>+96(SB), Y11
	VBROADCASTSD e64<>+88(SB), Y12
	VPBROADCASTD e64<>+112(SB), X13
	VPBROADCASTD e64<>+116(SB), X14
	XORQ AX, AX

loop2:
	CMPQ AX, CX
	JGE  done2
	VCVTPS2PD (SI)(AX*4), Y0
	VDIVPD    Y8, Y0, Y0
	VSUBPD    Y9, Y0, Y0
	VMULPD    Y10, Y0, Y1
	VCVTPD2DQY Y1, X2
	VPMAXSD   X13, X2, X3
	VPMINSD   X14, X3, X3
	VPCMPEQD  X2, X3, X3
	VPMOVMSKB X3, DX
	CMPL      DX, $0xffff
	JNE       done2
	VCVTDQ2PD X2, Y1
	VBROADCASTSD e64<>+8(SB), Y3
	VFNMADD231PD Y3, Y1, Y0
	VBROADCASTSD e64<>+16(SB), Y3
	VFNMADD231PD Y3, Y1, Y0
	VBROADCASTSD e64<>+24(SB), Y3
	VMULPD    Y3, Y0, Y0
	VBROADCASTSD e64<>+32(SB), Y3
	VBROADCASTSD e64<>+40(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD e64<>+48(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD e64<>+56(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD e64<>+64(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD e64<>+72(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD e64<>+80(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VFMADD213PD Y12, Y0, Y3
	VMULPD    Y3, Y0, Y0
	VADDPD    Y11, Y0, Y3
	VMULPD    Y3, Y0, Y0
	VADDPD    Y11, Y0, Y3
	VMULPD    Y3, Y0, Y0
	VADDPD    Y11, Y0, Y3
	VMULPD    Y3, Y0, Y0
	VADDPD    Y11, Y0, Y3
	VFMADD213PD Y12, Y3, Y0
	VPMOVSXDQ X2, Y4
	VPBROADCASTQ e64<>+104(SB), Y5
	VPADDQ    Y5, Y4, Y4
	VPSLLQ    $52, Y4, Y4
	VMULPD    Y4, Y0, Y0
	VMOVUPD   Y0, (DI)(AX*8)
	VADDSD    (DI)(AX*8), X15, X15
	VADDSD    8(DI)(AX*8), X15, X15
	VADDSD    16(DI)(AX*8), X15, X15
	VADDSD    24(DI)(AX*8), X15, X15
	ADDQ      $4, AX
	JMP       loop2

done2:
	MOVQ   AX, done+48(FP)
	VMOVSD X15, s+56(FP)
	VZEROUPPER
	RET

// func div64AVX512(x *float64, n int, d float64): x[i] /= d; n a multiple of 8.
TEXT ·div64AVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSD d+16(FP), Z1
	XORQ AX, AX

dloop512:
	CMPQ AX, CX
	JGE  ddone512
	VMOVUPD (DI)(AX*8), Z0
	VDIVPD  Z1, Z0, Z0
	VMOVUPD Z0, (DI)(AX*8)
	ADDQ    $8, AX
	JMP     dloop512

ddone512:
	VZEROUPPER
	RET

// func div64AVX2(x *float64, n int, d float64): x[i] /= d; n a multiple of 4.
TEXT ·div64AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSD d+16(FP), Y1
	XORQ AX, AX

dloop2:
	CMPQ AX, CX
	JGE  ddone2
	VMOVUPD (DI)(AX*8), Y0
	VDIVPD  Y1, Y0, Y0
	VMOVUPD Y0, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     dloop2

ddone2:
	VZEROUPPER
	RET
