package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain is where a binary must call Main before doing anything else; the
// package's init already did, this documents the pattern for other binaries.
func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

// modes lists the back ends this machine can test, with the interpreter each
// one can use: bwrap runs as nobody when we are root, so it needs a
// world-readable python (Debian's /usr/bin/python3 rather than a pyenv under
// /root).
func modes(t *testing.T) []struct {
	mode Mode
	py   Python
} {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("sandbox needs Linux")
	}
	ctx := context.Background()
	py, err := FindPython(ctx, "python3")
	if err != nil {
		t.Skipf("no python3: %v", err)
	}
	var out []struct {
		mode Mode
		py   Python
	}
	if usable(t, Namespaces) {
		out = append(out, struct {
			mode Mode
			py   Python
		}{Namespaces, py})
	}
	if BwrapPath() == "" || !usable(t, Bwrap) {
		t.Log("bwrap not installed or not usable: testing the namespace back end only")
		if len(out) == 0 {
			t.Skip("no sandbox back end can run on this machine")
		}
		return out
	}
	bpy := py
	if l, err := buildLayout(py.Binds); err != nil || bwrapUsable(l) != nil {
		bpy, err = FindPython(ctx, "/usr/bin/python3")
		if err != nil {
			t.Log("no world-readable python3 for bwrap: testing the namespace back end only")
			return out
		}
	}
	return append(out, struct {
		mode Mode
		py   Python
	}{Bwrap, bpy})
}

var (
	probeMu  sync.Mutex
	probeErr = map[Mode]error{}
)

// usable reports whether mode can run at all here. Only the kernel refusing
// namespaces (containers without user namespaces) counts as unusable; any
// other failure is a bug and fails the test.
func usable(t *testing.T, mode Mode) bool {
	t.Helper()
	probeMu.Lock()
	defer probeMu.Unlock()
	err, done := probeErr[mode]
	if !done {
		_, err = (&Runner{Mode: mode}).Run(context.Background(), Spec{Cmd: []string{trueCmd(t)}})
		probeErr[mode] = err
	}
	if err == nil {
		return true
	}
	msg := err.Error()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) ||
		strings.Contains(msg, "No permissions to create") || strings.Contains(msg, "setting up uid map") ||
		strings.Contains(msg, "Creating new namespace failed") {
		t.Logf("%v back end unusable on this machine: %v", mode, err)
		return false
	}
	t.Fatalf("%v back end failed to run true: %v", mode, err)
	return false
}

func trueCmd(t *testing.T) string {
	p, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true command")
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p
}

func runPy(t *testing.T, mode Mode, py Python, code string, lim Limits, args ...string) Result {
	t.Helper()
	spec := Spec{
		Files:  map[string][]byte{"main.py": []byte(code)},
		Cmd:    append([]string{py.Path, "main.py"}, args...),
		Binds:  py.Binds,
		Limits: lim,
	}
	r := &Runner{Mode: mode}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("%v: Run: %v", mode, err)
	}
	if res.Mode != mode {
		t.Fatalf("ran in mode %v, asked for %v", res.Mode, mode)
	}
	return res
}

func TestRunBasics(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			spec := Spec{
				Files: map[string][]byte{
					"main.py":         []byte("import sys, os\nfrom pkg import helper\nprint(helper.X, sys.stdin.read().upper(), os.getcwd(), os.environ.get('GREETING'))\nopen('out.txt','w').write('ok')\nprint(open('out.txt').read())\nsys.exit(3)\n"),
					"pkg/helper.py":   []byte("X = 41 + 1\n"),
					"pkg/__init__.py": nil,
				},
				Cmd:   []string{m.py.Path, "main.py"},
				Stdin: []byte("hello"),
				Env:   []string{"GREETING=hi there"},
				Binds: m.py.Binds,
			}
			res, err := (&Runner{Mode: m.mode}).Run(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			want := "42 HELLO " + WorkDir + " hi there\nok\n"
			if string(res.Stdout) != want || res.ExitCode != 3 || res.TimedOut || res.OutputTruncated {
				t.Fatalf("got stdout %q exit %d timedOut %v truncated %v stderr %q; want %q exit 3", res.Stdout, res.ExitCode, res.TimedOut, res.OutputTruncated, res.Stderr, want)
			}
		})
	}
}

