#include "textflag.h"

// func rdtsc() uint64
// LFENCE keeps the read from being executed before earlier loads retire, so
// a stamp taken after a receive syscall cannot drift ahead of it.
TEXT ·rdtsc(SB), NOSPLIT|NOFRAME, $0-8
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func rdtscRaw() uint64
TEXT ·rdtscRaw(SB), NOSPLIT|NOFRAME, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func rdtscp() (tsc uint64, aux uint32)
TEXT ·rdtscp(SB), NOSPLIT|NOFRAME, $0-12
	RDTSCP
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, tsc+0(FP)
	MOVL CX, aux+8(FP)
	RET

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT|NOFRAME, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func xenForcedCpuid(leaf, sub uint32) (a, b, c, d uint32)
// Xen's forced-emulation prefix (ud2a; "xen"; cpuid): a PV guest without
// CPUID faulting sees the Xen leaves only this way. Outside a Xen PV guest it
// raises SIGILL, so it is called only when /sys/hypervisor says PV.
TEXT ·xenForcedCpuid(SB), NOSPLIT|NOFRAME, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	BYTE $0x0f; BYTE $0x0b; BYTE $0x78; BYTE $0x65; BYTE $0x6e
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET
