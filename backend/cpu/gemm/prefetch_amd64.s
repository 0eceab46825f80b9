//go:build amd64

#include "textflag.h"

// func prefetchL2(p *float32, lines int)
//
// PREFETCHT1 on lines consecutive 64-byte cache lines from p (lines >= 1).
TEXT ·prefetchL2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX
loop:
	PREFETCHT1 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loop
	RET
