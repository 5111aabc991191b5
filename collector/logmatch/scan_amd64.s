//go:build amd64 && !purego

#include "textflag.h"

// scanUsual decides, as the Go fast path in Match does, whether a line with
// the usual timestamps can hold a built-in event. See scan.go for what it
// returns and prefilter.go for why skipping the timestamps on their loose
// shapes is enough.
//
// The message is read in 16-byte chunks at offsets 0, 16, 32 and 48 (with
// AVX2, 32-byte chunks at 0 and 32), the last ones moved back to end one
// byte before the message does, so that the byte after each chunk, which
// the anchor test needs, is in the line. The last 32 bytes are read only
// when the first 32 cannot decide. Each chunk gives bit masks, shifted to
// its offset:
//	R8  spaces
//	R9  colons
//	R10 where an anchor's first two bytes are
// The prefix chain then is: P = spaces after a colon ("component: "), the
// first space not in P ends it, and builtin looks for an anchor at 0 and
// after each space before that one. Words of any length and any number of
// prefixes count, which only lets more lines through to the exact path.

// CHUNK adds the masks of the 16 bytes at SI+CX to R8, R9 and R10.
// X8, X9: spaces and colons; X10-X14: the anchors' first two bytes as
// 16-bit words, compared with X0 for anchors at even offsets and with X1
// (one byte on) for odd ones. Clobbers AX, DX, X0-X4.
#define CHUNK \
	MOVOU	(SI)(CX*1), X0 \
	MOVOU	1(SI)(CX*1), X1 \
	MOVO	X0, X2 \
	PCMPEQB	X8, X2 \
	PMOVMSKB X2, AX \
	SHLQ	CX, AX \
	ORQ	AX, R8 \
	MOVO	X0, X2 \
	PCMPEQB	X9, X2 \
	PMOVMSKB X2, AX \
	SHLQ	CX, AX \
	ORQ	AX, R9 \
	MOVO	X0, X2 \
	PCMPEQW	X10, X2 \
	MOVO	X0, X3 \
	PCMPEQW	X11, X3 \
	POR	X3, X2 \
	MOVO	X0, X3 \
	PCMPEQW	X12, X3 \
	POR	X3, X2 \
	MOVO	X0, X3 \
	PCMPEQW	X13, X3 \
	POR	X3, X2 \
	PCMPEQW	X14, X0 \
	POR	X0, X2 \
	MOVO	X1, X3 \
	PCMPEQW	X10, X3 \
	MOVO	X1, X4 \
	PCMPEQW	X11, X4 \
	POR	X4, X3 \
	MOVO	X1, X4 \
	PCMPEQW	X12, X4 \
	POR	X4, X3 \
	MOVO	X1, X4 \
	PCMPEQW	X13, X4 \
	POR	X4, X3 \
	PCMPEQW	X14, X1 \
	POR	X1, X3 \
	PMOVMSKB X2, AX \
	ANDL	$0x5555, AX \
	PMOVMSKB X3, DX \
	ANDL	$0x5555, DX \
	LEAL	(AX)(DX*2), AX \
	SHLQ	CX, AX \
	ORQ	AX, R10

