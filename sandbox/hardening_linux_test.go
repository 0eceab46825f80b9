//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// leakFDs opens a host file at descriptors 200 and 1000 of the test process
// without close-on-exec, as a shell's `exec 200>file` would, and closes them
// when the test ends.
func leakFDs(t *testing.T) string {
	t.Helper()
	host := filepath.Join(t.TempDir(), "leak.txt")
	f, err := os.Create(host)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, fd := range []int{200, 1000} {
		if err := unix.Dup2(int(f.Fd()), fd); err != nil {
			t.Skipf("cannot open descriptor %d: %v", fd, err)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			t.Fatalf("descriptor %d: flags %d err %v; want it inheritable", fd, flags, err)
		}
		t.Cleanup(func() { unix.Close(fd) })
	}
	return host
}

// TestInheritedDescriptorsClosed: descriptors the caller inherited, however
// high, do not reach the program; Spec.ExtraFiles do, as 3, 4, ….
func TestInheritedDescriptorsClosed(t *testing.T) {
	host := leakFDs(t)
	code := `import os
wrote = []
for fd in range(3, 1100):
    try:
        os.write(fd, b"leaked\n")
        wrote.append(fd)
    except OSError:
        pass
print("wrote", wrote)
print("open", sorted(int(x) for x in os.listdir("/proc/self/fd")))
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, code, Limits{})
			out := string(res.Stdout)
			if !strings.Contains(out, "wrote []\n") {
				t.Errorf("the program wrote through inherited descriptors: %q (stderr %q)", out, res.Stderr)
			}
			// 3 is the descriptor listdir itself opens.
			if !strings.Contains(out, "open [0, 1, 2, 3]\n") {
				t.Errorf("the program sees descriptors beyond 0-2: %q", out)
			}
			if b, _ := os.ReadFile(host); len(b) != 0 {
				t.Fatalf("the host file behind descriptors 200 and 1000 was written: %q", b)
			}
		})
	}
}

func TestExtraFiles(t *testing.T) {
	leakFDs(t)
	code := `import os
os.write(4, os.read(3, 100).upper())
print(sorted(int(x) for x in os.listdir("/proc/self/fd")))
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			inR, inW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer inR.Close()
			outR, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer outR.Close()
			inW.Write([]byte("hello"))
			inW.Close()
			spec := Spec{
				Files:      map[string][]byte{"main.py": []byte(code)},
				Cmd:        []string{m.py.Path, "main.py"},
				Binds:      m.py.Binds,
				ExtraFiles: []*os.File{inR, outW},
			}
			res, err := (&Runner{Mode: m.mode}).Run(context.Background(), spec)
			outW.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 100)
			n, _ := outR.Read(got)
			if string(got[:n]) != "HELLO" || string(res.Stdout) != "[0, 1, 2, 3, 4, 5]\n" {
				t.Fatalf("pipe gave %q, program saw descriptors %q (stderr %q); want HELLO and [0..5]", got[:n], res.Stdout, res.Stderr)
			}
		})
	}
}

// bpfRun interprets the classic BPF subset the filter uses on one
// seccomp_data record.
func bpfRun(t *testing.T, prog []unix.SockFilter, nr, arch uint32, arg0 uint64) uint32 {
	t.Helper()
	data := map[uint32]uint32{seccompNr: nr, seccompArch: arch, seccompArg0: uint32(arg0), seccompArg0 + 4: uint32(arg0 >> 32)}
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdAbsW:
			v, ok := data[in.K]
			if !ok {
				t.Fatalf("load from offset %d", in.K)
			}
			a = v
		case bpfJeqK, bpfJgeK, bpfJsetK:
			var hit bool
			switch in.Code {
			case bpfJeqK:
				hit = a == in.K
			case bpfJgeK:
				hit = a >= in.K
			default:
				hit = a&in.K != 0
			}
			if hit {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRetK:
			return in.K
		default:
			t.Fatalf("unexpected opcode %#x", in.Code)
		}
	}
	t.Fatal("filter fell off its end")
	return 0
}

