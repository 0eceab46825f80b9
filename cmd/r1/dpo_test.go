package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// r1 rm pairs → r1 dpo, end to end: flags set the config (written to
// config.yaml), the run starts at DPO's log 2 and saves the policy.
func TestDPOCommand(t *testing.T) {
	dir := t.TempDir()
	pairs, out := filepath.Join(dir, "pairs.jsonl"), filepath.Join(dir, "dpo")
	var stdout, stderr bytes.Buffer
	if err := runRM(context.Background(), []string{"pairs", "--synthetic", "harmless", "--n", "12", "--out", pairs}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	tiny, _ := filepath.Abs(filepath.Join("..", "..", "assets", "tiny"))
	stdout.Reset()
	if err := runDPO(context.Background(), []string{"--model", tiny, "--data", pairs, "--out", out, "--loss", "sigmoid", "--beta", "0.2",
		"--set", "steps=2", "--set", "micro_batch=2", "--set", "log_every=1"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "step 1/2  loss 0.6931") || !strings.Contains(stdout.String(), "policy saved in") {
		t.Fatalf("output %q", stdout.String())
	}
	cfg, err := os.ReadFile(filepath.Join(out, "config.yaml"))
	if err != nil || !strings.Contains(string(cfg), "beta: 0.2") || !strings.Contains(string(cfg), "loss_type: sigmoid") {
		t.Fatalf("config.yaml %q (%v)", cfg, err)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
}
