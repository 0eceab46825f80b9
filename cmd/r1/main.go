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
	"sort"
	"strings"
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

// parseFlags parses args and maps -h and bad flags to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	return nil
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
	os.Exit(runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				_ = c.run(context.Background(), []string{"-h"}, stdin, stdout, stderr)
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:], stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "r1") {
			msg = "r1 " + c.name + ": " + msg
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
}
