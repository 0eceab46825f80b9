//go:build linux && (arm64 || riscv64 || loong64)

package sandbox

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// seccompAuditArch is the one ABI these architectures run natively.
var seccompAuditArch = map[string]uint32{
	"arm64": unix.AUDIT_ARCH_AARCH64, "riscv64": unix.AUDIT_ARCH_RISCV64, "loong64": unix.AUDIT_ARCH_LOONGARCH64,
}[runtime.GOARCH]

// seccompMaxNr is 0: no second ABI shares the architecture tag.
const seccompMaxNr = 0

var archDeniedSyscalls []uintptr
