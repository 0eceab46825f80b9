//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// File descriptors of the helper, as laid out by runNamespaces.
const (
	childConfigFD = 3 // JSON childConfig, read to EOF
	childErrorFD  = 4 // setup error text; closed without data on success
	childExtraFD  = 5 // Spec.ExtraFiles from here on, handed to the program as 3, 4, …
)

type childBind struct {
	Host, Dest string
	Dir        bool
}

// childConfig is everything the helper needs, sent over a pipe so that none
// of it shows up in argv or the environment.
type childConfig struct {
	Root     string
	ProgUID  int // uid and gid of the program inside the namespace
	Binds    []childBind
	Symlinks []symlink
	Files    map[string][]byte
	Cmd      []string
	Env      []string
	Limits   Limits
	// ExtraFiles is how many descriptors from childExtraFD on the program
	// gets.
	ExtraFiles int
}

// runNamespaces starts this binary again as the helper inside fresh user,
// mount, pid, network, IPC, UTS and cgroup namespaces.
func runNamespaces(ctx context.Context, spec Spec) (Result, error) {
	// The helper builds the same filter; fail here, before any setup, on an
	// architecture without one.
	if _, err := syscallFilter(true); err != nil {
		return Result{}, fmt.Errorf("%w: namespaces: %v", ErrUnavailable, err)
	}
	l, err := buildLayout(spec.Binds)
	if err != nil {
		return Result{}, err
	}
	root, err := os.MkdirTemp("", "r1-sandbox-")
	if err != nil {
		return Result{}, fmt.Errorf("sandbox (namespaces): mount point: %w", err)
	}
	// The helper mounts a tmpfs here in its private mount namespace only, so
	// the host directory stays empty and can simply be removed.
	defer os.Remove(root)
	if err := os.Chmod(root, 0o755); err != nil {
		return Result{}, fmt.Errorf("sandbox (namespaces): %w", err)
	}
	cfg := childConfig{Root: root, Symlinks: l.symlinks, Files: spec.Files, Cmd: spec.Cmd, Env: spec.Env, Limits: spec.Limits,
		ExtraFiles: len(spec.ExtraFiles)}
	for _, b := range l.binds {
		cfg.Binds = append(cfg.Binds, childBind{Host: b.host, Dest: b.dest, Dir: b.dir})
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox (namespaces): pipe: %w", err)
	}
	defer cfgW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return Result{}, fmt.Errorf("sandbox (namespaces): pipe: %w", err)
	}
	defer errR.Close()
	extra := append([]*os.File{cfgR, errW}, spec.ExtraFiles...)
	cg, err := newMemCgroup(spec.Limits.MemoryBytes)
	if err != nil {
		cfgR.Close()
		errW.Close()
		return Result{}, err
	}
	defer cg.remove()

	// A root caller maps host root to the helper's uid 0, so the helper can
	// read bind sources such as a pyenv under /root, and host nobody to uid
	// 1, which the program runs as: to the host it is nobody, so file
	// permissions and RLIMIT_NPROC (ignored for host root) apply. Anyone
	// else can map only their own uid; the program then runs as uid 0 of the
	// namespace with every capability dropped.
	uidMap := []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
	gidMap := []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	setgroups := false
	cred := &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	if os.Getuid() == 0 {
		uidMap = append(uidMap, syscall.SysProcIDMap{ContainerID: 1, HostID: nobody, Size: 1})
		gidMap = append(gidMap, syscall.SysProcIDMap{ContainerID: 1, HostID: nobody, Size: 1})
		cfg.ProgUID = 1
		setgroups = true
		cred = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
	}
	// /proc/self/exe names this very binary even if its path changed since,
	// and the magic link needs no walk through directories that a non-root
	// caller's helper may not search (go test builds in a 0700 dir).
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{"r1-sandbox", ChildArg}}
	cmd.Env = []string{"GOMAXPROCS=1"}
	cmd.Dir = "/"
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP,
		UidMappings:                uidMap,
		GidMappings:                gidMap,
		GidMappingsEnableSetgroups: setgroups,
		// Entering a user namespace keeps the caller's ids; switching to
		// the namespace's uid 0 makes the helper the mapped one (and, for
		// a root caller, drops the host's supplementary groups).
		Credential: cred,
		Pdeathsig:  syscall.SIGKILL,
		Setsid:     true,
	}
	setup := func(cmd *exec.Cmd) error {
		cfgR.Close()
		errW.Close()
		// The helper waits for its config before doing anything, so
		// everything the sandbox starts is in the cgroup.
		if err := cg.add(cmd.Process.Pid); err != nil {
			return err
		}
		enc := json.NewEncoder(cfgW)
		werr := enc.Encode(&cfg)
		cfgW.Close()
		msg, _ := io.ReadAll(io.LimitReader(errR, 64<<10))
		if len(msg) > 0 {
			return fmt.Errorf("sandbox (namespaces): setup failed: %s", strings.TrimSpace(string(msg)))
		}
		if werr != nil {
			return fmt.Errorf("sandbox (namespaces): send config: %w", werr)
		}
		return nil
	}
	res, err := execute(ctx, spec, cmd, Namespaces, setup)
	res.CgroupMemory = cg != nil && cg.added
	if cg.oomKilled() {
		res.OOM = true
	}
	return res, err
}

