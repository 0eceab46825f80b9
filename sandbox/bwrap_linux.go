//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// runBwrap runs spec under bubblewrap. bwrap sets no rlimits, so it is asked
// to stop before running the program (--block-fd), reports the sandbox's pid
// (--info-fd), and the limits are applied to that pid with prlimit(2) before
// it is released; the program inherits them.
//
// bwrap passes every descriptor it inherits on to the program, so it is not
// started directly: this binary is re-executed as a trampoline
// (bwrapTrampoline) that marks everything but the descriptors meant for bwrap
// close-on-exec, shows private bind sources at reachable paths, drops to the
// sandbox's ids and then becomes bwrap.
func runBwrap(ctx context.Context, spec Spec) (Result, error) {
	l, err := buildLayout(spec.Binds)
	if err != nil {
		return Result{}, err
	}
	if err := bwrapUsable(l); err != nil {
		return Result{}, err
	}

	// bwrap's descriptors: Spec.ExtraFiles first, so they are 3, 4, … in
	// bwrap and in the program; then bwrap's own (--file, --seccomp,
	// --info-fd, --block-fd), which bwrap closes before the program starts.
	user := spec.ExtraFiles
	var own []*os.File
	defer func() { closeAll(own) }()
	fdOf := func(f *os.File) string {
		own = append(own, f)
		return strconv.Itoa(2 + len(user) + len(own))
	}

	// A root caller runs bwrap as nobody, who may not be able to walk to a
	// bind source (a pyenv under /root, a command in a private directory).
	// bwrap resolves sources with its own ids (even those given to it as
	// descriptors, which it turns back into paths), so those are bound, in
	// a mount namespace private to the trampoline, onto empty files and
	// directories in a fresh world-searchable directory, and bwrap binds
	// them from there.
	root := os.Getuid() == 0
	staged := map[string]string{}
	var stage bwrapStage
	defer stage.remove()
	if root {
		for _, b := range l.binds {
			if reachableByOthers(b.host) {
				continue
			}
			p, err := stage.add(b)
			if err != nil {
				return Result{}, err
			}
			staged[b.host] = p
		}
	}

	args := []string{
		"--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
		"--hostname", "sandbox", "--clearenv",
	}
	uid, gid := sandboxIDs()
	args = append(args, "--uid", strconv.Itoa(uid), "--gid", strconv.Itoa(gid))
	for _, s := range l.symlinks {
		args = append(args, "--symlink", s.Target, s.Dest)
	}
	// The work dir first, so binds below it land on top of it.
	args = append(args, "--size", strconv.FormatInt(spec.Limits.FileBytes, 10), "--tmpfs", WorkDir)
	names := make([]string, 0, len(spec.Files))
	for n := range spec.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{}
	for _, n := range names {
		for d := path.Dir(n); d != "." && !made[d]; d = path.Dir(d) {
			made[d] = true
		}
	}
	dirs := make([]string, 0, len(made))
	for d := range made {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // parents sort before their children
	for _, d := range dirs {
		args = append(args, "--dir", path.Join(WorkDir, d))
	}
	for _, n := range names {
		f, err := memFile(n, spec.Files[n])
		if err != nil {
			return Result{}, err
		}
		args = append(args, "--file", fdOf(f), path.Join(WorkDir, n))
	}
	for _, b := range l.binds {
		src := b.host
		if p, ok := staged[b.host]; ok {
			src = p
		}
		args = append(args, "--ro-bind", src, b.dest)
	}
	args = append(args, "--dev", "/dev", "--proc", "/proc")
	for _, e := range spec.Env {
		k, v, _ := cutEnv(e)
		args = append(args, "--setenv", k, v)
	}
	// The same system call filter as the namespace back end; bwrap installs
	// it last thing before exec. Without one for this architecture bwrap
	// still runs: --disable-userns and its dropped capabilities remain.
	if filter, err := syscallFilter(false); err == nil {
		f, err := memFile("seccomp filter", filterBytes(filter))
		if err != nil {
			return Result{}, err
		}
		args = append(args, "--seccomp", fdOf(f))
	}
	infoR, infoW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox (bwrap): pipe: %w", err)
	}
	defer infoR.Close()
	blockR, blockW, err := os.Pipe()
	if err != nil {
		infoW.Close()
		return Result{}, fmt.Errorf("sandbox (bwrap): pipe: %w", err)
	}
	defer blockW.Close()
	args = append(args, "--info-fd", fdOf(infoW), "--block-fd", fdOf(blockR))
	args = append(args, "--remount-ro", "/", "--chdir", WorkDir, "--")
	args = append(args, spec.Cmd...)

	tc := bwrapExec{Keep: len(user) + len(own), UID: -1, GID: -1, Parent: os.Getpid(), Binds: stage.binds,
		Path: BwrapPath(), Args: append([]string{"bwrap"}, args...)}
	if root {
		// bwrap maps the sandbox to the uid it runs as; running it as
		// nobody keeps the program off host root (and makes RLIMIT_NPROC,
		// which root ignores, bite).
		tc.UID, tc.GID = nobody, nobody
	}
	tcJSON, err := json.Marshal(tc)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox (bwrap): encode trampoline config: %w", err)
	}
	cg, err := newMemCgroup(spec.Limits.MemoryBytes)
	if err != nil {
		return Result{}, err
	}
	defer cg.remove()

	// /proc/self/exe, as for the namespace helper: this very binary, with
	// no walk through directories a dropped uid may not search.
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{"r1-sandbox-bwrap", bwrapExecArg, string(tcJSON)}}
	cmd.Env = []string{"GOMAXPROCS=1"}
	cmd.Dir = "/"
	cmd.ExtraFiles = append(append([]*os.File{}, user...), own...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true}
	if len(stage.binds) > 0 {
		// Go makes the new mount namespace's mounts private, so the
		// trampoline's binds never reach the host.
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	setup := func(cmd *exec.Cmd) error {
		// Our copies of the child's pipe ends must go so EOF can arrive.
		closeAll(own)
		own = nil
		var info struct {
			ChildPid int `json:"child-pid"`
		}
		if err := json.NewDecoder(bufio.NewReader(infoR)).Decode(&info); err != nil {
			return fmt.Errorf("sandbox (bwrap): bwrap failed before the program started (read --info-fd: %v)", err)
		}
		if info.ChildPid <= 0 {
			return fmt.Errorf("sandbox (bwrap): --info-fd gave no child-pid")
		}
		// The sandbox's first process waits on --block-fd and has not
		// forked yet: all of the sandbox lands in the cgroup.
		if err := cg.add(info.ChildPid); err != nil {
			return err
		}
		if err := applyRlimitsAs(info.ChildPid, uid, gid, spec.Limits, 1); err != nil {
			return fmt.Errorf("sandbox (bwrap): %w", err)
		}
		if _, err := blockW.Write([]byte{1}); err != nil {
			return fmt.Errorf("sandbox (bwrap): release sandbox: %w", err)
		}
		return nil
	}
	res, err := execute(ctx, spec, cmd, Bwrap, setup)
	res.CgroupMemory = cg != nil && cg.added
	if cg.oomKilled() {
		res.OOM = true
	}
	if err != nil && len(res.Stderr) > 0 {
		err = fmt.Errorf("%w; bwrap stderr: %s", err, trimOut(res.Stderr))
	}
	return res, err
}

