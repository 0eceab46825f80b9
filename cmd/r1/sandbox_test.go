package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/sandbox"
)

func havePython(t *testing.T) {
	t.Helper()
	if _, err := sandbox.FindPython(context.Background(), "python3"); err != nil {
		t.Skipf("no python3: %v", err)
	}
}

func TestSandboxCommand(t *testing.T) {
	havePython(t)
	host := filepath.Join(t.TempDir(), "prog.py")
	if err := os.WriteFile(host, []byte("import sys\nprint(sys.stdin.read() * 2)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		stdin      string
		wantErr    string // "" = success
		wantOut    string // substring of stdout
		wantStderr string // substring of stderr
	}{
		{"runs python", []string{"-mode", "namespaces", "--", "python3", "-c", "print(6*7)"}, "", "", "42\n", ""},
		{"stdin and files", []string{"-mode", "namespaces", "-stdin", "-file", "p.py=" + host, "--", "python3", "p.py"}, "ab", "", "abab\n", ""},
		{"exit status is an error", []string{"-mode", "namespaces", "--", "python3", "-c", "raise SystemExit(3)"}, "", "exited with 3", "", ""},
		{"wall limit", []string{"-mode", "namespaces", "-wall", "300ms", "-json", "--", "python3", "-c", "while True: pass"}, "", "timed out true", `"timed_out": true`, ""},
		{"no network", []string{"-mode", "namespaces", "--", "python3", "-c", "import socket; socket.create_connection(('1.1.1.1', 53), timeout=1)"}, "", "exited with 1", "", "OSError"},
		{"repeat and compare", []string{"-mode", "namespaces", "-repeat", "2", "-compare", "--", "true"}, "", "", "", "overhead"},
		{"bad mode", []string{"-mode", "docker", "--", "true"}, "", "--mode", "", ""},
		{"bad file flag", []string{"-file", "nohost", "--", "true"}, "", "NAME=HOSTPATH", "", ""},
		{"bad repeat", []string{"-repeat", "0", "--", "true"}, "", "--repeat", "", ""},
		{"unknown command", []string{"--", "no-such-command-r1"}, "", "no-such-command-r1", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runSandbox(context.Background(), c.args, strings.NewReader(c.stdin), &out, &errb)
			if c.wantErr == "" && err != nil {
				t.Fatalf("error %v; stderr %q", err, errb.String())
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("got error %v, want one containing %q", err, c.wantErr)
			}
			if !strings.Contains(out.String(), c.wantOut) || !strings.Contains(errb.String(), c.wantStderr) {
				t.Fatalf("stdout %q (want %q), stderr %q (want %q)", out.String(), c.wantOut, errb.String(), c.wantStderr)
			}
			if strings.Contains(strings.Join(c.args, " "), "-json") {
				var v map[string]any
				if err := json.Unmarshal(out.Bytes(), &v); err != nil {
					t.Fatalf("--json output is not JSON: %v", err)
				}
			}
		})
	}
}

func TestSandboxCommandUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runSandbox(context.Background(), []string{"-h"}, nil, &out, &errb); !errors.Is(err, errHelp) {
		t.Fatalf("-h: got %v", err)
	}
	if !strings.Contains(errb.String(), "-memory-mb") {
		t.Fatalf("help lacks flags: %q", errb.String())
	}
	if err := runSandbox(context.Background(), nil, nil, &out, &errb); !errors.Is(err, errUsage) {
		t.Fatalf("no command: got %v", err)
	}
}

// TestSandboxCommandBindsOnlyItsFile: a command outside /usr is shown by
// itself, not with its directory (a command in /tmp used to expose all of
// the host's /tmp).
func TestSandboxCommandBindsOnlyItsFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	script := "#!/bin/sh\ncat " + secret + " 2>/dev/null && echo LEAKED\nls " + dir + "\necho ran\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	modes := []string{"namespaces"}
	if sandbox.BwrapPath() != "" {
		modes = append(modes, "bwrap")
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			m, _ := sandbox.ParseMode(mode)
			if _, err := (&sandbox.Runner{Mode: m}).Run(context.Background(), sandbox.Spec{Cmd: []string{prog}, Binds: []string{prog}}); err != nil {
				t.Skipf("the %s sandbox cannot run here: %v", mode, err)
			}
			var out, errb bytes.Buffer
			if err := runSandbox(context.Background(), []string{"-mode", mode, "--", prog}, nil, &out, &errb); err != nil {
				t.Fatalf("error %v; stderr %q", err, errb.String())
			}
			if got := out.String(); got != "prog\nran\n" {
				t.Fatalf("stdout %q, want only the command itself visible (\"prog\\nran\\n\")", got)
			}
		})
	}
}
