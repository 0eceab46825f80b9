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
	"sort"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// runBwrap runs spec under bubblewrap. bwrap sets no rlimits, so it is asked
// to stop before running the program (--block-fd), reports the sandbox's pid
// (--info-fd), and the limits are applied to that pid with prlimit(2) before
// it is released; the program inherits them.
func runBwrap(ctx context.Context, spec Spec) (Result, error) {
	l, err := buildLayout(spec.Binds)
	if err != nil {
		return Result{}, err
	}
	if err := bwrapUsable(l); err != nil {
		return Result{}, err
	}

	var extra []*os.File // ExtraFiles: fd 3+i in bwrap
	defer func() { closeAll(extra) }()
	fdOf := func(f *os.File) string {
		extra = append(extra, f)
		return strconv.Itoa(2 + len(extra))
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
		args = append(args, "--ro-bind", b.host, b.dest)
	}
	args = append(args, "--dev", "/dev", "--proc", "/proc")
	for _, e := range spec.Env {
		k, v, _ := cutEnv(e)
		args = append(args, "--setenv", k, v)
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

	cmd := exec.Command(BwrapPath(), args...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true}
	if os.Getuid() == 0 {
		// bwrap maps the sandbox to the uid it runs as; running it as
		// nobody keeps the program off host root (and makes RLIMIT_NPROC,
		// which root ignores, bite).
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	}
	setup := func(cmd *exec.Cmd) error {
		// Our copies of the child's pipe ends must go so EOF can arrive.
		closeAll(extra)
		extra = nil
		var info struct {
			ChildPid int `json:"child-pid"`
		}
		if err := json.NewDecoder(bufio.NewReader(infoR)).Decode(&info); err != nil {
			return fmt.Errorf("sandbox (bwrap): bwrap failed before the program started (read --info-fd: %v)", err)
		}
		if info.ChildPid <= 0 {
			return fmt.Errorf("sandbox (bwrap): --info-fd gave no child-pid")
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
	if err != nil && len(res.Stderr) > 0 {
		err = fmt.Errorf("%w; bwrap stderr: %s", err, trimOut(res.Stderr))
	}
	return res, err
}

// bwrapUsable reports why bwrap cannot show l to the sandbox. A root caller
// runs bwrap as nobody, and bwrap resolves bind sources with nobody's
// permissions, so paths under a private directory (a pyenv under /root) are
// out of its reach; the namespace back end handles those.
func bwrapUsable(l layout) error {
	if BwrapPath() == "" {
		return fmt.Errorf("%w: bwrap not found in PATH (install the bubblewrap package)", ErrUnavailable)
	}
	if os.Getuid() != 0 {
		return nil
	}
	for _, b := range l.binds {
		if !reachableByOthers(b.host) {
			return fmt.Errorf("%w: bwrap runs as nobody, who cannot read %s (use the namespaces mode or a world-readable interpreter)", ErrUnavailable, b.host)
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
