package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
)

// TestMain lets a test run this test binary as r1 itself (for signals):
// with R1_TEST_MAIN=1 it is r1 with os.Args[1:].
func TestMain(m *testing.M) {
	if os.Getenv("R1_TEST_MAIN") == "1" {
		os.Exit(runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// A stray positional argument is refused by every command, before any work
// and whatever flags follow it (it used to end flag parsing, so that
// "r1 zero foo --steps 1 --out DIR" started a full run in ./runs/zero).
func TestStrayArgumentsRejected(t *testing.T) {
	// Commands that take positional arguments, and what they take.
	takesArgs := map[string]bool{
		"inspect":   true, // MODEL_DIR (tested below)
		"sandbox":   true, // PROGRAM ARGS... (flags end at the program)
		"dashboard": true, // [RUNS_DIR] (tested in dashboard_test.go)
	}
	dir := t.TempDir()
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		if takesArgs[name] {
			continue
		}
		for _, args := range [][]string{
			{name, "stray"},
			{name, "stray", "--steps", "1", "--out", filepath.Join(dir, name+"-a")},
			{name, "--out", filepath.Join(dir, name+"-b"), "stray"},
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				start := time.Now()
				_, stderr, code := runCLI(t, "", args...)
				if code != 2 {
					t.Fatalf("exit %d, want 2; stderr %s", code, stderr)
				}
				// An unknown flag (e.g. --steps of a command without it)
				// is reported by the flag package; otherwise the stray
				// argument is named.
				if !strings.Contains(stderr, `unexpected argument "stray"`) && !strings.Contains(stderr, "flag provided but not defined") {
					t.Fatalf("stderr %q does not name the argument", stderr)
				}
				if el := time.Since(start); el > 5*time.Second {
					t.Errorf("took %v: it did work before refusing", el)
				}
			})
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "zero-a")); err == nil {
		t.Error("r1 zero stray --out DIR created DIR")
	}
	// The same through the parser alone, for the commands that have the
	// flags: "zero foo --steps 1 --out DIR".
	_, stderr, code := runCLI(t, "", "zero", "foo", "--steps", "1", "--out", filepath.Join(dir, "zero-c"))
	if code != 2 || !strings.Contains(stderr, `r1 zero: unexpected argument "foo"`) {
		t.Fatalf("zero foo --steps 1: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "zero-c")); err == nil {
		t.Error("r1 zero foo --steps 1 --out DIR created DIR")
	}
	if _, err := os.Stat("runs/zero"); err == nil {
		t.Error("a run was started in ./runs/zero")
	}
}

// Flags may follow positional arguments where a command takes them.
func TestFlagsAfterPositional(t *testing.T) {
	md := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(md, "llama", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args        []string
		code        int
		wantTensors bool
		wantErr     string
	}{
		{[]string{"inspect", md}, 0, true, ""},
		{[]string{"inspect", md, "--tensors=false"}, 0, false, ""},
		{[]string{"inspect", "--tensors=false", md}, 0, false, ""},
		{[]string{"inspect", md, "--tensors", "false"}, 2, false, "--tensors=false"},
		{[]string{"inspect", md, md}, 2, false, "unexpected argument"},
		{[]string{"inspect"}, 2, false, "missing MODEL_DIR"},
		{[]string{"inspect", "--", md}, 0, true, ""},
	} {
		out, stderr, code := runCLI(t, "", tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %s", tc.args, code, tc.code, stderr)
			continue
		}
		if code == 0 && strings.Contains(out, "model.embed_tokens.weight") != tc.wantTensors {
			t.Errorf("%v: tensor list shown = %v, want %v", tc.args, !tc.wantTensors, tc.wantTensors)
		}
		if !strings.Contains(stderr, tc.wantErr) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, tc.wantErr)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		n       int
		verbose bool
	}{
		{[]string{"a", "-n", "3", "b"}, []string{"a", "b"}, 3, false},
		{[]string{"-v", "a", "--n=4"}, []string{"a"}, 4, true},
		{[]string{"a", "--", "-n", "5"}, []string{"a", "-n", "5"}, 1, false},
		{[]string{"-s", "--", "a"}, []string{"a"}, 1, false}, // "--" as the value of -s
		{[]string{"-", "-n", "2"}, []string{"-"}, 2, false},
		{nil, nil, 1, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		n := fs.Int("n", 1, "")
		v := fs.Bool("v", false, "")
		s := fs.String("s", "", "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *n != tc.n || *v != tc.verbose {
			t.Errorf("%q: pos %q n %d v %v err %v; want %q %d %v", tc.args, pos, *n, *v, err, tc.pos, tc.n, tc.verbose)
		}
		if tc.args != nil && tc.args[0] == "-s" && *s != "--" {
			t.Errorf("-s -- gave %q", *s)
		}
	}
}

// A panic in a command is one line plus "please report", exit 2 — never a
// goroutine dump.
func TestPanicBecomesOneLine(t *testing.T) {
	register(&command{name: "test-panic", summary: "panics", run: func(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
		var m map[string]int
		m["x"] = 1 // nil map write
		return nil
	}})
	defer delete(commands, "test-panic")
	t.Setenv("R1_TRACEBACK", "")
	_, stderr, code := runCLI(t, "", "test-panic")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr, "r1 test-panic: internal error: assignment to entry in nil map") || !strings.Contains(stderr, "please report") {
		t.Fatalf("stderr %q", stderr)
	}
	if strings.Contains(stderr, "goroutine") || strings.Count(stderr, "\n") > 3 {
		t.Fatalf("stack trace shown: %q", stderr)
	}
}

