package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/r1go/r1/pipeline"
)

// metricLines reads a metrics.jsonl without its wall-clock fields (time,
// time/*, tokens_per_s), which differ between any two runs.
func metricLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for k := range m {
			if k == "time" || strings.HasPrefix(k, "time/") || k == "tokens_per_s" {
				delete(m, k)
			}
		}
		out = append(out, m)
	}
	return out
}

// The 2-step-per-stage pipeline (every kind, on the built-in model) runs
// end to end; a second run, interrupted by SIGINT inside its final GRPO
// stage and then rerun, resumes that stage and ends with the same metrics
// and weights as the uninterrupted run; a third run skips every stage.
func TestPipelineInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if defaultModelDir() == "" {
		t.Skip("no built-in model")
	}
	cfg := filepath.Join("..", "..", "pipeline", "testdata", "tiny.yaml")
	a, b := t.TempDir(), t.TempDir()
	run := func(dir string) (int, string) {
		var out bytes.Buffer
		rc := runMain([]string{"pipeline", "--config", cfg, "--out", dir}, nil, &out, &out)
		return rc, out.String()
	}
	if rc, out := run(a); rc != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", rc, out)
	}

	// SIGINT once the final stage has written its first checkpoint (it
	// has 4 steps).
	running := make(chan struct{})
	go func() {
		for {
			select {
			case <-running:
				return
			default:
			}
			if _, err := os.Stat(filepath.Join(b, "final", "checkpoints", "step-1")); err == nil {
				syscall.Kill(os.Getpid(), syscall.SIGINT)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	rc, out := run(b)
	close(running)
	if rc != 130 {
		t.Fatalf("interrupted run: exit %d, want 130\n%s", rc, out)
	}
	spec, err := pipeline.LoadSpec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Resolve(spec, b)
	if err != nil {
		t.Fatal(err)
	}
	if st := plan.Status(plan.Stage("final")); st != "resume" {
		t.Fatalf("final after SIGINT: %s, want resume\n%s", st, out)
	}
	if st := plan.Status(plan.Stage("rs_sft")); st != "done" {
		t.Fatalf("rs_sft after SIGINT: %s, want done", st)
	}

	rc, out = run(b)
	if rc != 0 {
		t.Fatalf("resumed run: exit %d\n%s", rc, out)
	}
	for _, want := range []string{"stage 1/12 zero (grpo): done, skipped", "final (grpo): resume", "resumed at step "} {
		if !strings.Contains(out, want) {
			t.Errorf("resumed run's output lacks %q:\n%s", want, out)
		}
	}
	for _, s := range plan.Stages {
		if st := plan.Status(s); st != "done" {
			t.Errorf("stage %s: %s after the resumed run", s.Name, st)
		}
		m := s.Outputs["metrics"]
		if m == "" {
			continue
		}
		ma := strings.Replace(m, b, a, 1)
		got, want := metricLines(t, m), metricLines(t, ma)
		if len(got) == 0 {
			t.Errorf("stage %s: no metrics", s.Name)
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("stage %s: resumed metrics differ from the uninterrupted run's:\n%s\n%s", s.Name, gj, wj)
		}
	}
	for _, f := range []string{"final/checkpoints/step-4/model.safetensors", "distill/sft/model.safetensors", "rs_sft/model.safetensors"} {
		x, err1 := os.ReadFile(filepath.Join(a, f))
		y, err2 := os.ReadFile(filepath.Join(b, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the runs (%v, %v)", f, err1, err2)
		}
	}
	html, err := os.ReadFile(filepath.Join(b, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(b, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| R1-Zero | eval_zero | synthetic (3 × 2) |", "| R1 | eval_final |", "| distilled student | eval_student |", "### final (grpo)", "### R1-Zero vs R1 vs the distilled student"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(string(html), "<svg"); n < 10 {
		t.Errorf("report.html has %d plots", n)
	}

	rc, out = run(b)
	if rc != 0 || strings.Count(out, "done, skipped") != len(plan.Stages) {
		t.Errorf("third run: exit %d, want every stage skipped:\n%s", rc, out)
	}
}
