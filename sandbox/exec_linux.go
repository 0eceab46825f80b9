//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nobody is the host uid/gid a sandbox runs as when the caller is root.
const nobody = 65534

// bind is one read-only host path shown inside the sandbox.
type bind struct {
	host, dest string
	dir        bool
}

// symlink recreates a host symlink such as /bin -> usr/bin.
type symlink struct {
	Target, Dest string
}

// layout is the file system view shared by both back ends.
type layout struct {
	binds    []bind
	symlinks []symlink
}

var (
	bwrapOnce sync.Once
	bwrapPath string
)

// BwrapPath is the bubblewrap binary found in PATH, or "".
func BwrapPath() string {
	bwrapOnce.Do(func() {
		p, err := exec.LookPath("bwrap")
		if err == nil {
			bwrapPath = p
		}
	})
	return bwrapPath
}

// systemPaths are shown read-only in every sandbox (when they exist): enough
// for dynamically linked programs and interpreters, nothing of /home, /root,
// /var or the rest of /etc.
var systemPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/alternatives"}

// buildLayout resolves the system paths and extra binds. Top-level symlinks
// (merged /usr) are recreated; anything else is bound at its real path.
func buildLayout(extra []string) (layout, error) {
	var l layout
	seen := map[string]bool{}
	add := func(p string, required bool) error {
		fi, err := os.Lstat(p)
		if err != nil {
			if required {
				return fmt.Errorf("sandbox: bind %q: %w", p, err)
			}
			return nil
		}
		if fi.Mode()&os.ModeSymlink != 0 && filepath.Dir(p) == "/" {
			t, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("sandbox: bind %q: %w", p, err)
			}
			if !seen[p] {
				seen[p] = true
				l.symlinks = append(l.symlinks, symlink{Target: t, Dest: p})
			}
			return nil
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("sandbox: bind %q: %w", p, err)
		}
		fi, err = os.Stat(real)
		if err != nil {
			return fmt.Errorf("sandbox: bind %q: %w", p, err)
		}
		if seen[real] {
			return nil
		}
		seen[real] = true
		l.binds = append(l.binds, bind{host: real, dest: real, dir: fi.IsDir()})
		return nil
	}
	for _, p := range systemPaths {
		if err := add(p, false); err != nil {
			return l, err
		}
	}
	for _, p := range extra {
		if err := add(p, true); err != nil {
			return l, err
		}
	}
	// Parents before children so that nested binds land on top.
	sort.SliceStable(l.binds, func(i, j int) bool { return len(l.binds[i].dest) < len(l.binds[j].dest) })
	// Drop binds already covered by a bound parent (e.g. a venv under /usr).
	var kept []bind
	for _, b := range l.binds {
		covered := false
		for _, k := range kept {
			if k.dir && strings.HasPrefix(b.dest, k.dest+"/") {
				covered = true
				break
			}
		}
		if !covered {
			kept = append(kept, b)
		}
	}
	l.binds = kept
	return l, nil
}

// reachableByOthers reports whether every directory above p can be searched
// by any user and p itself read, i.e. whether nobody can bind it.
func reachableByOthers(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return false
	}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

var (
	capSysAdminOnce sync.Once
	capSysAdmin     bool
)

// The capabilities are read at start-up, before any sandbox runs.
// /proc/self/status describes the thread group leader, and applyRlimitsAs
// changes the credentials of a locked thread that Go then retires — except
// when that thread is the leader, which Go keeps (wedged) for the life of
// the process: read after that, CapEff is 0 and bubblewrap would be
// wrongly ruled out (seen as Auto falling back to namespaces in a full test
// run).
func init() { hasCapSysAdmin() }

// hasCapSysAdmin reports whether this process may make mount namespaces
// (CAP_SYS_ADMIN in its effective set, which containers often drop).
func hasCapSysAdmin() bool {
	capSysAdminOnce.Do(func() {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
				caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				capSysAdmin = err == nil && caps&(1<<unix.CAP_SYS_ADMIN) != 0
			}
		}
	})
	return capSysAdmin
}

// pickMode prefers bubblewrap when it is installed and can show every bind.
func pickMode(spec Spec) Mode {
	if BwrapPath() == "" {
		return Namespaces
	}
	l, err := buildLayout(spec.Binds)
	if err != nil || bwrapUsable(l) != nil {
		return Namespaces
	}
	return Bwrap
}

// sandboxIDs are the host uid and gid the sandboxed program maps to.
func sandboxIDs() (uid, gid int) {
	uid, gid = os.Getuid(), os.Getgid()
	if uid == 0 {
		uid = nobody
	}
	if gid == 0 {
		gid = nobody
	}
	return uid, gid
}