// startR1 runs this test binary as r1 with args and returns the command
// and a reader of its stderr.
func startR1(t *testing.T, stdin io.Reader, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "R1_TEST_MAIN=1")
	cmd.Stdin = stdin
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, bufio.NewReader(errPipe)
}

// waitFor reads r until a line contains want.
func waitFor(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if strings.Contains(line, want) {
			return
		}
		if err != nil {
			t.Fatalf("stderr ended before %q: %v", want, err)
		}
	}
}

// exitWithin waits for cmd and returns its exit status, failing after d.
func exitWithin(t *testing.T, cmd *exec.Cmd, rest *bufio.Reader, d time.Duration) (int, string) {
	t.Helper()
	// Read stderr to its end before Wait: Wait closes the pipe once the
	// process has exited, and a read racing it lost the last lines (the
	// test saw exit 143 with no "interrupted by" on a loaded machine).
	tail := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rest)
		tail <- string(b)
	}()
	var stderr string
	select {
	case stderr = <-tail: // the process closed stderr: it has ended
	case <-time.After(d):
		t.Fatalf("still running %v after the signal", d)
	}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), stderr
}

// r1 bench stops at once on SIGINT or SIGTERM, even mid-step (it used to
// run on for minutes).
func TestSignalStopsBench(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, stderr := startR1(t, nil, "bench", "--steps", "1000000", "--rollout-batch", "")
			waitFor(t, stderr, "training")
			time.Sleep(200 * time.Millisecond) // inside the steps
			cmd.Process.Signal(sig)
			code, tail := exitWithin(t, cmd, stderr, 5*time.Second)
			if code != 128+int(sig) {
				t.Errorf("exit %d, want %d; stderr %s", code, 128+int(sig), tail)
			}
			if !strings.Contains(tail, "interrupted by") {
				t.Errorf("stderr %q", tail)
			}
		})
	}
}

