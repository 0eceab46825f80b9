// Command r1 trains reasoning language models the way DeepSeek-R1 was trained.
//
// Each subcommand lives in its own file of this package and registers itself
// in init() with register(); main only dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// command is one r1 subcommand. run receives the arguments after the
// subcommand name and the process's standard streams so that tests can drive
// it in-process.
type command struct {
	name    string
	summary string // one line for `r1 help`
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("r1: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks errors that already printed their usage text; main exits 2.
var errUsage = errors.New("usage")

// usageError is a usage mistake with a message (an unexpected argument, a
// flag out of range); it matches errUsage, so main prints it and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// newFlags returns a FlagSet for a subcommand whose -h output lists every flag
// with its help text, writing to stderr.
func newFlags(name, usageLine string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("r1 "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: r1 %s %s\n\n", name, usageLine)
		if c, ok := commands[name]; ok {
			fmt.Fprintf(stderr, "%s\n\nflags:\n", c.summary)
		}
		fs.PrintDefaults()
	}
	return fs
}

// usageNotes appends notes (input format, exit status) to fs's -h text.
func usageNotes(fs *flag.FlagSet, notes string) {
	prev := fs.Usage
	fs.Usage = func() {
		prev()
		fmt.Fprintf(fs.Output(), "\n%s\n", strings.TrimSpace(notes))
	}
}

// lineExitNotes documents the exit status of the line-oriented commands.
const lineExitNotes = `Every input line gets exactly one output line, in input order; a blank or
unreadable line gets {"error": "..."} naming its line number.
exit status: 0 every line answered; 1 some line had an error (all lines are
still answered, the first error is printed on stderr) or the run failed;
2 bad flags or arguments; 130/143 interrupted by SIGINT/SIGTERM (the lines
answered so far are written).`

// parseFlags parses args for a command that takes flags only. Flags may be
// written in any order; a positional argument is an error naming it (so
// that "r1 zero foo --steps 1" stops instead of silently ignoring the
// flags after foo). -h maps to errHelp and bad flags to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return unexpectedArg(fs, args, pos[0])
	}
	return nil
}

// parseFlagsArgs parses a command that takes between least and most positional
// arguments (most < 0: no limit), named what in messages (e.g. "MODEL_DIR").
// Flags may come before, between and after them; "--" ends the flags.
func parseFlagsArgs(fs *flag.FlagSet, args []string, least, most int, what string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) < least:
		return nil, usageErrorf("%s: missing %s (see %s -h)", fs.Name(), what, fs.Name())
	case most >= 0 && len(pos) > most:
		return nil, unexpectedArg(fs, args, pos[most])
	}
	return pos, nil
}

// parseFlagsCommand parses the flags of a command that runs another program
// ("r1 sandbox [flags] [--] PROGRAM ARGS..."): flags end at the first
// positional argument, and everything from it on is returned unparsed.
func parseFlagsCommand(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, errUsage
	}
	return fs.Args(), nil
}

// parseInterspersed parses flags wherever they occur among args and
// returns the positional arguments in order. A "--" in flag position ends
// the flags: everything after it is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, errUsage // the flag package printed the problem and usage
		}
		rest := fs.Args()
		if endedByTerminator(fs, args[:len(args)-len(rest)]) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// endedByTerminator reports whether the flag package, reading consumed,
// met "--" in flag position (rather than as the value of a flag).
func endedByTerminator(fs *flag.FlagSet, consumed []string) bool {
	for i := 0; i < len(consumed); i++ {
		a := consumed[i]
		if a == "--" {
			return true
		}
		if name, ok := flagName(a); ok && !strings.Contains(a, "=") && !isBoolFlag(fs, name) {
			i++ // the next argument is this flag's value
		}
	}
	return false
}

// flagName returns NAME for "-NAME" or "--NAME[=...]".
func flagName(a string) (string, bool) {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return "", false
	}
	name := strings.TrimPrefix(a[1:], "-")
	name, _, _ = strings.Cut(name, "=")
	return name, name != ""
}

func isBoolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// unexpectedArg explains a stray positional argument; after a boolean flag
// it is usually that flag's value written with a space.
func unexpectedArg(fs *flag.FlagSet, args []string, arg string) error {
	msg := fmt.Sprintf("%s: unexpected argument %q (see %s -h)", fs.Name(), arg, fs.Name())
	for i, a := range args {
		if a == arg && i > 0 {
			if name, ok := flagName(args[i-1]); ok && !strings.Contains(args[i-1], "=") && isBoolFlag(fs, name) {
				msg += fmt.Sprintf("; a boolean flag takes its value after '=': --%s=%s", name, arg)
			}
			break
		}
	}
	return &usageError{msg: msg}
}

