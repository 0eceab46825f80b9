package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
)

func TestPromptCLI(t *testing.T) {
	qwen := filepath.Join("..", "..", "..", "shared", "data", "tokenizers", "qwen3")
	if _, err := os.Stat(qwen); err != nil {
		t.Skipf("shared tokenizer not found at %s", qwen)
	}
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "m.json")
	if err := os.WriteFile(msgFile, []byte(`[{"role":"user","content":"2+2?"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    string
		wantErr error
	}{
		{"r1_zero", []string{"--format", "r1-zero", "--question", "2+2?"}, "", chat.R1Zero("2+2?"), nil},
		{"countdown", []string{"--format", "countdown-base", "--numbers", "1, 2,3", "--target", "6"}, "", chat.CountdownBase([]int{1, 2, 3}, 6), nil},
		{"chat", []string{"--format", "chat", "--question", "2+2?", "--tokenizer", qwen}, "", "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n", nil},
		{"messages_file", []string{"--messages", msgFile, "--tokenizer", qwen, "--enable-thinking", "false"}, "",
			"<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", nil},
		{"messages_stdin_json", []string{"--messages", "-", "--tokenizer", qwen, "--add-generation-prompt=false", "--json"}, `[{"role":"user","content":"é"}]`,
			`"<|im_start|>user\né<|im_end|>\n"` + "\n", nil},
		{"no_format", nil, "", "", errUsage},
		{"messages_without_tokenizer", []string{"--messages", msgFile}, "", "", errUsage},
		{"bad_thinking", []string{"--messages", msgFile, "--tokenizer", qwen, "--enable-thinking", "maybe"}, "", "", errUsage},
		{"help", []string{"-h"}, "", "", errHelp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runPrompt(context.Background(), tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (stderr %s)", err, errb.String())
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
	var out, errb bytes.Buffer
	err := runPrompt(context.Background(), []string{"--format", "r1-zero"}, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "Question is empty") {
		t.Errorf("missing question: got %v", err)
	}
}