func TestSpecValidation(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		want string
	}{
		{"empty cmd", Spec{}, "Spec.Cmd is empty"},
		{"relative cmd", Spec{Cmd: []string{"python3"}}, "absolute path"},
		{"escaping file", Spec{Cmd: []string{"/bin/true"}, Files: map[string][]byte{"../x": nil}}, "Spec.Files key"},
		{"absolute file", Spec{Cmd: []string{"/bin/true"}, Files: map[string][]byte{"/etc/x": nil}}, "Spec.Files key"},
		{"bad env", Spec{Cmd: []string{"/bin/true"}, Env: []string{"NOEQUALS"}}, "Spec.Env entry"},
		{"bind root", Spec{Cmd: []string{"/bin/true"}, Binds: []string{"/"}}, "Spec.Binds entry"},
		{"relative bind", Spec{Cmd: []string{"/bin/true"}, Binds: []string{"usr"}}, "Spec.Binds entry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(context.Background(), c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mode
		ok   bool
	}{{"", Auto, true}, {"bwrap", Bwrap, true}, {"Namespaces", Namespaces, true}, {"docker", Auto, false}} {
		got, err := ParseMode(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && c.in != "" && !strings.EqualFold(got.String(), c.in) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// TestNoNetwork: a server the test listens on must be unreachable.
func TestNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	code := fmt.Sprintf(`import socket
for host in ("127.0.0.1", "localhost"):
    try:
        s = socket.create_connection((host, %d), timeout=2)
        print("CONNECTED", host)
    except Exception as e:
        print("refused", host, type(e).__name__)
`, port)
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, code, Limits{Wall: 10 * time.Second})
			out := string(res.Stdout)
			if strings.Contains(out, "CONNECTED") || strings.Count(out, "refused") != 2 {
				t.Fatalf("network reachable from the sandbox: stdout %q stderr %q", out, res.Stderr)
			}
			select {
			case <-accepted:
				t.Fatal("the test's listener accepted a connection from the sandbox")
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

// TestReadOnlySystem: nothing outside the private temp dir can be written,
// including a host directory bound into the sandbox.
func TestReadOnlySystem(t *testing.T) {
	host := t.TempDir()
	// bwrap runs as nobody and must be able to reach the bind.
	for d := host; d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
			os.Chmod(d, 0o755)
		}
	}
	if err := os.WriteFile(filepath.Join(host, "seen.txt"), []byte("visible"), 0o666); err != nil {
		t.Fatal(err)
	}
	code := fmt.Sprintf(`import os
targets = [%q, %q, "/usr/r1_pwned", "/r1_pwned", "/etc/r1_pwned", "/bin/r1_pwned"]
for p in targets:
    try:
        with open(p, "w") as f:
            f.write("pwned")
        print("WROTE", p)
    except OSError as e:
        print("denied", p)
try:
    os.chmod(%q, 0o777)
    print("WROTE chmod")
except OSError:
    print("denied chmod")
print(open(%q).read())
with open("/tmp/private.txt", "w") as f:
    f.write("fine")
print("tmp ok")
`, filepath.Join(host, "new.txt"), filepath.Join(host, "seen.txt"), filepath.Join(host, "seen.txt"), filepath.Join(host, "seen.txt"))
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			spec := Spec{
				Files: map[string][]byte{"main.py": []byte(code)},
				Cmd:   []string{m.py.Path, "main.py"},
				Binds: append([]string{host}, m.py.Binds...),
			}
			res, err := (&Runner{Mode: m.mode}).Run(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.Stdout)
			if strings.Contains(out, "WROTE") || !strings.Contains(out, "visible") || !strings.Contains(out, "tmp ok") {
				t.Fatalf("stdout %q stderr %q", out, res.Stderr)
			}
			if _, err := os.Stat(filepath.Join(host, "new.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file written in the sandbox appeared on the host: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(host, "seen.txt")); string(b) != "visible" {
				t.Fatalf("host file changed to %q", b)
			}
			for _, p := range []string{"/usr/r1_pwned", "/r1_pwned", "/etc/r1_pwned"} {
				if _, err := os.Stat(p); err == nil {
					os.Remove(p)
					t.Fatalf("%s appeared on the host", p)
				}
			}
		})
	}
}