// TestSyscallFilterProgram checks the filter's decisions without a kernel.
func TestSyscallFilterProgram(t *testing.T) {
	if seccompAuditArch == 0 {
		t.Skip("no filter for this architecture")
	}
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	arch := uint32(seccompAuditArch)
	type c struct {
		name string
		nr   uintptr
		arch uint32
		arg0 uint64
		want uint32
	}
	cases := []c{
		{"getpid", unix.SYS_GETPID, arch, 0, allow},
		{"clone thread", unix.SYS_CLONE, arch, unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, allow},
		{"clone fork", unix.SYS_CLONE, arch, uint64(unix.SIGCHLD), allow},
		{"clone newuser", unix.SYS_CLONE, arch, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), eperm},
		{"clone newns", unix.SYS_CLONE, arch, unix.CLONE_NEWNS, eperm},
		{"clone newnet", unix.SYS_CLONE, arch, unix.CLONE_NEWNET, eperm},
		{"unshare files", unix.SYS_UNSHARE, arch, unix.CLONE_FILES, allow},
		{"unshare newuser", unix.SYS_UNSHARE, arch, unix.CLONE_NEWUSER, eperm},
		{"unshare newtime", unix.SYS_UNSHARE, arch, unix.CLONE_NEWTIME, eperm},
		{"clone3", unix.SYS_CLONE3, arch, 0, enosys},
		{"ptrace attach", unix.SYS_PTRACE, arch, unix.PTRACE_ATTACH, eperm},
		{"ptrace traceme", unix.SYS_PTRACE, arch, unix.PTRACE_TRACEME, eperm},
		{"foreign arch", unix.SYS_GETPID, arch ^ 1, 0, eperm},
	}
	if seccompMaxNr != 0 {
		cases = append(cases, c{"x32 getpid", unix.SYS_GETPID | seccompMaxNr, arch, 0, eperm})
	}
	for _, nr := range deniedSyscalls {
		cases = append(cases, c{fmt.Sprintf("denied %d", nr), nr, arch, 0, eperm})
	}
	for _, traceMe := range []bool{false, true} {
		prog, err := syscallFilter(traceMe)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			want := tc.want
			if traceMe && tc.name == "ptrace traceme" {
				want = allow
			}
			if got := bpfRun(t, prog, uint32(tc.nr), tc.arch, tc.arg0); got != want {
				t.Errorf("allowTraceMe=%v %s: got %#x, want %#x", traceMe, tc.name, got, want)
			}
		}
		if got := bpfRun(t, prog, unix.SYS_PTRACE, arch, unix.PTRACE_DETACH); got != map[bool]uint32{false: eperm, true: allow}[traceMe] {
			t.Errorf("allowTraceMe=%v ptrace detach: got %#x", traceMe, got)
		}
		if b := filterBytes(prog); len(b) != 8*len(prog) {
			t.Errorf("filterBytes: %d bytes for %d instructions", len(b), len(prog))
		}
	}
}

// TestSyscallFilter: inside the sandbox the filtered system calls fail (the
// namespace back end used to allow a nested user namespace with every
// capability) and ordinary work (threads, fork, subprocesses) goes on.
// System call numbers come from Go's tables, so this runs on any
// architecture with a filter.
func TestSyscallFilter(t *testing.T) {
	if seccompAuditArch == 0 {
		t.Skip("no filter for this architecture")
	}
	probes := []struct {
		name string
		call string // Python expression; libc is ctypes' handle
		want string // errno name, or "ok"
	}{
		{"unshare user namespace", fmt.Sprintf("libc.syscall(%d, %d)", unix.SYS_UNSHARE, unix.CLONE_NEWUSER), "EPERM"},
		{"unshare mount namespace", fmt.Sprintf("libc.syscall(%d, %d)", unix.SYS_UNSHARE, unix.CLONE_NEWNS), "EPERM"},
		{"clone user namespace", fmt.Sprintf("libc.syscall(%d, %d, 0, 0, 0, 0)", unix.SYS_CLONE, unix.CLONE_NEWUSER|int(unix.SIGCHLD)), "EPERM"},
		{"clone3", fmt.Sprintf("libc.syscall(%d, 0, 0)", unix.SYS_CLONE3), "ENOSYS"},
		{"setns", fmt.Sprintf("libc.syscall(%d, 0, 0)", unix.SYS_SETNS), "EPERM"},
		{"mount", fmt.Sprintf("libc.syscall(%d, b'none', b'/tmp', b'tmpfs', 0, 0)", unix.SYS_MOUNT), "EPERM"},
		{"ptrace attach", fmt.Sprintf("libc.syscall(%d, %d, 1, 0, 0)", unix.SYS_PTRACE, unix.PTRACE_ATTACH), "EPERM"},
		{"add_key", fmt.Sprintf("libc.syscall(%d, b'user', b'r1', b'x', 1, -2)", unix.SYS_ADD_KEY), "EPERM"},
		{"keyctl", fmt.Sprintf("libc.syscall(%d, 0, 0)", unix.SYS_KEYCTL), "EPERM"},
		{"bpf", fmt.Sprintf("libc.syscall(%d, 0, 0, 0)", unix.SYS_BPF), "EPERM"},
		{"perf_event_open", fmt.Sprintf("libc.syscall(%d, 0, 0, -1, -1, 0)", unix.SYS_PERF_EVENT_OPEN), "EPERM"},
		{"userfaultfd", fmt.Sprintf("libc.syscall(%d, 0)", unix.SYS_USERFAULTFD), "EPERM"},
		{"io_uring_setup", fmt.Sprintf("libc.syscall(%d, 1, 0)", unix.SYS_IO_URING_SETUP), "EPERM"},
		{"open_by_handle_at", fmt.Sprintf("libc.syscall(%d, 0, 0, 0)", unix.SYS_OPEN_BY_HANDLE_AT), "EPERM"},
		{"unshare files (allowed)", fmt.Sprintf("libc.syscall(%d, %d)", unix.SYS_UNSHARE, unix.CLONE_FILES), "ok"},
	}
	var b strings.Builder
	b.WriteString("import ctypes, errno, os, subprocess, threading\nlibc = ctypes.CDLL(None, use_errno=True)\n")
	b.WriteString("def probe(name, f):\n    r = f()\n    if r == 0 and os.getpid() != PID:\n        os._exit(0)\n")
	b.WriteString("    print(name + ':', 'ok' if r >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))\n")
	b.WriteString("PID = os.getpid()\n")
	for _, p := range probes {
		fmt.Fprintf(&b, "probe(%q, lambda: %s)\n", p.name, p.call)
	}
	b.WriteString("t = threading.Thread(target=print, args=('thread: ok',)); t.start(); t.join()\n")
	b.WriteString("pid = os.fork()\nif pid == 0:\n    os._exit(7)\nprint('fork:', 'ok' if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7 else 'broken')\n")
	b.WriteString("print('subprocess:', subprocess.run(['/bin/sh', '-c', 'echo ok'], capture_output=True, text=True).stdout.strip())\n")
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, b.String(), Limits{})
			out := string(res.Stdout)
			for _, p := range probes {
				if !strings.Contains(out, p.name+": "+p.want+"\n") {
					t.Errorf("%s: want %s; stdout %q stderr %q", p.name, p.want, out, res.Stderr)
				}
			}
			for _, w := range []string{"thread: ok", "fork: ok", "subprocess: ok"} {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("want %q; stdout %q stderr %q", w, out, res.Stderr)
				}
			}
		})
	}
}

