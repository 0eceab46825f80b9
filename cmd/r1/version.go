package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at link time with -ldflags "-X main.version=v0.1.0".
var version = "dev"

func init() {
	register(&command{
		name:    "version",
		summary: "print the r1 version, Go version and build settings",
		run: func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
			fs := newFlags("version", "", stderr)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(stdout, "r1 %s", version)
			if rev != "" {
				fmt.Fprintf(stdout, " (%s)", rev)
			}
			fmt.Fprintf(stdout, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