// TestEnvNotLeaked: neither the environment nor /proc shows the parent's
// variables.
func TestEnvNotLeaked(t *testing.T) {
	const secret = "r1-sandbox-secret-value-7f3a"
	t.Setenv("R1_SANDBOX_SECRET", secret)
	code := `import os, glob
found = [k for k, v in os.environ.items() if "` + secret + `" in v or k == "R1_SANDBOX_SECRET"]
for p in glob.glob("/proc/*/environ"):
    try:
        if b"` + secret + `" in open(p, "rb").read():
            found.append(p)
    except OSError:
        pass
print("FOUND" if found else "clean", found, len(os.environ))
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, code, Limits{})
			if !strings.HasPrefix(string(res.Stdout), "clean") {
				t.Fatalf("parent environment visible: stdout %q stderr %q", res.Stdout, res.Stderr)
			}
		})
	}
}

// alive counts host processes whose command line contains marker.
func alive(marker string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) {
			n++
		}
	}
	return n
}

func waitGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for alive(marker) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sandboxed processes outlived the run", alive(marker))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestForkBomb: process creation stops at the limit, and nothing survives
// the run.
func TestForkBomb(t *testing.T) {
	counted := `import os, sys, time
n = 0
try:
    while n < 10000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print("stopped after", n, "forks:", e.strerror)
    sys.stdout.flush()
os._exit(0)
`
	bomb := `import os
while True:
    try:
        os.fork()
    except OSError:
        pass
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			marker := fmt.Sprintf("r1-forkbomb-%d-%d", os.Getpid(), m.mode)
			res := runPy(t, m.mode, m.py, counted, Limits{Procs: 16, Wall: 10 * time.Second}, marker)
			// Slack of 2: the helper's threads may share the program's uid.
			var n int
			if _, err := fmt.Sscanf(string(res.Stdout), "stopped after %d", &n); err != nil || n > 16+2 {
				t.Fatalf("fork limit did not hold: stdout %q stderr %q", res.Stdout, res.Stderr)
			}
			if res.TimedOut {
				t.Fatalf("sleeping children kept the sandbox alive until the wall limit")
			}
			waitGone(t, marker)

			res = runPy(t, m.mode, m.py, bomb, Limits{Procs: 16, Wall: 1500 * time.Millisecond}, marker)
			if !res.TimedOut {
				t.Fatalf("fork bomb was not stopped by the wall limit: %+v", res)
			}
			waitGone(t, marker)
		})
	}
}

// TestTimeLimits: a busy loop dies at the CPU limit, a sleeper at the wall
// limit.
func TestTimeLimits(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.mode.String()+"/cpu", func(t *testing.T) {
			res := runPy(t, m.mode, m.py, "while True:\n    pass\n", Limits{CPU: time.Second, Wall: 20 * time.Second})
			if !res.TimedOut || res.ExitCode == 0 || res.Wall > 15*time.Second {
				t.Fatalf("busy loop not stopped by the CPU limit: exit %d timedOut %v wall %v", res.ExitCode, res.TimedOut, res.Wall)
			}
		})
		t.Run(m.mode.String()+"/wall", func(t *testing.T) {
			marker := fmt.Sprintf("r1-sleeper-%d-%d", os.Getpid(), m.mode)
			res := runPy(t, m.mode, m.py, "import time\ntime.sleep(120)\n", Limits{Wall: 500 * time.Millisecond}, marker)
			if !res.TimedOut || res.Wall > 5*time.Second {
				t.Fatalf("sleeper not stopped by the wall limit: exit %d timedOut %v wall %v", res.ExitCode, res.TimedOut, res.Wall)
			}
			waitGone(t, marker)
		})
	}
}