// CHUNK32 is CHUNK for the 32 bytes at SI+CX, with AVX2: Y8-Y14 hold
// what X8-X14 do, twice. Clobbers AX, DX, Y0-Y4.
#define CHUNK32 \
	VMOVDQU	(SI)(CX*1), Y0 \
	VMOVDQU	1(SI)(CX*1), Y1 \
	VPCMPEQB Y8, Y0, Y2 \
	VPMOVMSKB Y2, AX \
	SHLQ	CX, AX \
	ORQ	AX, R8 \
	VPCMPEQB Y9, Y0, Y2 \
	VPMOVMSKB Y2, AX \
	SHLQ	CX, AX \
	ORQ	AX, R9 \
	VPCMPEQW Y10, Y0, Y2 \
	VPCMPEQW Y11, Y0, Y3 \
	VPOR	Y3, Y2, Y2 \
	VPCMPEQW Y12, Y0, Y3 \
	VPOR	Y3, Y2, Y2 \
	VPCMPEQW Y13, Y0, Y3 \
	VPOR	Y3, Y2, Y2 \
	VPCMPEQW Y14, Y0, Y3 \
	VPOR	Y3, Y2, Y2 \
	VPCMPEQW Y10, Y1, Y3 \
	VPCMPEQW Y11, Y1, Y4 \
	VPOR	Y4, Y3, Y3 \
	VPCMPEQW Y12, Y1, Y4 \
	VPOR	Y4, Y3, Y3 \
	VPCMPEQW Y13, Y1, Y4 \
	VPOR	Y4, Y3, Y3 \
	VPCMPEQW Y14, Y1, Y4 \
	VPOR	Y4, Y3, Y3 \
	VPMOVMSKB Y2, AX \
	ANDL	$0x55555555, AX \
	VPMOVMSKB Y3, DX \
	ANDL	$0x55555555, DX \
	LEAL	(AX)(DX*2), AX \
	SHLQ	CX, AX \
	ORQ	AX, R10

// func scanUsual(line []byte, t *scanTable) int
TEXT ·scanUsual(SB), NOSPLIT, $0-40
	MOVQ	line_base+0(FP), SI
	MOVQ	line_len+8(FP), BX
	MOVQ	t+24(FP), DI

	// Kubernetes timestamp: bytes 0-15 and 15-30 (t.kube).
	MOVOU	0(SI), X0
	MOVOU	15(SI), X1
	MOVO	X1, X6
	MOVOU	0(DI), X2
	MOVOU	16(DI), X3
	MOVOU	32(DI), X4
	MOVOU	48(DI), X5
	PAND	X2, X0
	PCMPEQB	X3, X0
	PMOVMSKB X0, AX
	PAND	X4, X1
	PCMPEQB	X5, X1
	PMOVMSKB X1, DX
	CMPL	AX, $0xffff
	JNE	undecided
	CMPL	DX, $0xffff
	JNE	fraction
	ADDQ	$31, SI
	SUBQ	$31, BX

goLog:
	// Go log timestamp (t.goLog). 20 bytes are left: scanMinLen.
	MOVOU	0(SI), X0
	MOVOU	4(SI), X1
	MOVOU	64(DI), X2
	MOVOU	80(DI), X3
	MOVOU	96(DI), X4
	MOVOU	112(DI), X5
	PAND	X2, X0
	PAND	X4, X1
	PCMPEQB	X3, X0
	PCMPEQB	X5, X1
	PAND	X1, X0
	PMOVMSKB X0, AX
	CMPL	AX, $0xffff
	JNE	noGoLog
	ADDQ	$20, SI
	SUBQ	$20, BX
	JMP	window

noGoLog:
	// What may be another timestamp or a journald prefix is the Go
	// code's; anything else is the message.
	MOVBLZX	4(SI), AX
	CMPL	AX, $'/'
	JEQ	undecided
	MOVBLZX	0(SI), AX
	SUBL	$'A', AX
	CMPL	AX, $25
	JLS	undecided
	JMP	window

fraction:
	// A fraction of fewer than nine digits, as RFC 3339 drops trailing
	// zeros: the timestamp ends at its first space, behind a 'Z'. Bytes
	// 15-18 must still fit the shape (so they hold no space); the
	// fraction's bytes need not (skipPrefixes in prefilter.go does the same).
	ANDL	$0xf, DX
	CMPL	DX, $0xf
	JNE	undecided
	MOVOU	128(DI), X7
	PCMPEQB	X7, X6
	PMOVMSKB X6, AX
	BSFL	AX, AX
	JZ	undecided
	CMPB	14(SI)(AX*1), $'Z'
	JNE	undecided
	LEAQ	16(SI)(AX*1), SI
	SUBQ	AX, BX
	SUBQ	$16, BX
	JMP	goLog

