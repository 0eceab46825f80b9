package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/r1go/r1/dashboard"
)

func init() {
	register(&command{
		name:    "dashboard",
		summary: "serve a live web page of the runs under a directory: metric curves, samples with rewards, eval tables",
		run:     runDashboard,
	})
}

func runDashboard(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("dashboard", "[--addr 127.0.0.1:8080] [RUNS_DIR]", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	pos, err := parseFlagsArgs(fs, args, 0, 1, "RUNS_DIR")
	if err != nil {
		return err
	}
	root := "runs"
	if len(pos) == 1 {
		root = pos[0]
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return usageErrorf("%s: not a directory (give the directory that holds the runs, e.g. runs/)", root)
	}
	stop, url, err := startDashboard(*addr, root)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stderr, "r1 dashboard: %s on %s\n", root, url)
	<-ctx.Done()
	return nil
}

// startDashboard serves the dashboard of root on addr in the background
// (r1 dashboard, and --dashboard on training commands); stop closes it.
func startDashboard(addr, root string) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--dashboard/--addr %s: %w", addr, err)
	}
	hs := &http.Server{Handler: dashboard.New(root), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "r1 dashboard: %v\n", err)
		}
	}()
	return func() { hs.Close() }, "http://" + ln.Addr().String() + "/", nil
}

// dashboardFlag declares --dashboard on a training command's flags.
func dashboardFlag(fs *flag.FlagSet, what string) *string {
	return fs.String("dashboard", "", "also serve a live dashboard of "+what+" on this address (e.g. 127.0.0.1:8080)")
}

// serveDashboard starts the dashboard of root on addr when addr is set and
// prints its URL; stop shuts it down (a no-op when addr is empty).
func serveDashboard(addr, root string, stdout io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	stop, url, err := startDashboard(addr, root)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "dashboard: %s\n", url)
	return stop, nil
}