// TestMemoryLimit: allocating 4 GB fails inside a 256 MB sandbox.
func TestMemoryLimit(t *testing.T) {
	code := `import sys
try:
    x = bytearray(4 << 30)
    print("ALLOCATED", len(x))
except MemoryError:
    print("refused")
    raise
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, code, Limits{MemoryBytes: 256 << 20})
			if strings.Contains(string(res.Stdout), "ALLOCATED") || res.ExitCode == 0 || !res.OOM {
				t.Fatalf("4 GB allocation not refused: stdout %q exit %d oom %v", res.Stdout, res.ExitCode, res.OOM)
			}
		})
	}
}

// TestOutputLimit: printing 1 GB yields at most the limit and ends early.
func TestOutputLimit(t *testing.T) {
	const limit = 64 << 10
	for _, stream := range []string{"stdout", "stderr"} {
		code := "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys." + stream + ".write(chunk)\n"
		for _, m := range modes(t) {
			t.Run(m.mode.String()+"/"+stream, func(t *testing.T) {
				res := runPy(t, m.mode, m.py, code, Limits{OutputBytes: limit, Wall: 30 * time.Second})
				got := len(res.Stdout) + len(res.Stderr)
				if !res.OutputTruncated || len(res.Stdout) > limit || len(res.Stderr) > limit || got < limit {
					t.Fatalf("truncated %v, stdout %d bytes, stderr %d bytes; want truncated at %d", res.OutputTruncated, len(res.Stdout), len(res.Stderr), limit)
				}
				if res.TimedOut {
					t.Fatal("the sandbox was not killed when the output limit was passed")
				}
			})
		}
	}
}

// TestFileSizeLimit: the private temp dir cannot be used to fill memory.
func TestFileSizeLimit(t *testing.T) {
	code := `try:
    with open("/tmp/big", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
    print("WROTE")
except OSError as e:
    print("refused", e.errno)
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			res := runPy(t, m.mode, m.py, code, Limits{FileBytes: 4 << 20})
			if strings.Contains(string(res.Stdout), "WROTE") {
				t.Fatalf("wrote 64 MB past a 4 MB limit: stdout %q stderr %q", res.Stdout, res.Stderr)
			}
		})
	}
}

// TestNotRoot: the program holds no capabilities and, when the test runs as
// root, is not host root.
func TestNotRoot(t *testing.T) {
	code := `import os
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print(status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip())
`
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			marker := fmt.Sprintf("r1-notroot-%d-%d", os.Getpid(), m.mode)
			spec := Spec{
				Files:  map[string][]byte{"main.py": []byte(code + "import time\nprint(flush=True)\ntime.sleep(1)\n")},
				Cmd:    []string{m.py.Path, "main.py", marker},
				Binds:  m.py.Binds,
				Limits: Limits{Wall: 20 * time.Second},
			}
			done := make(chan Result, 1)
			go func() {
				res, err := (&Runner{Mode: m.mode}).Run(context.Background(), spec)
				if err != nil {
					t.Error(err)
				}
				done <- res
			}()
			// Look at the running program from the host.
			var uid string
			deadline := time.Now().Add(10 * time.Second)
			for uid == "" && time.Now().Before(deadline) {
				ents, _ := os.ReadDir("/proc")
				for _, e := range ents {
					b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
					if err != nil || !strings.Contains(string(b), marker) || !strings.Contains(string(b), "main.py") {
						continue
					}
					// Only the program itself: bwrap and its launcher carry
					// the same arguments while they start it, as root.
					if argv0, _, _ := strings.Cut(string(b), "\x00"); argv0 != m.py.Path {
						continue
					}
					st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
					for _, l := range strings.Split(string(st), "\n") {
						if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
							uid = f[1]
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			res := <-done
			if uid == "" {
				t.Fatal("sandboxed program not found on the host")
			}
			if os.Getuid() == 0 && uid == "0" {
				t.Fatal("sandboxed program runs as host root")
			}
			if f := strings.Fields(string(res.Stdout)); len(f) < 3 || f[0] != "0000000000000000" || f[1] != "0000000000000000" || f[2] != "1" {
				t.Fatalf("want no capabilities and no_new_privs, got %q (stderr %q)", res.Stdout, res.Stderr)
			}
			waitGone(t, marker)
		})
	}
}

