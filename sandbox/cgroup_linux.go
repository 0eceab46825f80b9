//go:build linux

package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cgroupBase is the directory under which per-run memory cgroups are made:
// a child of this process's own cgroup, so every run also stays inside
// whatever limits the caller runs under.
type cgroupBase struct {
	dir string
	v2  bool
}

var (
	cgroupOnce sync.Once
	cgroupRoot *cgroupBase
	cgroupWhy  error
	cgroupSeq  atomic.Int64
)

// memoryCgroupBase finds, once, where memory cgroups can be made: the
// process's cgroup in a cgroup v2 hierarchy whose memory controller is (or
// can be) enabled for its children, else its cgroup in a writable v1 memory
// hierarchy. The error says why neither works; runs then rely on RLIMIT_AS.
func memoryCgroupBase() (*cgroupBase, error) {
	cgroupOnce.Do(func() {
		cgroupRoot, cgroupWhy = findCgroupBase()
		if cgroupRoot != nil {
			sweepCgroups(cgroupRoot.dir)
		}
	})
	return cgroupRoot, cgroupWhy
}

// sweepCgroups removes the cgroups of runs whose process was killed before
// it could remove them (r1-sandbox-PID-N with PID gone). rmdir only
// succeeds on a cgroup without processes, so a live one is never touched.
func sweepCgroups(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "r1-sandbox-")
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// CgroupMemory reports whether runs get a memory cgroup on this machine,
// i.e. whether Limits.MemoryBytes bounds a run's total memory; when not,
// the error says why.
func CgroupMemory() (bool, error) {
	b, err := memoryCgroupBase()
	return b != nil, err
}

func findCgroupBase() (*cgroupBase, error) {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	var why []string
	if dir, ok := cgroupDir(string(mi), string(own), true); ok {
		if err := prepareV2(dir); err == nil {
			return &cgroupBase{dir: dir, v2: true}, nil
		} else {
			why = append(why, "cgroup v2: "+err.Error())
		}
	} else {
		why = append(why, "cgroup v2: no hierarchy with this process's cgroup mounted")
	}
	if dir, ok := cgroupDir(string(mi), string(own), false); ok {
		if err := probeMkdir(dir); err == nil {
			return &cgroupBase{dir: dir}, nil
		} else {
			why = append(why, "cgroup v1 memory: "+err.Error())
		}
	} else {
		why = append(why, "cgroup v1 memory: not mounted")
	}
	return nil, errors.New("no memory cgroup (" + strings.Join(why, "; ") + ")")
}

// cgroupDir finds the directory of this process's cgroup in the unified
// (v2) hierarchy or the v1 memory hierarchy, from /proc/self/mountinfo and
// /proc/self/cgroup.
func cgroupDir(mountinfo, own string, v2 bool) (string, bool) {
	var cgPath string
	for _, line := range strings.Split(own, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if v2 && parts[0] == "0" && parts[1] == "" {
			cgPath = parts[2]
		}
		if !v2 && hasField(parts[1], ",", "memory") {
			cgPath = parts[2]
		}
	}
	if cgPath == "" {
		return "", false
	}
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent maj:min root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		root, mnt := unescapeMount(f[3]), unescapeMount(f[4])
		switch {
		case v2 && g[0] == "cgroup2":
		case !v2 && g[0] == "cgroup" && hasField(g[2], ",", "memory"):
		default:
			continue
		}
		rel := cgPath
		if root != "/" {
			r, ok := strings.CutPrefix(cgPath, root)
			if !ok || (r != "" && !strings.HasPrefix(r, "/")) {
				continue
			}
			rel = r
		}
		return filepath.Join(mnt, rel), true
	}
	return "", false
}

func hasField(list, sep, want string) bool {
	for _, f := range strings.Split(list, sep) {
		if f == want {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// prepareV2 checks that children of dir can have a memory limit: the
// controller must be available in dir and enabled for its children. A
// cgroup that holds processes (other than the root) cannot enable it (the
// "no internal processes" rule), so this works where the caller was given
// a delegated subtree whose controllers are already enabled, or is in the
// root cgroup.
func prepareV2(dir string) error {
	ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	if !hasField(strings.TrimSpace(string(ctl)), " ", "memory") {
		return fmt.Errorf("memory controller not available in %s", dir)
	}
	sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if !hasField(strings.TrimSpace(string(sub)), " ", "memory") {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			return fmt.Errorf("enable memory for children of %s: %w", dir, err)
		}
	}
	return probeMkdir(dir)
}

func probeMkdir(dir string) error {
	p := filepath.Join(dir, fmt.Sprintf("r1-sandbox-probe-%d", os.Getpid()))
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	return os.Remove(p)
}

// memCgroup is the cgroup of one run.
type memCgroup struct {
	dir   string
	v2    bool
	added bool
}

// newMemCgroup makes a cgroup limited to limit bytes of memory (swap
// included, so the limit cannot be dodged by swapping), or returns nil
// when this machine gives no memory cgroups.
func newMemCgroup(limit int64) (*memCgroup, error) {
	base, err := memoryCgroupBase()
	if base == nil || err != nil {
		return nil, nil
	}
	dir := filepath.Join(base.dir, fmt.Sprintf("r1-sandbox-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: memory cgroup: %w", err)
	}
	c := &memCgroup{dir: dir, v2: base.v2}
	lim := strconv.FormatInt(limit, 10)
	type write struct {
		file, val string
		optional  bool
	}
	writes := []write{{"memory.max", lim, false}, {"memory.swap.max", "0", true}}
	if !c.v2 {
		// memsw (memory + swap) exists only with swap accounting, and must
		// not be set below memory.limit_in_bytes, so it comes second.
		writes = []write{{"memory.limit_in_bytes", lim, false}, {"memory.memsw.limit_in_bytes", lim, true}}
	}
	for _, w := range writes {
		if err := os.WriteFile(filepath.Join(dir, w.file), []byte(w.val), 0); err != nil && !w.optional {
			c.remove()
			return nil, fmt.Errorf("sandbox: memory cgroup: set %s: %w", w.file, err)
		}
	}
	return c, nil
}

// add moves pid (and so everything it starts later) into the cgroup.
func (c *memCgroup) add(pid int) error {
	if c == nil {
		return nil
	}
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("sandbox: move pid %d into memory cgroup %s: %w", pid, c.dir, err)
	}
	c.added = true
	return nil
}

// oomKilled reports whether the kernel killed a process of the cgroup for
// passing the limit.
func (c *memCgroup) oomKilled() bool {
	if c == nil {
		return false
	}
	file := "memory.oom_control"
	if c.v2 {
		file = "memory.events"
	}
	f, err := os.Open(filepath.Join(c.dir, file))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n > 0
		}
	}
	return false
}

// remove deletes the cgroup once its processes are gone. They die with the
// sandbox's pid namespace before Run returns, but the kernel may take a
// moment to let go of them.
func (c *memCgroup) remove() {
	if c == nil {
		return
	}
	for i := 0; i < 100; i++ {
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		if i == 10 && c.v2 {
			_ = os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0)
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
}
