package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/bench"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// torchOptions are --compare-torch's settings.
type torchOptions struct {
	python         string
	threads, pairs int
}

// benchComparison is r1 bench --compare-torch's answer: the machine, the
// medians of each side and every run behind them.
type benchComparison struct {
	Shape      string `json:"shape"`
	Params     int64  `json:"params"`
	CPU        string `json:"cpu"`
	SIMD       string `json:"simd"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Pairs      int    `json:"pairs"`
	// TorchSkipped says why PyTorch did not run (r1 ran alone).
	TorchSkipped string              `json:"torch_skipped,omitempty"`
	R1           benchResult         `json:"r1"`    // medians
	Torch        bench.TorchResult   `json:"torch"` // medians
	R1Runs       []benchResult       `json:"r1_runs"`
	TorchRuns    []bench.TorchResult `json:"torch_runs"`
}

// benchCompare runs r1's benchmark and compare.py's in turn, pairs times,
// alternating which goes first so that neither always meets the machine's
// drift first, and reports the medians.
func benchCompare(ctx context.Context, dev tensor.Backend, cfg *model.Config, o benchOptions, t torchOptions, stderr io.Writer) (benchComparison, error) {
	c := benchComparison{Shape: o.shape, Params: cfg.NumParams(), CPU: bench.CPUModel(), SIMD: cpu.SIMD(), GOMAXPROCS: runtime.GOMAXPROCS(0), Pairs: t.pairs}
	if err := bench.TorchAvailable(ctx, t.python); err != nil {
		if !errors.Is(err, bench.ErrNoTorch) {
			return c, err
		}
		c.TorchSkipped = err.Error()
		fmt.Fprintf(stderr, "bench: --compare-torch: skipping PyTorch: %v\n", err)
	}
	config, err := cfg.MarshalJSON()
	if err != nil {
		return c, err
	}
	work := bench.TorchWork{Threads: t.threads, Batch: o.batch, Seq: o.seq, Warmup: 1, Steps: o.steps,
		DecodeBatches: o.decode, Prompt: o.decodePrompt, NewTokens: o.decodeTokens}
	runR1 := func() error {
		r, err := benchRun(ctx, dev, cfg, o, stderr)
		c.R1Runs = append(c.R1Runs, r)
		return err
	}
	runTorch := func() error {
		if c.TorchSkipped != "" {
			return nil
		}
		if !o.quiet {
			fmt.Fprintf(stderr, "PyTorch: the same training and decoding…\n")
		}
		r, err := bench.RunTorch(ctx, t.python, config, work)
		c.TorchRuns = append(c.TorchRuns, r)
		return err
	}
	for i := 0; i < t.pairs; i++ {
		first, second := runR1, runTorch
		if i%2 == 1 {
			first, second = runTorch, runR1
		}
		if err := first(); err != nil {
			return c, err
		}
		if err := second(); err != nil {
			return c, err
		}
	}
	c.R1 = medianR1(c.R1Runs)
	if o.roofline {
		applyRoofline(&c.R1, cfg, o, measureRoofline(o, stderr))
	}
	if len(c.TorchRuns) > 0 {
		c.Torch = medianTorch(c.TorchRuns)
	}
	return c, nil
}

// medianR1 is the run whose every figure is the median of that figure.
func medianR1(runs []benchResult) benchResult {
	m := runs[0]
	m.Decode = append([]benchDecode(nil), m.Decode...)
	col := func(f func(benchResult) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return bench.Median(xs)
	}
	m.TrainTokPerS = col(func(r benchResult) float64 { return r.TrainTokPerS })
	m.TrainGFLOPS = col(func(r benchResult) float64 { return r.TrainGFLOPS })
	m.MFU = col(func(r benchResult) float64 { return r.MFU })
	m.PeakHeapMB = col(func(r benchResult) float64 { return r.PeakHeapMB })
	m.PeakRSSMB = col(func(r benchResult) float64 { return r.PeakRSSMB })
	m.PackS = col(func(r benchResult) float64 { return r.PackS })
	for j := range m.Decode {
		m.Decode[j].PrefillS = col(func(r benchResult) float64 { return r.Decode[j].PrefillS })
		m.Decode[j].DecodeTokPerS = col(func(r benchResult) float64 { return r.Decode[j].DecodeTokPerS })
	}
	return m
}

// medianTorch is medianR1 for PyTorch's runs.
func medianTorch(runs []bench.TorchResult) bench.TorchResult {
	m := runs[0]
	m.Decode = append([]bench.TorchDecode(nil), m.Decode...)
	col := func(f func(bench.TorchResult) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return bench.Median(xs)
	}
	m.TrainTokPerS = col(func(r bench.TorchResult) float64 { return r.TrainTokPerS })
	m.PeakRSSMB = col(func(r bench.TorchResult) float64 { return r.PeakRSSMB })
	for j := range m.Decode {
		m.Decode[j].PrefillS = col(func(r bench.TorchResult) float64 { return r.Decode[j].PrefillS })
		m.Decode[j].DecodeTokPerS = col(func(r bench.TorchResult) float64 { return r.Decode[j].DecodeTokPerS })
	}
	m.TrainStepS = nil
	return m
}

// printComparison prints the side-by-side table and the JSON (JSON only
// with asJSON).
func printComparison(w io.Writer, c benchComparison, asJSON bool) {
	if asJSON {
		j, _ := json.MarshalIndent(c, "", "  ")
		fmt.Fprintln(w, string(j))
		return
	}
	fmt.Fprintf(w, "CPU: %s, GOMAXPROCS %d, r1 SIMD %s\n", c.CPU, c.GOMAXPROCS, c.SIMD)
	torch := c.TorchSkipped == ""
	if torch {
		t := c.Torch
		core := ""
		if t.BLASCore != "" {
			core = " (OpenBLAS kernels: " + t.BLASCore + ")"
		}
		fmt.Fprintf(w, "PyTorch %s, %d threads, OMP_WAIT_POLICY=%s, BLAS %s%s\n", t.Torch, t.Threads, t.OMPWaitPolicy, t.BLAS, core)
		if strings.Contains(t.BLAS, "/blas/libblas") {
			// Debian's default libblas.so.3 is the netlib reference BLAS.
			fmt.Fprintf(w, "warning: PyTorch runs on the reference BLAS (%s), a meaningless baseline; point LD_LIBRARY_PATH at OpenBLAS (bench/torch/README.md)\n", t.BLAS)
		}
	} else {
		fmt.Fprintf(w, "PyTorch skipped: %s\n", c.TorchSkipped)
	}
	fmt.Fprintf(w, "%s (%.1fM params), medians of %d interleaved pairs; ratio: r1's speed over PyTorch's (peak RSS: r1's size over PyTorch's)\n", c.Shape, float64(c.Params)/1e6, c.Pairs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(what string, r1, pt float64, ratio float64, format string) {
		if !torch {
			fmt.Fprintf(tw, "%s\t"+format+"\t-\t-\t\n", what, r1)
			return
		}
		fmt.Fprintf(tw, "%s\t"+format+"\t"+format+"\t%.2f×\t\n", what, r1, pt, ratio)
	}
	fmt.Fprintf(tw, "what\tr1\tPyTorch\tratio\t\n")
	r, t := c.R1, c.Torch
	row(fmt.Sprintf("train tok/s (B=%d T=%d)", r.TrainBatch, r.TrainSeq), r.TrainTokPerS, t.TrainTokPerS, r.TrainTokPerS/t.TrainTokPerS, "%.0f")
	for j, d := range r.Decode {
		var td bench.TorchDecode
		if torch {
			td = t.Decode[j]
		}
		row(fmt.Sprintf("greedy decode tok/s b=%d", d.Batch), d.DecodeTokPerS, td.DecodeTokPerS, d.DecodeTokPerS/td.DecodeTokPerS, "%.0f")
		row(fmt.Sprintf("prefill ms b=%d", d.Batch), d.PrefillS*1e3, td.PrefillS*1e3, td.PrefillS/d.PrefillS, "%.1f")
	}
	if len(r.Decode) > 0 {
		// r1's alone: PyTorch multiplies by the weights as they are.
		fmt.Fprintf(tw, "pack weights ms (once, not in prefill)\t%.1f\t-\t-\t\n", r.PackS*1e3)
	}
	row("peak RSS MB", r.PeakRSSMB, t.PeakRSSMB, r.PeakRSSMB/t.PeakRSSMB, "%.0f")
	tw.Flush()
	printRoofline(w, r)
	j, _ := json.Marshal(c)
	fmt.Fprintf(w, "%s\n", j)
}