// bwrapExecArg is os.Args[1] of the trampoline that becomes bwrap.
const bwrapExecArg = "__r1_sandbox_bwrap"

// bwrapExec is the trampoline's whole job, passed as os.Args[2].
type bwrapExec struct {
	// Keep is how many descriptors from 3 on go to bwrap.
	Keep int
	// UID and GID are the ids to run bwrap as; -1 keeps the caller's.
	UID, GID int
	// Parent is the pid the trampoline must still have as its parent after
	// changing ids (which clears the parent-death signal it re-arms).
	Parent int
	// Binds are mounted in the trampoline's private mount namespace.
	Binds []stagedBind
	// Path and Args are what it executes.
	Path string
	Args []string
}

// stagedBind shows Host at Stage, a path nobody can walk to.
type stagedBind struct{ Host, Stage string }

// bwrapStage is the directory of mount points for private bind sources.
// It is left empty on the host: the mounts exist only in the trampoline's
// mount namespace.
type bwrapStage struct {
	dir    string
	points []string
	binds  []stagedBind
}

func (s *bwrapStage) add(b bind) (string, error) {
	if s.dir == "" {
		d, err := os.MkdirTemp("", "r1-bwrap-")
		if err != nil {
			return "", fmt.Errorf("sandbox (bwrap): staging dir: %w", err)
		}
		s.dir = d
		if err := os.Chmod(d, 0o755); err != nil {
			return "", fmt.Errorf("sandbox (bwrap): staging dir: %w", err)
		}
	}
	p := filepath.Join(s.dir, strconv.Itoa(len(s.points)))
	if err := mkMountPoint(p, b.dir); err != nil {
		return "", fmt.Errorf("sandbox (bwrap): %w", err)
	}
	s.points = append(s.points, p)
	s.binds = append(s.binds, stagedBind{Host: b.host, Stage: p})
	return p, nil
}

