// Package sandbox runs untrusted programs (model-generated code) with no
// network, a read-only view of the system, a private writable temp dir and
// limits on CPU time, wall time, memory, processes and output.
//
// The program gets descriptors 0, 1 and 2 and Spec.ExtraFiles, nothing else:
// whatever the caller inherited (a shell's `exec 200>file`) is closed before
// the program starts, in both back ends. Memory is bounded per run, not per
// process, where a memory cgroup can be made (see Limits.MemoryBytes).
//
// Two isolation back ends exist. Bubblewrap (bwrap) is used when it is
// installed; otherwise the package re-executes the current binary as a helper
// that creates the namespaces, mounts and rlimits itself. The helper is
// entered from this package's init function when the process was started with
// os.Args[1] == ChildArg, so any binary that imports the package can serve as
// its own helper; Main exists for binaries that want to make that explicit as
// the first statement of main.
//
// When the caller is root, the sandboxed program never runs as host root: the
// user namespace maps its uid to nobody (65534) so that file permissions and
// RLIMIT_NPROC apply to it, and no_new_privs plus an empty capability set keep
// it there. Bind sources that nobody cannot reach (a pyenv under /root) are
// mounted for bubblewrap in a private mount namespace at a reachable path, so
// bubblewrap can still be used for them.
//
// A seccomp filter (syscallFilter) makes namespace, mount, ptrace, keyring,
// BPF, perf, module, kexec, handle-open, userfaultfd and io_uring system
// calls fail with EPERM in both back ends: the namespace back end could
// otherwise create a nested user namespace with a full capability set.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// Mode selects the isolation back end.
type Mode int

const (
	// Auto uses bubblewrap when it is installed, else the namespace helper.
	Auto Mode = iota
	// Bwrap requires bubblewrap.
	Bwrap
	// Namespaces uses the built-in re-exec helper (Linux namespaces + rlimits).
	Namespaces
)

// String names the mode as configs spell it.
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Bwrap:
		return "bwrap"
	case Namespaces:
		return "namespaces"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "bwrap", "bubblewrap":
		return Bwrap, nil
	case "namespaces", "ns", "fallback":
		return Namespaces, nil
	}
	return Auto, fmt.Errorf("sandbox mode %q: expected auto, bwrap or namespaces", s)
}

// Limits bound what one run may use. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	// Wall is the wall-clock limit; the whole sandbox is killed when it passes.
	Wall time.Duration
	// CPU is the CPU-time limit (RLIMIT_CPU, whole seconds, rounded up).
	CPU time.Duration
	// MemoryBytes caps the memory of one run. Where a memory cgroup can be
	// made (cgroup v2 with the memory controller delegated to the caller's
	// cgroup, or a writable cgroup v1 memory hierarchy; Result.CgroupMemory
	// says which applied) it bounds the total of all the run's processes,
	// tmpfs files included. Each process's address space is also capped at
	// MemoryBytes (RLIMIT_AS), so without a cgroup the run as a whole is
	// bounded by Procs × MemoryBytes: keep that product within what the host
	// can spare.
	MemoryBytes int64
	// Procs caps the number of processes and threads (RLIMIT_NPROC).
	Procs int
	// OutputBytes caps stdout and stderr, each; the rest is dropped and the
	// sandbox is killed.
	OutputBytes int64
	// FileBytes caps the size of any file written (RLIMIT_FSIZE) and the
	// total size of the private temp dir.
	FileBytes int64
	// OpenFiles caps file descriptors (RLIMIT_NOFILE).
	OpenFiles int
}

// DefaultLimits are used for every zero field of Spec.Limits.
var DefaultLimits = Limits{
	Wall:        10 * time.Second,
	CPU:         10 * time.Second,
	MemoryBytes: 1 << 30,
	Procs:       16,
	OutputBytes: 1 << 20,
	FileBytes:   16 << 20,
	OpenFiles:   64,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Wall <= 0 {
		l.Wall = d.Wall
	}
	if l.CPU <= 0 {
		l.CPU = d.CPU
	}
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.Procs <= 0 {
		l.Procs = d.Procs
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = d.OutputBytes
	}
	if l.FileBytes <= 0 {
		l.FileBytes = d.FileBytes
	}
	if l.OpenFiles <= 0 {
		l.OpenFiles = d.OpenFiles
	}
	return l
}

// WorkDir is the private, writable temp dir inside the sandbox. Spec.Files
// are written there and the program starts there.
const WorkDir = "/tmp"

// Spec describes one sandboxed run.
type Spec struct {
	// Files are written into WorkDir before the program starts; keys are
	// relative slash-separated paths.
	Files map[string][]byte
	// Cmd is the program and its arguments. Cmd[0] must be an absolute path
	// that exists inside the sandbox (see FindPython for the interpreter).
	Cmd []string
	// Stdin is the program's standard input.
	Stdin []byte
	// Env is the program's whole environment ("KEY=value"); nothing of the
	// caller's environment is passed on.
	Env []string
	// Binds are extra host paths made visible read-only at the same path.
	Binds []string
	// Limits bound the run; zero fields take DefaultLimits.
	Limits Limits
	// ExtraFiles are handed to the program as descriptors 3, 4, … (e.g.
	// pipes to a process in another sandbox). The caller keeps them and
	// closes its copies once Run returns; the sandbox closes every other
	// descriptor it inherited.
	ExtraFiles []*os.File
}

