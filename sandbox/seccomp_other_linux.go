//go:build linux && !(amd64 || arm64 || riscv64 || loong64)

package sandbox

// No filter is built for other architectures (or big-endian ones, where
// the filter's argument offsets differ): the namespace back end refuses to
// run there rather than run unfiltered.
const (
	seccompAuditArch = 0
	seccompMaxNr     = 0
)

var deniedSyscalls []uintptr