// ChildArg is os.Args[1] of the re-executed sandbox helper.
const ChildArg = "__r1_sandbox_child"

func init() { Main() }

// Main turns the process into the sandbox helper when it was started as one
// (os.Args[1] == ChildArg, or the trampoline that starts bubblewrap) and
// never returns in that case; otherwise it returns at once. The package
// calls it from init, so importing the package is enough; calling it first
// thing in main is harmless and documents it.
func Main() {
	if len(os.Args) < 2 {
		return
	}
	if os.Args[1] == bwrapExecArg {
		// A thread of its own: the parent-death signal and the exec go
		// together.
		runtime.LockOSThread()
		err := bwrapTrampoline()
		fmt.Fprintf(os.Stderr, "r1 sandbox (bwrap trampoline): %v\n", err)
		os.Exit(127)
	}
	if os.Args[1] != ChildArg {
		return
	}
	// Credentials, no_new_privs and the ptrace relation are per thread: all
	// of the helper's work happens on this one.
	runtime.LockOSThread()
	errf := os.NewFile(childErrorFD, "sandbox-error")
	err := childRun()
	fmt.Fprintf(errf, "%v", err)
	os.Exit(127)
}

// childRun sets up the sandbox, starts the program and, as pid 1 of the new
// pid namespace, reaps everything until the program exits. It only returns
// on a setup error.
func childRun() error {
	// Nothing the helper inherited or opened may leak into the program,
	// whatever its number: the program gets 0-2 and the extra files, which
	// ForkExec below puts in place without close-on-exec.
	if err := markCloexecFrom(childConfigFD); err != nil {
		return fmt.Errorf("close inherited descriptors: %w", err)
	}
	var cfg childConfig
	cf := os.NewFile(childConfigFD, "sandbox-config")
	if err := json.NewDecoder(cf).Decode(&cfg); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cf.Close()
	if len(cfg.Cmd) == 0 {
		return fmt.Errorf("config has no command")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := cfg.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("mount root tmpfs on %s: %w", root, err)
	}
	// The work dir first, so binds below it land on top of it.
	work := filepath.Join(root, WorkDir)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	opts := "mode=1777,size=" + strconv.FormatInt(cfg.Limits.FileBytes, 10)
	if err := unix.Mount("tmpfs", work, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount %s tmpfs: %w", WorkDir, err)
	}
	for name, data := range cfg.Files {
		if err := checkFileName(name); err != nil {
			return err
		}
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := os.Lchown(p, cfg.ProgUID, cfg.ProgUID); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
	}
	for _, b := range cfg.Binds {
		target := filepath.Join(root, b.Dest)
		if err := mkMountPoint(target, b.Dir); err != nil {
			return err
		}
		if err := unix.Mount(b.Host, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", b.Dest, err)
		}
		if err := makeReadOnly(target); err != nil {
			return fmt.Errorf("bind %s read-only: %w", b.Dest, err)
		}
	}
	for _, s := range cfg.Symlinks {
		if err := os.Symlink(s.Target, filepath.Join(root, s.Dest)); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink %s: %w", s.Dest, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		return err
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom"} {
		target := filepath.Join(root, "dev", d)
		if err := mkMountPoint(target, false); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	for name, t := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		_ = os.Symlink(t, filepath.Join(root, "dev", name))
	}
	procDir := filepath.Join(root, "proc")
	if err := os.MkdirAll(procDir, 0o555); err != nil {
		return err
	}
	// Best effort: a host /proc with masked entries forbids a fresh proc
	// mount, and programs run without /proc.
	_ = unix.Mount("proc", procDir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir(WorkDir); err != nil {
		return err
	}
	_ = unix.Sethostname([]byte("sandbox"))
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := dropBoundingSet(); err != nil {
		return err
	}
	helperThreads := 0
	if cfg.ProgUID == 0 {
		helperThreads = 16 // the helper shares the program's host uid
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil && cfg.ProgUID == 0 {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Threads:"); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					helperThreads = n
				}
			}
		}
	}
	files := []uintptr{0, 1, 2}
	for i := 0; i < cfg.ExtraFiles; i++ {
		files = append(files, uintptr(childExtraFD+i))
	}
	// The filter goes on this thread, the one that forks the program, which
	// inherits it; from here on the helper only waits, sets rlimits and
	// detaches, none of which the filter denies.
	filter, err := syscallFilter(true)
	if err != nil {
		return err
	}
	if err := installSyscallFilter(filter); err != nil {
		return err
	}
	// The program starts stopped (ptrace stops it at exec) so its rlimits
	// can be set before it runs a single instruction, without limiting this
	// Go helper, which needs more address space than a small RLIMIT_AS.
	pid, err := syscall.ForkExec(cfg.Cmd[0], cfg.Cmd, &syscall.ProcAttr{
		Dir:   WorkDir,
		Env:   cfg.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Ptrace:     true,
			Credential: &syscall.Credential{Uid: uint32(cfg.ProgUID), Gid: uint32(cfg.ProgUID), NoSetGroups: cfg.ProgUID == 0},
		},
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", cfg.Cmd[0], err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fmt.Errorf("wait for exec stop: %w", err)
	}
	if !ws.Stopped() {
		return fmt.Errorf("program did not stop at exec (status %v)", ws)
	}
	if err := applyRlimits(pid, cfg.Limits, helperThreads); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return err
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return fmt.Errorf("release program: %w", err)
	}
	// The program has its own copies now; the helper's would keep pipes
	// open after the program closed them.
	for i := 0; i < cfg.ExtraFiles; i++ {
		unix.Close(childExtraFD + i)
	}
	unix.Close(childErrorFD) // tells the parent setup worked
	for {
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			os.Exit(126)
		}
		if wpid != pid {
			continue // an orphan reparented to us
		}
		if ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		if ws.Exited() {
			// Leaving as pid 1 kills whatever the program left behind.
			os.Exit(ws.ExitStatus())
		}
	}
}

