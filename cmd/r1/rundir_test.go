package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
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
