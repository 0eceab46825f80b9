package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakePython writes a shell script standing in for python3: it records its
// arguments and OMP_WAIT_POLICY in dir/args, then prints out (exit status
// code).
func fakePython(t *testing.T, out string, code int) (python, argsFile string) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	python = filepath.Join(dir, "python3")
	script := "#!/bin/sh\necho \"OMP=$OMP_WAIT_POLICY $*\" > " + argsFile + "\ncat <<'JSON'\n" + out + "\nJSON\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return python, argsFile
}

func TestRunTorchPlumbing(t *testing.T) {
	t.Setenv("OMP_WAIT_POLICY", "") // unset below: RunTorch must add PASSIVE
	os.Unsetenv("OMP_WAIT_POLICY")
	work := TorchWork{Threads: 2, Batch: 8, Seq: 256, Warmup: 1, Steps: 2, DecodeBatches: []int{1, 32}, Prompt: 16, NewTokens: 128}
	good := `{"torch": "1.13.1", "threads": 2, "blas": "/usr/lib/libopenblas.so.0", "omp_wait_policy": "PASSIVE",
	"train_tok_per_s": 1333.5, "train_step_s": [1.5, 1.6],
	"decode": [{"batch": 1, "prefill_s": 0.01, "decode_tok_per_s": 72}, {"batch": 32, "prefill_s": 0.2, "decode_tok_per_s": 855}],
	"peak_rss_mb": 1351}`
	python, argsFile := fakePython(t, good, 0)
	r, err := RunTorch(context.Background(), python, []byte(`{"vocab_size": 2048}`), work)
	if err != nil {
		t.Fatal(err)
	}
	if r.TrainTokPerS != 1333.5 || r.PeakRSSMB != 1351 || r.Decode[1].DecodeTokPerS != 855 || r.Decode[0].PrefillS != 0.01 || r.Torch != "1.13.1" {
		t.Errorf("parsed %+v", r)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OMP=PASSIVE ", "compare.py --config ", "--threads 2 --batch 8 --seq 256 --warmup 1 --steps 2 --decode-batch 1,32 --prompt 16 --new-tokens 128"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("fake python got %q, want it to contain %q", args, want)
		}
	}

	bad := []struct{ name, out string }{
		{"not json", `Traceback (most recent call last)`},
		{"unknown field", `{"train_tok_per_s": 1, "train_step_s": [1, 1], "decode": [], "bogus": 1}`},
		{"missing train", `{"decode": [{"batch": 1, "prefill_s": 0.01, "decode_tok_per_s": 72}, {"batch": 32, "prefill_s": 0.2, "decode_tok_per_s": 855}]}`},
		{"missing decode", `{"train_tok_per_s": 1, "train_step_s": [1, 1], "decode": [{"batch": 1, "prefill_s": 0.01, "decode_tok_per_s": 72}]}`},
		{"wrong batch", `{"train_tok_per_s": 1, "train_step_s": [1, 1], "decode": [{"batch": 1, "prefill_s": 0.01, "decode_tok_per_s": 72}, {"batch": 16, "prefill_s": 0.2, "decode_tok_per_s": 855}]}`},
		{"zero rate", `{"train_tok_per_s": 1, "train_step_s": [1, 1], "decode": [{"batch": 1, "prefill_s": 0.01, "decode_tok_per_s": 0}, {"batch": 32, "prefill_s": 0.2, "decode_tok_per_s": 855}]}`},
	}
	for _, c := range bad {
		python, _ := fakePython(t, c.out, 0)
		if _, err := RunTorch(context.Background(), python, []byte(`{}`), work); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	// A failing script's error carries its stderr tail.
	python, _ = fakePython(t, good, 1)
	if _, err := RunTorch(context.Background(), python, []byte(`{}`), work); err == nil {
		t.Error("exit status 1: no error")
	}
}

func TestTorchAvailable(t *testing.T) {
	python, _ := fakePython(t, "No module named 'torch'", 1)
	if err := TorchAvailable(context.Background(), python); !errors.Is(err, ErrNoTorch) || !strings.Contains(err.Error(), "No module named 'torch'") {
		t.Errorf("got %v, want ErrNoTorch naming the import error", err)
	}
	python, _ = fakePython(t, "", 0)
	if err := TorchAvailable(context.Background(), python); err != nil {
		t.Errorf("importable: %v", err)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(c.xs); got != c.want {
			t.Errorf("Median(%v) = %g, want %g", c.xs, got, c.want)
		}
	}
}

// TestScriptCompiles byte-compiles the embedded script where a python3 exists
// (the syntax only; torch need not be installed).
func TestScriptCompiles(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	f := filepath.Join(t.TempDir(), "compare.py")
	if err := os.WriteFile(f, torchScript, 0o644); err != nil {
		t.Fatal(err)
	}
	src := "import ast,sys; ast.parse(open(sys.argv[1]).read())"
	if out, err := exec.Command(py, "-c", src, f).CombinedOutput(); err != nil {
		t.Fatalf("compare.py does not parse: %v\n%s", err, out)
	}
}