// remove deletes the mount points one by one, never recursively: a
// mistake that left a bind visible here must not delete what it shows.
func (s *bwrapStage) remove() {
	for _, p := range s.points {
		os.Remove(p)
	}
	if s.dir != "" {
		os.Remove(s.dir)
	}
}

// bwrapTrampoline is the re-executed binary's work before it becomes bwrap
// (see runBwrap). It returns only on failure.
func bwrapTrampoline() error {
	var c bwrapExec
	if len(os.Args) < 3 {
		return fmt.Errorf("missing trampoline config")
	}
	if err := json.Unmarshal([]byte(os.Args[2]), &c); err != nil {
		return fmt.Errorf("trampoline config: %w", err)
	}
	for _, b := range c.Binds {
		if err := unix.Mount(b.Host, b.Stage, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", b.Host, b.Stage, err)
		}
	}
	if err := markCloexecFrom(3 + c.Keep); err != nil {
		return fmt.Errorf("close inherited descriptors: %w", err)
	}
	if c.UID >= 0 {
		if err := syscall.Setgroups([]int{}); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(c.GID, c.GID, c.GID); err != nil {
			return fmt.Errorf("setresgid %d: %w", c.GID, err)
		}
		if err := syscall.Setresuid(c.UID, c.UID, c.UID); err != nil {
			return fmt.Errorf("setresuid %d: %w", c.UID, err)
		}
		// Changing ids cleared the parent-death signal; re-arm it on this
		// (locked) thread, which performs the exec, and make sure the
		// parent did not die in between.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("parent-death signal: %w", err)
		}
		if os.Getppid() != c.Parent {
			return fmt.Errorf("parent exited")
		}
	}
	if err := syscall.Exec(c.Path, c.Args, []string{}); err != nil {
		return fmt.Errorf("exec %s: %w", c.Path, err)
	}
	return nil
}

// bwrapUsable reports why bwrap cannot show l to the sandbox. A root caller
// runs bwrap as nobody; bind sources nobody cannot walk to are staged in a
// private mount namespace (see runBwrap), which needs CAP_SYS_ADMIN, and
// must still be readable by nobody once shown.
func bwrapUsable(l layout) error {
	if BwrapPath() == "" {
		return fmt.Errorf("%w: bwrap not found in PATH (install the bubblewrap package)", ErrUnavailable)
	}
	if os.Getuid() != 0 {
		return nil
	}
	for _, b := range l.binds {
		if reachableByOthers(b.host) {
			continue
		}
		if !hasCapSysAdmin() {
			return fmt.Errorf("%w: bwrap runs as nobody, who cannot reach %s, and without CAP_SYS_ADMIN it cannot be staged (use the namespaces mode or a world-readable path)", ErrUnavailable, b.host)
		}
		fi, err := os.Stat(b.host)
		if err != nil {
			return fmt.Errorf("sandbox (bwrap): bind %s: %w", b.host, err)
		}
		need := os.FileMode(0o004)
		if fi.IsDir() {
			need = 0o005
		}
		if fi.Mode().Perm()&need != need {
			return fmt.Errorf("%w: bwrap runs as nobody, who cannot read %s (mode %v)", ErrUnavailable, b.host, fi.Mode().Perm())
		}
	}
	return nil
}

func cutEnv(e string) (k, v string, ok bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}

func trimOut(b []byte) string {
	if len(b) > 512 {
		b = b[:512]
	}
	return string(b)
}

// memFile puts data in an anonymous in-memory file positioned at its start,
// so bwrap's --file can copy it without touching the host file system.
func memFile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("r1-sandbox", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sandbox (bwrap): memfd for %q: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("sandbox (bwrap): write %q: %w", name, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("sandbox (bwrap): seek %q: %w", name, err)
	}
	return f, nil
}
