package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tiny custom shape: fast enough to train and decode in a test.
var tinyBenchArgs = []string{"bench", "--vocab", "64", "--dim", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "48",
	"--batch", "2", "--seq", "8", "--steps", "2", "--decode-batch", "1,2", "--decode-prompt", "4", "--decode-tokens", "3"}

// --compare-torch runs r1 and the Python side (here a fake python3 that
// answers compare.py's JSON) in interleaved pairs and reports the medians
// of both and their ratios; without torch it runs r1 alone and says why.
func TestBenchCompareTorchPlumbing(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	answer := `{"torch": "1.13.1", "threads": 2, "blas": "fake", "blas_core": "Haswell", "omp_wait_policy": "PASSIVE", "train_tok_per_s": 100, "train_step_s": [0.1, 0.1],
	"decode": [{"batch": 1, "prefill_s": 0.5, "decode_tok_per_s": 10}, {"batch": 2, "prefill_s": 0.5, "decode_tok_per_s": 20}], "peak_rss_mb": 1000}`
	fake := filepath.Join(dir, "python3")
	script := "#!/bin/sh\necho \"$*\" >> " + calls + "\ncase \"$*\" in *compare.py*) cat <<'JSON'\n" + answer + "\nJSON\n;; esac\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "", append(tinyBenchArgs, "--compare-torch", "--pairs", "2", "--python", fake, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var c benchComparison
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if c.TorchSkipped != "" || len(c.R1Runs) != 2 || len(c.TorchRuns) != 2 || c.Torch.TrainTokPerS != 100 || c.Torch.Decode[1].DecodeTokPerS != 20 {
		t.Errorf("comparison %+v", c)
	}
	if c.R1.TrainBatch != 2 || c.R1.TrainSeq != 8 || len(c.R1.Decode) != 2 || c.R1.Decode[1].Batch != 2 || !(c.R1.Decode[1].DecodeTokPerS > 0) || !(c.R1.Decode[0].PrefillS > 0) || c.SIMD == "" {
		t.Errorf("r1 side %+v", c.R1)
	}
	// --compare-torch measures the CPU's ceilings once, after the pairs,
	// and puts each decode against its roofline.
	if rf := c.R1.Roofline; rf == nil || !(rf.SgemmGFLOPS > 0) || !(rf.ReadGBps > 0) || !(c.R1.TrainGFLOPS > 0) ||
		!(c.R1.Decode[0].RooflineTokPerS > 0) || !(c.R1.Decode[1].RooflineTokPerS > c.R1.Decode[0].RooflineTokPerS) {
		t.Errorf("roofline %+v, decode %+v", rf, c.R1.Decode)
	}
	if c.Params != 64*32*2+1*(2*32+32*32+2*32*16+32*32+3*32*48)+32 {
		t.Errorf("params %d: the custom dims were not applied", c.Params)
	}
	data, _ := os.ReadFile(calls)
	// One import check, then two compare.py runs with the same work.
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "import torch") ||
		!strings.Contains(lines[1], "--threads 2 --batch 2 --seq 8 --warmup 1 --steps 2 --decode-batch 1,2 --prompt 4 --new-tokens 3") {
		t.Errorf("python calls:\n%s", data)
	}

	// The table names both sides and the ratio (r1's speed over PyTorch's).
	stdout, stderr, code = runCLI(t, "", append(tinyBenchArgs, "--compare-torch", "--pairs", "1", "--python", fake)...)
	if code != 0 || !strings.Contains(stdout, "greedy decode tok/s b=2") || !strings.Contains(stdout, "PyTorch 1.13.1, 2 threads, OMP_WAIT_POLICY=PASSIVE") || !strings.Contains(stdout, "×") ||
		!strings.Contains(stdout, "(OpenBLAS kernels: Haswell)") || !strings.Contains(stdout, "pack weights ms") ||
		!strings.Contains(stdout, "SGEMM 1024³") || !strings.Contains(stdout, "greedy decode b=2: ") {
		t.Errorf("exit %d, table:\n%s%s", code, stdout, stderr)
	}

	// No torch: a clear message, and r1's figures alone.
	noTorch := filepath.Join(dir, "python-no-torch")
	if err := os.WriteFile(noTorch, []byte("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runCLI(t, "", append(tinyBenchArgs, "--compare-torch", "--pairs", "1", "--python", noTorch)...)
	if code != 0 || !strings.Contains(stderr, "skipping PyTorch") || !strings.Contains(stdout, "PyTorch skipped: PyTorch is not importable") || !strings.Contains(stdout, "No module named 'torch'") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// --roofline reports training and each greedy decode against this CPU's
// ceilings; without it nothing is measured; it refuses a GPU.
func TestBenchRoofline(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", append(tinyBenchArgs, "--rollout-batch", "", "--roofline")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The tiny shape's weights fit in any last-level cache: it says the
	// bandwidth part of the roofline does not bind them.
	for _, want := range []string{"read ", "GB/s", "training: ", "% of SGEMM 1024³", "greedy decode b=1: ", " of its roofline", `"roofline":{"cores":`, `"roofline_tok_per_s":`,
		"fit in the last-level cache", `"decode_weight_mb":`, `"llc_bytes":`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, code = runCLI(t, "", append(tinyBenchArgs, "--rollout-batch", "", "--json")...)
	if code != 0 || strings.Contains(stdout, "roofline") || !strings.Contains(stdout, `"train_gflops"`) {
		t.Errorf("exit %d, without --roofline:\n%s", code, stdout)
	}
	_, stderr, code = runCLI(t, "", append(tinyBenchArgs, "--roofline", "--device", "cuda")...)
	if code != 2 || !strings.Contains(stderr, "--roofline measures the CPU") {
		t.Errorf("--device cuda: exit %d: %s", code, stderr)
	}
}