// mkMountPoint creates an empty directory or file to mount on.
func mkMountPoint(p string, dir bool) error {
	if dir {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", p, err)
		}
		return nil
	}
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		return fmt.Errorf("mount point %s: %w", p, err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", p, err)
	}
	return f.Close()
}

// makeReadOnly makes a bind mount and every mount below it read-only
// (mount_setattr, Linux 5.12+); older kernels get remountRO, which covers
// the top mount only.
func makeReadOnly(target string) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	err := unix.MountSetattr(-1, target, unix.AT_RECURSIVE, &attr)
	if err == nil {
		return nil
	}
	if err != unix.ENOSYS && err != unix.EINVAL && err != unix.EPERM {
		return err
	}
	return remountRO(target)
}

// remountRO makes a bind mount read-only. Flags the host mount was locked
// with (nosuid, nodev, noexec, atime) must be repeated or the kernel refuses
// the remount inside a user namespace.
func remountRO(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	for _, m := range []struct{ st, ms uintptr }{
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&m.st != 0 {
			flags |= m.ms
		}
	}
	return unix.Mount("", target, "", flags, "")
}

// dropBoundingSet empties this thread's capability bounding set and ambient
// set, which the program inherits: whatever uid it runs as, exec can then
// grant it no capability. The helper keeps its own effective set, which it
// needs to set the program's rlimits.
func dropBoundingSet() error {
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}
