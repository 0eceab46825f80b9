package eval

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/atomicfile"
)

// BenchResult is one benchmark's line of results.json. Metrics are
// fractions in [0, 1] (the tables print percentages). "n" is the number of
// problems and "k" the samples per problem that pass@k and cons@k use;
// scripts rely on these names.
type BenchResult struct {
	N       int     `json:"n"`
	K       int     `json:"k"`
	PassAt1 float64 `json:"pass@1"`
	PassAtK float64 `json:"pass@k"`
	ConsAtK float64 `json:"cons@k"`
	// Samples per problem (≥ k); pass@1 and pass@k use all of them.
	Samples    int       `json:"samples"`
	Kind       data.Task `json:"kind"`
	File       string    `json:"file"`
	MeanTokens float64   `json:"mean_tokens"`
	// Truncated counts samples cut at max_new_tokens.
	Truncated int `json:"truncated"`
	// Unscored counts samples that could not be checked (counted wrong).
	Unscored   int    `json:"unscored,omitempty"`
	FirstError string `json:"first_error,omitempty"`
}

// Results is results.json.
type Results struct {
	Model        string                 `json:"model"`
	Settings     Settings               `json:"settings"`
	SettingsHash string                 `json:"settings_hash"`
	Benchmarks   map[string]BenchResult `json:"benchmarks"`
	// Order is the benchmarks in the order they ran.
	Order []string `json:"-"`
}

func (r *Results) write(dir string) error {
	var buf bytes.Buffer
	enc := newLineEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ResultsFile), buf.Bytes()); err != nil {
		return err
	}
	var md strings.Builder
	r.Markdown(&md)
	return atomicfile.Write(filepath.Join(dir, ReportFile), []byte(md.String()))
}

func pct(x float64) string { return fmt.Sprintf("%.1f", 100*x) }

// Table prints the per-benchmark table for the terminal.
func (r *Results) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	k := r.Settings.K
	fmt.Fprintf(tw, "benchmark\tproblems\tsamples\tpass@1 %%\tpass@%d %%\tcons@%d %%\tmean tokens\t\n", k, k)
	for _, name := range r.Order {
		b := r.Benchmarks[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%.0f\t\n", name, b.N, b.Samples, pct(b.PassAt1), pct(b.PassAtK), pct(b.ConsAtK), b.MeanTokens)
	}
	tw.Flush()
	for _, name := range r.Order {
		if b := r.Benchmarks[name]; b.Unscored > 0 {
			fmt.Fprintf(w, "warning: %s: %d samples could not be scored and count as wrong; first error: %s\n", name, b.Unscored, b.FirstError)
		}
	}
}

// Markdown writes report.md.
func (r *Results) Markdown(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "# Evaluation of %s\n\n", r.Model)
	fmt.Fprintf(w, "Prompt format `%s`, %d samples per problem (k = %d), temperature %g, top-p %g", s.Prompt, s.Samples, s.K, s.Temperature, s.TopP)
	if s.TopK > 0 {
		fmt.Fprintf(w, ", top-k %d", s.TopK)
	}
	fmt.Fprintf(w, ", at most %d new tokens, seed %d (settings %s).\n\n", s.MaxNewTokens, s.Seed, r.SettingsHash)
	fmt.Fprintf(w, "| benchmark | problems | pass@1 (%%) | pass@%d (%%) | cons@%d (%%) | mean tokens | truncated |\n", s.K, s.K)
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, name := range r.Order {
		b := r.Benchmarks[name]
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %.0f | %d |\n", name, b.N, pct(b.PassAt1), pct(b.PassAtK), pct(b.ConsAtK), b.MeanTokens, b.Truncated)
	}
	fmt.Fprintf(w, "\npass@1 is the mean correctness over all samples of a problem; pass@%d the unbiased estimator of Chen et al. (2021); "+
		"cons@%d the correctness of the majority answer among the first %d samples, equivalent answers voting together.\n", s.K, s.K, s.K)
	for _, name := range r.Order {
		if b := r.Benchmarks[name]; b.Unscored > 0 {
			fmt.Fprintf(w, "\n**Warning**: %s: %d samples could not be scored (counted wrong). First error: `%s`\n", name, b.Unscored, b.FirstError)
		}
	}
}

// progress draws a one-line bar with an ETA, redrawn at most every 200ms.
type progress struct {
	mu         sync.Mutex
	w          io.Writer
	total, n   int
	drawn      int // n at the last draw
	start, drw time.Time
	name       string
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) label(name string) { p.name = name }

// add counts one finished sample; the generator calls it.
func (p *progress) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.w == nil || (time.Since(p.drw) < 200*time.Millisecond && p.n < p.total) {
		return
	}
	p.drw = time.Now()
	p.draw()
}

func (p *progress) draw() {
	if p.w == nil || p.total == 0 {
		return
	}
	const width = 30
	p.drawn = p.n
	fill := width * p.n / p.total
	eta := "?"
	if p.n > 0 {
		el := time.Since(p.start)
		eta = (time.Duration(float64(el) * float64(p.total-p.n) / float64(p.n))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%-10s [%s%s] %d/%d samples %3d%% ETA %s   ", p.name,
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.n, p.total, 100*p.n/p.total, eta)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil && p.total > 0 {
		if p.drawn != p.n {
			p.draw()
		}
		fmt.Fprintln(p.w)
	}
}
