package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// r1 chat driven through stdin/stdout: replies stream with the reasoning
// marked apart from the answer, /temp and /history work, /reset forgets
// the conversation, a bad command is explained, and a seeded session is
// reproducible.
func TestChatThroughStdio(t *testing.T) {
	if defaultModelDir() == "" {
		t.Skip("no built-in model")
	}
	script := "What is 20 - 4?\n/temp 0\nWhat is 3 + 5?\n/history\n/reset\n/history\n/temp 9\n/frobnicate\n"
	out, errOut, code := runCLI(t, script, "chat", "--color", "never", "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"r1 chat with r1-tiny",
		"[thinking] ",
		" [/thinking]\n",
		"(temperature 0)",
		"user: What is 20 - 4?\nassistant: ",
		"user: What is 3 + 5?\nassistant: ",
		"(conversation cleared)",
		"(no conversation yet)",
		`/temp "9": expected a number from 0 to 2`,
		"unknown command /frobnicate",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	// The answer follows the reasoning on its own line, without tags.
	if !regexp.MustCompile(`\[/thinking\]\n[^<\n]+\n> `).MatchString(out) {
		t.Fatalf("no answer line after the reasoning:\n%s", out)
	}
	again, _, _ := runCLI(t, script, "chat", "--color", "never", "--seed", "3")
	if again != out {
		t.Fatalf("the same seed gave another session:\n%s\n---\n%s", out, again)
	}
	colored, _, _ := runCLI(t, "What is 2 + 2?\n", "chat", "--color", "always")
	if !strings.Contains(colored, "\x1b[2m") || !strings.Contains(colored, "\x1b[0m") {
		t.Fatalf("--color always did not dim the reasoning: %q", colored)
	}
	folded, _, _ := runCLI(t, "What is 2 + 2?\n", "chat", "--color", "never", "--fold")
	if strings.Contains(folded, "[thinking]") || !strings.Contains(folded, "(thought for ") {
		t.Fatalf("--fold showed the reasoning: %q", folded)
	}
}

// r1 serve answers on the address it prints and exits 0 after draining on
// SIGTERM.
func TestServeCommandDrainsOnSIGTERM(t *testing.T) {
	if defaultModelDir() == "" {
		t.Skip("no built-in model")
	}
	cmd, stderr := startR1(t, nil, "serve", "--addr", "127.0.0.1:0")
	var url string
	for url == "" {
		line, err := stderr.ReadString('\n')
		if err != nil {
			t.Fatalf("r1 serve did not start: %v", err)
		}
		if m := regexp.MustCompile(`on (http://\S+)/v1`).FindStringSubmatch(line); m != nil {
			url = m[1]
		}
	}
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages": [{"role": "user", "content": "What is 2 + 2?"}], "seed": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"reasoning_content"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	code, rest := exitWithin(t, cmd, stderr, 30*time.Second)
	if code != 0 || !strings.Contains(rest, "drained") {
		t.Fatalf("exit %d after SIGTERM: %s", code, rest)
	}
}

// r1 dashboard takes one runs directory: a second argument or a path that
// is not a directory is a usage error.
func TestDashboardArgs(t *testing.T) {
	if _, stderr, code := runCLI(t, "", "dashboard", t.TempDir(), "stray"); code != 2 || !strings.Contains(stderr, `unexpected argument "stray"`) {
		t.Fatalf("two directories: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "", "dashboard", "no/such/dir"); code != 2 || !strings.Contains(stderr, "not a directory") {
		t.Fatalf("missing directory: exit %d, %s", code, stderr)
	}
}
