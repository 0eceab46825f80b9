//go:build linux

package sandbox

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data, which the filter inspects.
const (
	seccompNr   = 0  // int nr
	seccompArch = 4  // __u32 arch
	seccompArg0 = 16 // low 32 bits of args[0] (little-endian ABIs only)
)

// Classic BPF opcodes used by the filter.
const (
	bpfLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K
)

// Namespace flags. clone(2) takes them in its flags word, whose low byte is
// the exit signal (so CLONE_NEWTIME, 0x80, is not a namespace flag there);
// unshare(2) takes CLONE_NEWTIME too. clone3(2) passes its flags in memory
// that a filter cannot read, so it is refused with ENOSYS, which makes libc
// fall back to clone(2).
const (
	cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	unshareNamespaces = cloneNamespaces | unix.CLONE_NEWTIME
)

// bpfInsn is one instruction before its jump labels are resolved; "" jumps
// to the next instruction.
type bpfInsn struct {
	code   uint16
	k      uint32
	jt, jf string
	label  string // names this instruction as a jump target
}

// assemble resolves labels into the relative offsets classic BPF uses.
func assemble(prog []bpfInsn) ([]unix.SockFilter, error) {
	at := map[string]int{}
	for i, in := range prog {
		if in.label != "" {
			at[in.label] = i
		}
	}
	rel := func(i int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		t, ok := at[label]
		if !ok {
			return 0, fmt.Errorf("sandbox: seccomp filter: no label %q", label)
		}
		off := t - i - 1
		if off < 0 || off > 255 {
			return 0, fmt.Errorf("sandbox: seccomp filter: jump to %q out of range (%d)", label, off)
		}
		return uint8(off), nil
	}
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		jt, err := rel(i, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := rel(i, in.jf)
		if err != nil {
			return nil, err
		}
		out[i] = unix.SockFilter{Code: in.code, K: in.k, Jt: jt, Jf: jf}
	}
	return out, nil
}

// syscallFilter builds the seccomp program both back ends install: the
// system calls in deniedSyscalls, namespace creation through clone/unshare,
// and any system call of a foreign ABI (x32, i386 on amd64) fail with EPERM;
// clone3 fails with ENOSYS. With allowTraceMe, ptrace stays allowed for
// PTRACE_TRACEME and PTRACE_DETACH only: the namespace helper starts the
// program stopped under ptrace (to set its rlimits before it runs) and
// installs the filter before that fork. Those two requests give nothing: a
// tracer needs other requests to act on its tracee.
func syscallFilter(allowTraceMe bool) ([]unix.SockFilter, error) {
	if seccompAuditArch == 0 {
		return nil, fmt.Errorf("sandbox: no seccomp filter for GOARCH=%s", runtime.GOARCH)
	}
	p := []bpfInsn{
		{code: bpfLdAbsW, k: seccompArch},
		{code: bpfJeqK, k: seccompAuditArch, jf: "eperm"},
		{code: bpfLdAbsW, k: seccompNr},
	}
	if seccompMaxNr != 0 {
		p = append(p, bpfInsn{code: bpfJgeK, k: seccompMaxNr, jt: "eperm"})
	}
	p = append(p,
		bpfInsn{code: bpfJeqK, k: uint32(unix.SYS_CLONE), jt: "clone"},
		bpfInsn{code: bpfJeqK, k: uint32(unix.SYS_UNSHARE), jt: "unshare"},
		bpfInsn{code: bpfJeqK, k: uint32(unix.SYS_CLONE3), jt: "enosys"},
	)
	if allowTraceMe {
		p = append(p, bpfInsn{code: bpfJeqK, k: uint32(unix.SYS_PTRACE), jt: "ptrace"})
	} else {
		p = append(p, bpfInsn{code: bpfJeqK, k: uint32(unix.SYS_PTRACE), jt: "eperm"})
	}
	for _, nr := range deniedSyscalls {
		p = append(p, bpfInsn{code: bpfJeqK, k: uint32(nr), jt: "eperm"})
	}
	p = append(p,
		bpfInsn{code: bpfRetK, k: unix.SECCOMP_RET_ALLOW},
		bpfInsn{label: "clone", code: bpfLdAbsW, k: seccompArg0},
		bpfInsn{code: bpfJsetK, k: cloneNamespaces, jt: "eperm", jf: "allow"},
		bpfInsn{label: "unshare", code: bpfLdAbsW, k: seccompArg0},
		bpfInsn{code: bpfJsetK, k: unshareNamespaces, jt: "eperm", jf: "allow"},
	)
	if allowTraceMe {
		p = append(p,
			bpfInsn{label: "ptrace", code: bpfLdAbsW, k: seccompArg0},
			bpfInsn{code: bpfJeqK, k: unix.PTRACE_TRACEME, jt: "allow"},
			bpfInsn{code: bpfJeqK, k: unix.PTRACE_DETACH, jt: "allow", jf: "eperm"},
		)
	}
	p = append(p,
		bpfInsn{label: "allow", code: bpfRetK, k: unix.SECCOMP_RET_ALLOW},
		bpfInsn{label: "eperm", code: bpfRetK, k: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		bpfInsn{label: "enosys", code: bpfRetK, k: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	)
	return assemble(p)
}

// installSyscallFilter installs filter on the calling thread, which must
// be locked to its goroutine and have no_new_privs set. Threads and
// processes it creates afterwards inherit the filter, other threads do not.
func installSyscallFilter(filter []unix.SockFilter) error {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if e != 0 {
		return fmt.Errorf("sandbox: install seccomp filter: %w", e)
	}
	return nil
}

// filterBytes is filter as bubblewrap's --seccomp reads it: struct
// sock_filter records in native byte order.
func filterBytes(filter []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(filter))
	for _, f := range filter {
		b = binary.NativeEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.NativeEndian.AppendUint32(b, f.K)
	}
	return b
}