// A command waiting for input on a pipe stops on a signal too.
func TestSignalStopsStdinRead(t *testing.T) {
	pr, pw, err := os.Pipe() // a file, so that the child reads it itself
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd, stderr := startR1(t, pr, "verify", "--jsonl")
	pr.Close()
	pw.Write([]byte(`{"gold": "1", "prediction": "1"}` + "\n"))
	waitDrained(t, pw)
	cmd.Process.Signal(syscall.SIGTERM)
	code, tail := exitWithin(t, cmd, stderr, 5*time.Second)
	if code != 143 || !strings.Contains(tail, "interrupted by SIGTERM") {
		t.Fatalf("exit %d, stderr %q", code, tail)
	}
}

// waitDrained waits until the reader of pipe w has taken everything written
// to it: the command is in its read loop, its signal handling set up. A
// fixed pause was not enough on a loaded machine: the signal came first,
// and the runtime's default handler ended the process without a word.
func waitDrained(t *testing.T, w *os.File) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unreadBytes(w)
		if err != nil {
			time.Sleep(300 * time.Millisecond) // no FIONREAD here: a pause
			return
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the command did not read its input within 10 s")
}

// runBench returns as soon as its context ends, even while a step runs.
func TestBenchStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	var out, errb bytes.Buffer
	err := runBench(ctx, []string{"--steps", "1000000", "--rollout-batch", ""}, nil, &out, &errb)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("returned %v after the cancel", el)
	}
}

// Bad sizes are refused with the flag and its range: no panic, no
// allocation of absurd sizes.
func TestBenchRejectsBadSizes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--seq", "-5"}, "--seq -5: expected an integer from 2 to 2048"},
		{[]string{"--seq", "0"}, "--seq 0"},
		{[]string{"--batch", "0"}, "--batch 0: expected an integer from 1"},
		{[]string{"--steps", "-1"}, "--steps -1"},
		{[]string{"--prompt-len", "-3"}, "--prompt-len -3"},
		{[]string{"--new-tokens", "0"}, "--new-tokens 0"},
		{[]string{"--new-tokens", "4000"}, "--new-tokens 4000"},
		{[]string{"--rollout-batch", "1,-2"}, `item "-2"`},
		{[]string{"--peak-tflops", "-1"}, "--peak-tflops -1"},
		{[]string{"--batch", "1000000", "--seq", "2048"}, "needs about"},
		{[]string{"--shape", "nope"}, "--shape"},
		{[]string{"--dim", "-8"}, "hidden_size -8"},
		{[]string{"--heads", "7"}, "--heads"},
		{[]string{"--decode-batch", "0"}, `--decode-batch "0"`},
		{[]string{"--decode-tokens", "0"}, "--decode-tokens 0"},
		{[]string{"--compare-torch", "--pairs", "0"}, "--pairs 0"},
		{[]string{"--kv-cache-dtype", "fp8"}, `kv cache dtype "fp8"`},
		{[]string{"--compare-torch", "--kv-cache-dtype", "bf16"}, "drop --kv-cache-dtype bf16"},
	} {
		if _, known := model.HostMemory(); !known && tc.want == "needs about" {
			continue // the memory check needs the machine's memory size
		}
		_, stderr, code := runCLI(t, "", append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// Negative and zero sandbox limits are refused with the flag and its range.
func TestSandboxRejectsBadLimits(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--wall", "-1s"}, "--wall -1s: expected a positive duration"},
		{[]string{"--cpu", "0s"}, "--cpu 0s"},
		{[]string{"--memory-mb", "-5"}, "--memory-mb -5: expected an integer from 1 to"},
		{[]string{"--memory-mb", "99999999999999"}, "--memory-mb 99999999999999"},
		{[]string{"--procs", "-1"}, "--procs -1"},
		{[]string{"--output-bytes", "-1"}, "--output-bytes -1: expected a positive integer"},
		{[]string{"--file-bytes", "0"}, "--file-bytes 0"},
		{[]string{"--repeat", "0"}, "--repeat 0"},
	} {
		args := append(append([]string{"sandbox"}, tc.args...), "--", "true")
		_, stderr, code := runCLI(t, "", args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
