//go:build linux && amd64

package sandbox

import "golang.org/x/sys/unix"

const (
	seccompAuditArch = unix.AUDIT_ARCH_X86_64
	// seccompMaxNr: x32 system calls are numbered from 0x40000000 and share
	// the AUDIT_ARCH_X86_64 tag, so they would slip past the number checks.
	seccompMaxNr = 0x40000000
)

var archDeniedSyscalls = []uintptr{unix.SYS_IOPL, unix.SYS_IOPERM}
