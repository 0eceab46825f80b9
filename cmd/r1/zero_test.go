package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/internal/testmodel"
)

// r1 zero's mechanics on a randomly initialised Qwen2 checkpoint: GSM8K and
// synthetic problems, a couple of steps, summary.json with the fields
// scripts rely on.
func TestZeroMechanics(t *testing.T) {
	if d, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "data")); err == nil && os.Getenv("R1_DATA") == "" {
		if _, err := os.Stat(d); err == nil {
			t.Setenv("R1_DATA", d)
		}
	}
	dataDir := data.FindDir()
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 4); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"gsm8k", "synthetic:mixed"} {
		t.Run(ds, func(t *testing.T) {
			if ds == "gsm8k" && dataDir == "" {
				t.Skip("no shared data")
			}
			out := filepath.Join(dir, "run-"+ds[:5])
			_, stderr, code := runCLI(t, "", "zero", "--model", md, "--dataset", ds, "--steps", "2", "--eval-n", "3", "--out", out,
				"--set", "prompts_per_step=2", "--set", "num_generations=2", "--set", "sampling.max_new_tokens=6",
				"--set", "data.limit=6", "--set", "data.skip_long_prompts=true")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(filepath.Join(out, "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var s map[string]any
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"before", "after"} {
				part, ok := s[k].(map[string]any)
				if !ok {
					t.Fatalf("summary lacks %q: %s", k, b)
				}
				for _, f := range []string{"accuracy", "format_rate", "mean_length"} {
					if _, ok := part[f].(float64); !ok {
						t.Fatalf("summary.%s lacks %q: %s", k, f, b)
					}
				}
			}
			if s["steps"] != 2.0 || s["seconds"] == nil {
				t.Fatalf("summary %s", b)
			}
		})
	}
}

// The embedded tiny-zero preset must stay a valid config.
func TestZeroPresetValid(t *testing.T) {
	data, err := configs.Get("tiny-zero")
	if err != nil {
		t.Fatal(err)
	}
	c := grpo.Default()
	if err := configs.Decode(data, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A resumed run's summary counts the seconds of the interrupted processes
// (recorded in zero_elapsed.json) as well as its own.
func TestZeroResumeCountsEarlierSeconds(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 4); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	args := []string{"zero", "--model", md, "--dataset", "synthetic", "--eval-n", "2", "--out", out,
		"--set", "prompts_per_step=1", "--set", "num_generations=2", "--set", "sampling.max_new_tokens=4", "--set", "save_every=1"}
	if _, stderr, code := runCLI(t, "", append(args, "--steps", "1")...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	if err := writeJSON(filepath.Join(out, "zero_elapsed.json"), zeroElapsed{1000}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(t, "", append(args, "--steps", "2", "--resume")...); code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	s, err := readJSON[zeroSummary](filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps != 2 || s.Seconds < 1000 || s.Seconds > 1100 {
		t.Fatalf("summary after resume: %d steps, %.1f s; want 2 steps and 1000 s + this process", s.Steps, s.Seconds)
	}
}
