package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/r1go/r1/sandbox"
)

func init() {
	register(&command{
		name:    "sandbox",
		summary: "run a command in the code sandbox (what the code reward runs generated programs in)",
		run:     runSandbox,
	})
}

// sandboxList collects a repeatable string flag.
type sandboxList []string

func (l *sandboxList) String() string     { return strings.Join(*l, " ") }
func (l *sandboxList) Set(v string) error { *l = append(*l, v); return nil }

var pythonNameRE = regexp.MustCompile(`^python[0-9.]*$`)

func runSandbox(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("sandbox", "[flags] -- COMMAND [ARGS...]", stderr)
	mode := fs.String("mode", "auto", "isolation back end: auto (bwrap when installed), bwrap or namespaces")
	d := sandbox.DefaultLimits
	wall := fs.Duration("wall", d.Wall, "wall-clock limit")
	cpu := fs.Duration("cpu", d.CPU, "CPU-time limit (whole seconds)")
	memMB := fs.Int64("memory-mb", d.MemoryBytes>>20, "memory limit, MiB: the total of all the sandbox's processes where a memory cgroup can be made "+
		"(cgroup v2 delegated to r1, or a writable v1 memory hierarchy), else each process's address space, so the total is at most -procs × this")
	procs := fs.Int("procs", d.Procs, "process limit")
	outBytes := fs.Int64("output-bytes", d.OutputBytes, "limit on stdout and on stderr, bytes; the sandbox is killed past it")
	fileBytes := fs.Int64("file-bytes", d.FileBytes, "limit on file size and on the private temp dir, bytes")
	var binds, files sandboxList
	fs.Var(&binds, "bind", "host path to show read-only at the same path (repeatable)")
	fs.Var(&files, "file", "NAME=HOSTPATH: copy a host file into the sandbox's work dir "+sandbox.WorkDir+" (repeatable)")
	useStdin := fs.Bool("stdin", false, "pass standard input to the program (read fully first)")
	repeat := fs.Int("repeat", 1, "run the command this many times and report the mean wall time (for measuring overhead)")
	compare := fs.Bool("compare", false, "with --repeat: also run the command unsandboxed and report the difference")
	asJSON := fs.Bool("json", false, "print the result (exit code, flags, wall time, output) as JSON instead of passing the output through")
	prog, err := parseFlagsCommand(fs, args)
	if err != nil {
		return err
	}
	if len(prog) == 0 {
		fs.Usage()
		return errUsage
	}
	m, err := sandbox.ParseMode(*mode)
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	if err := firstErr(
		durationFlag("wall", *wall), durationFlag("cpu", *cpu),
		flagRange("memory-mb", *memMB, 1, 1<<30), // a petabyte: anything above overflows the byte count
		flagRange("procs", int64(*procs), 1, 1<<20),
		flagRange("output-bytes", *outBytes, 1, math.MaxInt64),
		flagRange("file-bytes", *fileBytes, 1, math.MaxInt64),
		flagRange("repeat", int64(*repeat), 1, math.MaxInt32),
	); err != nil {
		return err
	}
	cmdArgs, extraBinds, err := resolveSandboxCommand(ctx, prog)
	if err != nil {
		return err
	}
	spec := sandbox.Spec{
		Cmd:   cmdArgs,
		Binds: append(extraBinds, binds...),
		Files: map[string][]byte{},
		Limits: sandbox.Limits{Wall: *wall, CPU: *cpu, MemoryBytes: *memMB << 20, Procs: *procs,
			OutputBytes: *outBytes, FileBytes: *fileBytes},
	}
	for _, f := range files {
		name, host, ok := strings.Cut(f, "=")
		if !ok || name == "" || host == "" {
			return fmt.Errorf("--file %q: expected NAME=HOSTPATH", f)
		}
		b, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("--file %s: %w", name, err)
		}
		spec.Files[name] = b
	}
	if *useStdin {
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		spec.Stdin = b
	}
	runner := &sandbox.Runner{Mode: m}
	var res sandbox.Result
	var total time.Duration
	for i := 0; i < *repeat; i++ {
		res, err = runner.Run(ctx, spec)
		if err != nil {
			return err
		}
		total += res.Wall
	}
	if *repeat > 1 {
		mean := total / time.Duration(*repeat)
		fmt.Fprintf(stderr, "sandbox (%v): %d runs, mean wall %.1f ms\n", res.Mode, *repeat, ms(mean))
		if *compare {
			var bare time.Duration
			for i := 0; i < *repeat; i++ {
				c := exec.CommandContext(ctx, cmdArgs[0], cmdArgs[1:]...)
				start := time.Now()
				_ = c.Run() // the exit status matters only inside the sandbox
				bare += time.Since(start)
			}
			bmean := bare / time.Duration(*repeat)
			fmt.Fprintf(stderr, "unsandboxed: mean wall %.1f ms; sandbox overhead %.1f ms per run\n", ms(bmean), ms(mean-bmean))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{
			"mode": res.Mode.String(), "exit_code": res.ExitCode, "timed_out": res.TimedOut, "oom": res.OOM,
			"output_truncated": res.OutputTruncated, "cgroup_memory": res.CgroupMemory, "wall_ms": ms(res.Wall),
			"stdout": string(res.Stdout), "stderr": string(res.Stderr),
		}); err != nil {
			return err
		}
	} else {
		stdout.Write(res.Stdout)
		stderr.Write(res.Stderr)
	}
	if res.ExitCode != 0 || res.TimedOut || res.OutputTruncated {
		return fmt.Errorf("program exited with %d (timed out %v, output truncated %v, oom %v)", res.ExitCode, res.TimedOut, res.OutputTruncated, res.OOM)
	}
	return nil
}

// durationFlag checks that a time limit is positive.
func durationFlag(name string, d time.Duration) error {
	if d <= 0 {
		return usageErrorf("--%s %v: expected a positive duration such as 500ms or 10s", name, d)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// resolveSandboxCommand turns the command's name into an absolute path that
// exists inside the sandbox: a python name resolves to the real interpreter
// (shims followed) with the prefixes it needs; anything else is looked up in
// PATH and, when it is outside /usr, the command's own file is bound (its
// directory may be /tmp or a home directory, which the sandbox must not see;
// --bind shows more).
func resolveSandboxCommand(ctx context.Context, args []string) ([]string, []string, error) {
	out := append([]string(nil), args...)
	name := args[0]
	if pythonNameRE.MatchString(filepath.Base(name)) {
		py, err := sandbox.FindPython(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		out[0] = py.Path
		return out, py.Binds, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return nil, nil, fmt.Errorf("command %q: %w", name, err)
	}
	if p, err = filepath.Abs(p); err != nil {
		return nil, nil, err
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	out[0] = p
	if strings.HasPrefix(p, "/usr/") {
		return out, nil, nil
	}
	return out, []string{p}, nil
}