// TestMemoryIsPerRun: four processes of 150 MB each cannot all live in a
// 256 MB sandbox (each alone fits the per-process address-space limit, which
// is all that used to apply).
func TestMemoryIsPerRun(t *testing.T) {
	if ok, err := CgroupMemory(); !ok {
		t.Skipf("no memory cgroup here, so memory is bounded per process only (procs × memory): %v", err)
	}
	code := `import os, time
kids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        x = b"\x01" * (150 << 20)
        time.sleep(1)
        os._exit(0)
    kids.append(pid)
ok = 0
for p in kids:
    _, st = os.waitpid(p, 0)
    ok += os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
print("survived", ok)
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, code, Limits{MemoryBytes: 256 << 20, Procs: 16, Wall: 20 * time.Second})
			var n int
			if _, err := fmt.Sscanf(string(res.Stdout), "survived %d", &n); err != nil {
				t.Fatalf("stdout %q stderr %q exit %d", res.Stdout, res.Stderr, res.ExitCode)
			}
			if n > 1 || !res.OOM || !res.CgroupMemory {
				t.Fatalf("%d of 4 × 150 MB processes survived a 256 MB sandbox (oom %v, cgroup %v)", n, res.OOM, res.CgroupMemory)
			}
		})
	}
}

// TestBwrapReachesPrivatePaths: as root, bwrap runs as nobody, who cannot
// walk into a 0700 directory (a pyenv under /root). Such a bind used to
// rule bwrap out (Auto fell back to namespaces); now it is staged.
func TestBwrapReachesPrivatePaths(t *testing.T) {
	if os.Getuid() != 0 || BwrapPath() == "" || !usable(t, Bwrap) {
		t.Skip("needs root and a working bwrap")
	}
	private := filepath.Join(t.TempDir(), "private")
	prefix := filepath.Join(private, "prefix")
	if err := os.MkdirAll(filepath.Join(prefix, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(prefix, "bin", "hello")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho hello from $(id -u)\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Staging directories go under TMPDIR: a directory of this test's own,
	// so that other tests running bwrap at the same time (go test runs
	// packages in parallel) do not look like leftovers.
	tmp, err := os.MkdirTemp("", "r1-staging-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // nobody must reach the staged binds
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	spec := Spec{Cmd: []string{prog}, Binds: []string{prefix}}
	res, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != Bwrap || string(res.Stdout) != fmt.Sprintf("hello from %d\n", nobody) {
		t.Fatalf("mode %v stdout %q stderr %q; want bwrap running it as nobody", res.Mode, res.Stdout, res.Stderr)
	}
	// Nothing of the staging is left on the host.
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "r1-bwrap-*"))
	for _, d := range left {
		if ents, err := os.ReadDir(d); err == nil && len(ents) > 0 {
			t.Errorf("staging directory %s left with %d entries", d, len(ents))
		}
	}
}