window:
	// SI: the message; BX: its length.
	CMPQ	BX, $17
	JLT	undecided
	XORQ	R8, R8
	XORQ	R9, R9
	XORQ	R10, R10
	LEAQ	-1(BX), R12 // the window cannot reach further
	CMPB	240(DI), $0
	JEQ	sse2
	CMPQ	BX, $33
	JLT	sse2
	VBROADCASTI128 128(DI), Y8
	VBROADCASTI128 144(DI), Y9
	VBROADCASTI128 160(DI), Y10
	VBROADCASTI128 176(DI), Y11
	VBROADCASTI128 192(DI), Y12
	VBROADCASTI128 208(DI), Y13
	VBROADCASTI128 224(DI), Y14
	LEAQ	-33(BX), R11 // the last chunk's offset
	MOVQ	$2, BX       // 32 bytes more may follow, with AVX2
	XORQ	CX, CX
	CHUNK32
	MOVQ	$32, R13 // the window's end
	JMP	decide

sse2:
	MOVOU	128(DI), X8
	MOVOU	144(DI), X9
	MOVOU	160(DI), X10
	MOVOU	176(DI), X11
	MOVOU	192(DI), X12
	MOVOU	208(DI), X13
	MOVOU	224(DI), X14
	LEAQ	-17(BX), R11 // the last chunk's offset
	MOVQ	$1, BX       // 32 bytes more may follow
	XORQ	CX, CX
	CHUNK
	MOVQ	$16, CX
	CMPQ	CX, R11
	CMOVQGT	R11, CX
	CHUNK
	LEAQ	16(CX), R13 // the window's end

decide:
	MOVQ	R9, AX
	SHLQ	$1, AX
	ANDQ	R8, AX // P
	MOVQ	R8, DX
	XORQ	AX, DX // spaces that end the chain
	JZ	chain
	BSFQ	DX, CX
	MOVQ	$1, AX
	SHLQ	CX, AX
	DECQ	AX
	ANDQ	R8, AX // the chain's spaces
	SHLQ	$1, AX
	ORQ	$1, AX // where builtin looks for an anchor
	TESTQ	R10, AX
	JNZ	maybe
	JMP	none

chain:
	// Every space in the window is a prefix's.
	MOVQ	R8, AX
	SHLQ	$1, AX
	ORQ	$1, AX
	TESTQ	R10, AX
	JNZ	maybe
	CMPQ	R13, R12
	JGE	none // the window holds the message but its last byte
	CMPQ	BX, $1
	JLT	beyond
	JGT	more32
	XORQ	BX, BX
	MOVQ	$32, CX
	CMPQ	CX, R11
	CMOVQGT	R11, CX
	CHUNK
	MOVQ	$48, CX
	CMPQ	CX, R11
	CMOVQGT	R11, CX
	CHUNK
	LEAQ	16(CX), R13
	JMP	decide

more32:
	XORQ	BX, BX
	MOVQ	$32, CX
	CMPQ	CX, R11
	CMOVQGT	R11, CX
	CHUNK32
	LEAQ	32(CX), R13
	JMP	decide

beyond:
	// The message goes on past 64 bytes. builtin looks for the space
	// after a word within 34 bytes of its start, so after a last space
	// before byte 30 it stops at the word that follows.
	BSRQ	R8, AX
	JZ	none
	CMPQ	AX, $30
	JLT	none

undecided:
	MOVQ	$2, ret+32(FP)
	JMP	done

none:
	MOVQ	$0, ret+32(FP)
	JMP	done

maybe:
	MOVQ	$1, ret+32(FP)

done:
	// Leave no dirty upper halves to the SSE code that follows.
	CMPB	240(DI), $0
	JEQ	2(PC)
	VZEROUPPER
	RET