func TestContextCancel(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.mode.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			spec := Spec{
				Files: map[string][]byte{"main.py": []byte("import time\ntime.sleep(60)\n")},
				Cmd:   []string{m.py.Path, "main.py"},
				Binds: m.py.Binds,
			}
			start := time.Now()
			_, err := (&Runner{Mode: m.mode}).Run(ctx, spec)
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Fatalf("got %v after %v; want context.DeadlineExceeded promptly", err, time.Since(start))
			}
		})
	}
}

func TestBwrapUnavailable(t *testing.T) {
	if BwrapPath() != "" {
		t.Skip("bwrap is installed")
	}
	_, err := (&Runner{Mode: Bwrap}).Run(context.Background(), Spec{Cmd: []string{"/bin/true"}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestCappedBuffer(t *testing.T) {
	full := 0
	c := &cappedBuffer{limit: 10, onFull: func() { full++ }}
	for _, w := range []string{"abcd", "efgh", "ijkl", "mnop"} {
		if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if string(c.bytes()) != "abcdefghij" || !c.truncated || full != 1 {
		t.Fatalf("got %q truncated %v full %d", c.bytes(), c.truncated, full)
	}
}

// BenchmarkOverhead measures `python3 -c pass` in each back end. Every
// iteration also runs the same command unsandboxed, interleaved so that load
// from other processes hits both alike; overhead-ms/op is the difference.
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	py, err := FindPython(ctx, "python3")
	if err != nil {
		b.Skip(err)
	}
	for _, m := range []Mode{Namespaces, Bwrap} {
		p := py
		if m == Bwrap {
			if BwrapPath() == "" {
				continue
			}
			if l, err := buildLayout(p.Binds); err != nil || bwrapUsable(l) != nil {
				if p, err = FindPython(ctx, "/usr/bin/python3"); err != nil {
					continue
				}
			}
		}
		b.Run(m.String(), func(b *testing.B) {
			overheadBench(b, m, p.Path, []string{"-c", "pass"}, p.Binds)
		})
	}
}

// BenchmarkTrue isolates the sandbox's own cost with /bin/true.
func BenchmarkTrue(b *testing.B) {
	tr, err := exec.LookPath("true")
	if err != nil {
		b.Skip(err)
	}
	tr, _ = filepath.EvalSymlinks(tr)
	for _, m := range []Mode{Namespaces, Bwrap} {
		if m == Bwrap && BwrapPath() == "" {
			continue
		}
		b.Run(m.String(), func(b *testing.B) { overheadBench(b, m, tr, nil, nil) })
	}
}

func overheadBench(b *testing.B, m Mode, path string, args, binds []string) {
	ctx := context.Background()
	spec := Spec{Cmd: append([]string{path}, args...), Binds: binds}
	var bare, boxed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := exec_(path, args...); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(start)
		start = time.Now()
		res, err := (&Runner{Mode: m}).Run(ctx, spec)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("%v %+v", err, res)
		}
		boxed += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(bare.Milliseconds())/n, "bare-ms/op")
	b.ReportMetric(float64(boxed.Milliseconds())/n, "sandboxed-ms/op")
	b.ReportMetric(float64((boxed-bare).Microseconds())/1000/n, "overhead-ms/op")
}

func exec_(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}