// maxExtraFiles bounds Spec.ExtraFiles so that they stay clear of the
// RLIMIT_NOFILE the program runs under.
const maxExtraFiles = 16

// Result is what one run produced.
type Result struct {
	Stdout, Stderr []byte
	// ExitCode is the exit status, or 128+signal when the program was killed.
	ExitCode int
	// TimedOut is set when the wall or CPU limit ended the run.
	TimedOut bool
	// OOM is set when the program ran out of memory (a MemoryError from
	// Python, or an allocation failure reported on stderr). Best effort.
	OOM bool
	// OutputTruncated is set when stdout or stderr passed OutputBytes.
	OutputTruncated bool
	// CgroupMemory is set when a memory cgroup bounded the run's total
	// memory at Limits.MemoryBytes; otherwise only each process's address
	// space was bounded.
	CgroupMemory bool
	// Wall is how long the sandbox ran, setup included.
	Wall time.Duration
	// Mode is the back end that ran it.
	Mode Mode
}

// Runner runs specs with a chosen back end. The zero value uses Auto.
type Runner struct {
	Mode Mode
}

// ErrUnavailable is returned when the requested back end cannot run here.
var ErrUnavailable = errors.New("sandbox unavailable")

// Run runs spec with the default runner (Auto mode).
func Run(ctx context.Context, spec Spec) (Result, error) {
	return (&Runner{}).Run(ctx, spec)
}

// Run runs spec in the sandbox. An error means the sandbox itself could not
// run the program (bad spec, missing back end, setup failure); a program
// that fails, times out or is killed is reported in Result.
func (r *Runner) Run(ctx context.Context, spec Spec) (Result, error) {
	if err := spec.validate(); err != nil {
		return Result{}, err
	}
	spec.Limits = spec.Limits.withDefaults()
	mode := r.Mode
	if mode == Auto {
		mode = pickMode(spec)
	}
	var res Result
	var err error
	switch mode {
	case Bwrap:
		res, err = runBwrap(ctx, spec)
	case Namespaces:
		res, err = runNamespaces(ctx, spec)
	default:
		return Result{}, fmt.Errorf("sandbox: unknown mode %v", mode)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// A run killed by the context can fail anywhere in its start-up;
		// callers tell a cancellation from a sandbox fault by ctx's error.
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return res, err
}

func (s *Spec) validate() error {
	if len(s.Cmd) == 0 || s.Cmd[0] == "" {
		return errors.New("sandbox: Spec.Cmd is empty; expected the program's absolute path and its arguments")
	}
	if !path.IsAbs(s.Cmd[0]) {
		return fmt.Errorf("sandbox: Spec.Cmd[0] %q: expected an absolute path inside the sandbox", s.Cmd[0])
	}
	for name := range s.Files {
		if err := checkFileName(name); err != nil {
			return err
		}
	}
	for _, b := range s.Binds {
		if !path.IsAbs(b) || path.Clean(b) != b || b == "/" {
			return fmt.Errorf("sandbox: Spec.Binds entry %q: expected a clean absolute host path other than /", b)
		}
	}
	for _, e := range s.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("sandbox: Spec.Env entry %q: expected KEY=value", e)
		}
	}
	if len(s.ExtraFiles) > maxExtraFiles {
		return fmt.Errorf("sandbox: Spec.ExtraFiles has %d files; at most %d are handed over", len(s.ExtraFiles), maxExtraFiles)
	}
	for i, f := range s.ExtraFiles {
		if f == nil {
			return fmt.Errorf("sandbox: Spec.ExtraFiles[%d] is nil; expected an open file", i)
		}
	}
	return nil
}

func checkFileName(name string) error {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == ".." || strings.ContainsRune(name, 0) {
		return fmt.Errorf("sandbox: Spec.Files key %q: expected a clean relative path inside the work dir", name)
	}
	return nil
}

// cappedBuffer keeps at most limit bytes and reports overflow once, so that a
// program printing gigabytes never costs more than limit bytes of memory.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       []byte
	limit     int64
	truncated bool
	onFull    func()
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	room := c.limit - int64(len(c.buf))
	full := false
	if int64(len(p)) > room {
		if room > 0 {
			c.buf = append(c.buf, p[:room]...)
		}
		if !c.truncated {
			c.truncated = true
			full = true
		}
	} else {
		c.buf = append(c.buf, p...)
	}
	c.mu.Unlock()
	if full && c.onFull != nil {
		c.onFull()
	}
	// Claim the whole write so the copier keeps draining the pipe until the
	// kill lands instead of failing with a short write.
	return len(p), nil
}

func (c *cappedBuffer) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// looksOOM reports whether stderr shows an allocation failure.
func looksOOM(stderr []byte) bool {
	s := string(stderr)
	return strings.Contains(s, "MemoryError") || strings.Contains(s, "Cannot allocate memory") ||
		strings.Contains(s, "out of memory")
}