// errHelp means the user asked for help; main exits 0.
var errHelp = errors.New("help requested")

func usage(w io.Writer) {
	fmt.Fprintf(w, "r1 — train reasoning language models the DeepSeek-R1 way\n\nusage: r1 <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'r1 <command> -h' for the flags of a command.\n")
}

func main() {
	stop := startProfile(os.Getenv("R1_CPUPROFILE"), os.Stderr)
	code := runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole command to path (for
// `go tool pprof`) when path is set, so that a real run — `r1 zero`'s
// rollouts, rewards and updates together — can be profiled, not only a
// benchmark. stop finishes the file.
func startProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "r1: R1_CPUPROFILE: %v (no profile written)\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "r1: R1_CPUPROFILE: %v\n", err)
		}
	}
}

// panicError is a panic of a command turned into an error.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprint("internal error: ", e.value) }

// runCommand runs c and turns a panic into a *panicError, so that a user
// never sees a goroutine dump.
func runCommand(ctx context.Context, c *command, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return c.run(ctx, args, stdin, stdout, stderr)
}

// signalContext is canceled by the first SIGINT or SIGTERM, which it
// reports on stderr; after it the signals take their default action again,
// so a second one ends the process at once. stop releases the handler;
// caught returns the signal received, if any.
func signalContext(stderr io.Writer) (ctx context.Context, stop func(), caught func() os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var mu sync.Mutex
	var got os.Signal
	go func() {
		select {
		case s := <-sigs:
			mu.Lock()
			got = s
			mu.Unlock()
			signal.Stop(sigs)
			fmt.Fprintf(stderr, "\nr1: %s received, stopping (send it again to quit at once)\n", sigName(s))
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel()
		})
	}
	caught = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	return ctx, stop, caught
}

// interruptible makes reads of a pipe or terminal return ctx's error once
// ctx is done, so that a command waiting for input stops on a signal. A
// regular file (which never blocks) is returned as is, and so is anything
// that is not a file.
func interruptible(ctx context.Context, r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		return r
	}
	return &ctxReader{ctx: ctx, r: r, results: make(chan readResult, 1)}
}

type readResult struct {
	buf []byte
	err error
}

// ctxReader reads in a goroutine into its own buffer, so that a read still
// blocked when ctx ends writes nothing the caller owns. Once ctx is done
// every Read fails, so the abandoned read is never waited for.
type ctxReader struct {
	ctx     context.Context
	r       io.Reader
	results chan readResult
	buf     []byte // reused: a read in flight when ctx ends is the last one
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	buf := c.buf[:len(p)]
	go func() {
		n, err := c.r.Read(buf)
		c.results <- readResult{buf[:n], err}
	}()
	select {
	case res := <-c.results:
		return copy(p, res.buf), res.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

func sigName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				_ = runCommand(context.Background(), c, []string{"-h"}, stdin, stdout, stderr)
				return 0
			}
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "r1: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop, caught := signalContext(stderr)
	defer stop()
	err := runCommand(ctx, c, args[1:], interruptible(ctx, stdin), stdout, stderr)
	var pe *panicError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &pe):
		fmt.Fprintf(stderr, "r1 %s: %v\nThis is a bug in r1; please report it with the command line that caused it.\n", c.name, err)
		if os.Getenv("R1_TRACEBACK") != "" {
			stderr.Write(pe.stack)
		} else {
			fmt.Fprintln(stderr, "(set R1_TRACEBACK=1 to print where it happened)")
		}
		return 2
	case errors.Is(err, errUsage):
		if msg := err.Error(); msg != errUsage.Error() {
			if !strings.HasPrefix(msg, "r1") {
				msg = "r1 " + c.name + ": " + msg
			}
			fmt.Fprintln(stderr, msg)
		}
		return 2
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "r1") {
			msg = "r1 " + c.name + ": " + msg
		}
		s := caught()
		if s != nil && errors.Is(err, context.Canceled) {
			msg = fmt.Sprintf("r1 %s: interrupted by %s", c.name, sigName(s))
		}
		fmt.Fprintln(stderr, msg)
		if s != nil {
			if s == syscall.SIGTERM {
				return 128 + int(syscall.SIGTERM)
			}
			return 128 + int(syscall.SIGINT)
		}
		return 1
	}
}