// rlimits lists the limits applied to the sandboxed program.
func rlimits(l Limits, extraProcs int) []struct {
	res int
	val uint64
} {
	cpu := uint64((l.CPU + time.Second - 1) / time.Second)
	return []struct {
		res int
		val uint64
	}{
		{unix.RLIMIT_CPU, cpu},
		{unix.RLIMIT_AS, uint64(l.MemoryBytes)},
		{unix.RLIMIT_NPROC, uint64(l.Procs + extraProcs)},
		{unix.RLIMIT_FSIZE, uint64(l.FileBytes)},
		{unix.RLIMIT_NOFILE, uint64(l.OpenFiles)},
		{unix.RLIMIT_CORE, 0},
	}
}

// applyRlimits sets the limits on pid (0 = this process). CPU gets a hard
// limit one second above the soft one so SIGXCPU comes first, then SIGKILL.
func applyRlimits(pid int, l Limits, extraProcs int) error {
	for _, r := range rlimits(l, extraProcs) {
		lim := unix.Rlimit{Cur: r.val, Max: r.val}
		if r.res == unix.RLIMIT_CPU {
			lim.Max = r.val + 1
		}
		if err := unix.Prlimit(pid, r.res, &lim, nil); err != nil {
			return fmt.Errorf("sandbox: setrlimit %d: %w", r.res, err)
		}
	}
	return nil
}

// execute runs cmd under spec's wall and output limits and fills a Result.
// setup runs after Start and before the program is released; an error from
// it kills the sandbox.
func execute(ctx context.Context, spec Spec, cmd *exec.Cmd, mode Mode, setup func(*exec.Cmd) error) (Result, error) {
	res := Result{Mode: mode}
	lim := spec.Limits
	// Pdeathsig fires when the thread that started the child exits, and Go
	// retires threads (e.g. applyRlimitsAs's). Pinning this goroutine to its
	// thread until Wait returns keeps that thread alive exactly as long as
	// the sandbox.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var (
		killOnce sync.Once
		started  = make(chan struct{})
		wallHit  atomic.Bool
	)
	kill := func() {
		<-started
		killOnce.Do(func() {
			if cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
		})
	}
	stdout := &cappedBuffer{limit: lim.OutputBytes, onFull: func() { go kill() }}
	stderr := &cappedBuffer{limit: lim.OutputBytes, onFull: func() { go kill() }}
	cmd.Stdin = bytes.NewReader(spec.Stdin)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	// Every process in the sandbox dies with its pid namespace, so the pipes
	// close promptly after a kill; WaitDelay only guards against surprises.
	cmd.WaitDelay = 2 * time.Second

	begin := time.Now()
	if err := cmd.Start(); err != nil {
		close(started)
		return res, fmt.Errorf("sandbox (%v): start %s: %w", mode, cmd.Path, err)
	}
	close(started)
	timer := time.AfterFunc(lim.Wall, func() { wallHit.Store(true); kill() })
	defer timer.Stop()
	stopCtx := context.AfterFunc(ctx, kill)
	defer stopCtx()

	var setupErr error
	if setup != nil {
		setupErr = setup(cmd)
		if setupErr != nil {
			kill()
		}
	}
	waitErr := cmd.Wait()
	res.Wall = time.Since(begin)
	res.Stdout = stdout.bytes()
	res.Stderr = stderr.bytes()
	res.OutputTruncated = stdout.truncated || stderr.truncated
	if setupErr != nil {
		return res, setupErr
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("sandbox: %w", ctx.Err())
	}
	ps := cmd.ProcessState
	if ps == nil {
		return res, fmt.Errorf("sandbox (%v): wait: %w", mode, waitErr)
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
	default:
		res.ExitCode = ws.ExitStatus()
	}
	res.TimedOut = wallHit.Load()
	// The CPU limit ends the program with SIGXCPU or SIGKILL; bwrap may
	// report that differently, so look at the CPU time spent as well (the
	// rusage of a waited-for child includes its reaped descendants).
	if cpu := ps.UserTime() + ps.SystemTime(); res.ExitCode == 128+int(syscall.SIGXCPU) || (res.ExitCode != 0 && cpu >= lim.CPU-lim.CPU/20) {
		res.TimedOut = true
	}
	res.OOM = looksOOM(res.Stderr)
	if waitErr != nil && !errors.As(waitErr, new(*exec.ExitError)) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("sandbox (%v): wait: %w", mode, waitErr)
	}
	return res, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// applyRlimitsAs sets pid's limits from a throwaway OS thread whose uid and
// gid are switched to uid/gid first. A root caller may lack CAP_SYS_RESOURCE
// (containers usually drop it), and then prlimit(2) on another user's
// process is refused; with matching ids it is allowed. The thread stays
// locked, so Go discards it when the goroutine ends instead of reusing a
// thread with changed credentials.
func applyRlimitsAs(pid, uid, gid int, l Limits, extraProcs int) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Raw syscalls: the libc-style wrappers would change every thread.
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
			done <- fmt.Errorf("sandbox: setresgid %d: %w", gid, e)
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
			done <- fmt.Errorf("sandbox: setresuid %d: %w", uid, e)
			return
		}
		done <- applyRlimits(pid, l, extraProcs)
	}()
	return <-done
}
