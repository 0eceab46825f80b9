// Package bench runs the PyTorch side of `r1 bench --compare-torch`: the same
// shape and the same work as r1's own benchmark, in a Python process whose
// JSON answer it parses, plus the small helpers a side-by-side report needs
// (medians, the CPU's model name).
package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// torchScript is bench/torch/compare.py, embedded so that the binary needs
// no checkout to compare itself with PyTorch.
//
//go:embed torch/compare.py
var torchScript []byte

// ErrNoTorch says that the Python interpreter cannot import torch.
var ErrNoTorch = errors.New("PyTorch is not importable")

// TorchWork is what the PyTorch side measures; the fields match
// compare.py's flags.
type TorchWork struct {
	Threads int // torch.set_num_threads
	// Training: Batch × Seq random tokens, Warmup untimed steps, then Steps
	// timed ones (Batch 0: no training).
	Batch, Seq, Warmup, Steps int
	// Decode: for each batch size, a Prompt-token prefill timed alone, then
	// NewTokens greedy steps.
	DecodeBatches     []int
	Prompt, NewTokens int
}

// TorchDecode is one decode batch size's figures.
type TorchDecode struct {
	Batch         int     `json:"batch"`
	PrefillS      float64 `json:"prefill_s"`
	DecodeTokPerS float64 `json:"decode_tok_per_s"`
}

// TorchResult is compare.py's JSON answer.
type TorchResult struct {
	Torch   string `json:"torch"`
	Threads int    `json:"threads"`
	BLAS    string `json:"blas"`
	// BLASCore is the kernel set OpenBLAS runs (SkylakeX, Haswell, …;
	// OPENBLAS_CORETYPE overrides its choice); empty for another BLAS.
	BLASCore      string        `json:"blas_core,omitempty"`
	OMPWaitPolicy string        `json:"omp_wait_policy"`
	TrainTokPerS  float64       `json:"train_tok_per_s"`
	TrainStepS    []float64     `json:"train_step_s"`
	Decode        []TorchDecode `json:"decode"`
	PeakRSSMB     float64       `json:"peak_rss_mb"`
}

// TorchAvailable reports whether python can import torch: nil, or an error
// wrapping ErrNoTorch that says how to get it.
func TorchAvailable(ctx context.Context, python string) error {
	out, err := exec.CommandContext(ctx, python, "-c", "import torch").CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%w with %s (%s); on Debian: apt-get install python3-torch, then --python /usr/bin/python3", ErrNoTorch, python, msg)
	}
	return nil
}

// RunTorch runs the embedded compare.py with python on the model config
// (HF config.json bytes) and parses its answer. OMP_WAIT_POLICY is PASSIVE
// unless the environment sets it (spinning OpenMP threads halve torch's
// speed on 2 cores).
func RunTorch(ctx context.Context, python string, config []byte, w TorchWork) (TorchResult, error) {
	dir, err := os.MkdirTemp("", "r1-bench-torch-")
	if err != nil {
		return TorchResult{}, err
	}
	defer os.RemoveAll(dir)
	script, cfg := filepath.Join(dir, "compare.py"), filepath.Join(dir, "config.json")
	if err := os.WriteFile(script, torchScript, 0o644); err != nil {
		return TorchResult{}, err
	}
	if err := os.WriteFile(cfg, config, 0o644); err != nil {
		return TorchResult{}, err
	}
	batches := make([]string, len(w.DecodeBatches))
	for i, b := range w.DecodeBatches {
		batches[i] = strconv.Itoa(b)
	}
	args := []string{script, "--config", cfg,
		"--threads", strconv.Itoa(w.Threads),
		"--batch", strconv.Itoa(w.Batch), "--seq", strconv.Itoa(w.Seq),
		"--warmup", strconv.Itoa(w.Warmup), "--steps", strconv.Itoa(w.Steps),
		"--decode-batch", strings.Join(batches, ","),
		"--prompt", strconv.Itoa(w.Prompt), "--new-tokens", strconv.Itoa(w.NewTokens)}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = os.Environ()
	if _, ok := os.LookupEnv("OMP_WAIT_POLICY"); !ok {
		cmd.Env = append(cmd.Env, "OMP_WAIT_POLICY=PASSIVE")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = "…" + tail[len(tail)-2000:]
		}
		return TorchResult{}, fmt.Errorf("bench: %s compare.py: %w\n%s", python, err, tail)
	}
	return ParseTorch(stdout.Bytes(), w)
}

// ParseTorch decodes compare.py's answer and checks that it holds a figure
// for every part of w.
func ParseTorch(data []byte, w TorchWork) (TorchResult, error) {
	var r TorchResult
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("bench: compare.py output: %w", err)
	}
	if w.Batch > 0 && (!(r.TrainTokPerS > 0) || len(r.TrainStepS) != w.Steps) {
		return r, fmt.Errorf("bench: compare.py output: train_tok_per_s %g with %d step times, want > 0 and %d", r.TrainTokPerS, len(r.TrainStepS), w.Steps)
	}
	if len(r.Decode) != len(w.DecodeBatches) {
		return r, fmt.Errorf("bench: compare.py output: %d decode results, want %d", len(r.Decode), len(w.DecodeBatches))
	}
	for i, d := range r.Decode {
		if d.Batch != w.DecodeBatches[i] || !(d.DecodeTokPerS > 0) || !(d.PrefillS > 0) {
			return r, fmt.Errorf("bench: compare.py output: decode[%d] = %+v, want batch %d and positive figures", i, d, w.DecodeBatches[i])
		}
	}
	return r, nil
}

// Median is the middle of xs (the mean of the two middle ones for an even
// count; 0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// CPUModel is /proc/cpuinfo's model name ("unknown" where there is none).
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
