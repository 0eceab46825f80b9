package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Re-running a training command into a run directory without --resume is
// refused (it used to truncate the logs and prune the old checkpoints);
// --overwrite starts over.
func TestRerunIntoRunDirNeedsResumeOrOverwrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	if err := runPretrain(context.Background(), pretrainArgs(t, out, "--steps", "2"), nil, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	err := runPretrain(context.Background(), pretrainArgs(t, out, "--steps", "2"), nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("second run into %s: %v", out, err)
	}
	if err := runPretrain(context.Background(), pretrainArgs(t, out, "--steps", "2", "--overwrite"), nil, &stdout, &stderr); err != nil {
		t.Fatalf("--overwrite: %v", err)
	}
}

// The tiny-zero preset names the built-in model, so it works from any
// working directory (it named assets/tiny, which exists only in the
// repository).
func TestPresetUsesBuiltinModelAnywhere(t *testing.T) {
	if defaultModelDir() == "" {
		t.Skip("no built-in model in this build")
	}
	t.Chdir(t.TempDir())
	stdout, stderr, code := runCLI(t, "", "grpo", "--config", "preset:tiny-zero", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var cfg struct {
		Model string `yaml:"model"`
	}
	if err := yaml.Unmarshal([]byte(stdout), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Model, "model.safetensors")); err != nil {
		t.Fatalf("preset model %q: %v", cfg.Model, err)
	}
}
