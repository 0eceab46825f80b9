package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/r1go/r1/internal/atomicfile"
)

// Curves are the metrics.jsonl keys the report plots, with their titles:
// GRPO's reward, accuracy, response length, reflection rate and KL, and
// the supervised trainers' loss.
var Curves = []struct{ Key, Title string }{
	{"reward/mean", "reward"},
	{"accuracy", "accuracy"},
	{"completion/length_mean", "response length (tokens)"},
	{"completion/reflection_rate", "reflection rate"},
	{"kl", "KL to the reference"},
	{"loss", "loss"},
	{"eval/accuracy", "held-out pairwise accuracy"},
}

// series is one metric over steps.
type series struct {
	Steps, Values []float64
}

// readMetrics reads the curves' keys from a metrics.jsonl (nil when the
// file is absent).
func readMetrics(path string) (map[string]*series, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	out := map[string]*series{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		step, ok := m["step"].(float64)
		if !ok {
			continue
		}
		for _, c := range Curves {
			if v, ok := m[c.Key].(float64); ok {
				s := out[c.Key]
				if s == nil {
					s = &series{}
					out[c.Key] = s
				}
				s.Steps, s.Values = append(s.Steps, step), append(s.Values, v)
			}
		}
	}
	return out, sc.Err()
}

// svgPlot draws one curve as a small self-contained SVG line chart.
func svgPlot(title string, s *series) string {
	const w, h, l, r, t, b = 320.0, 180.0, 44.0, 10.0, 22.0, 24.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range s.Values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi == lo {
		hi, lo = hi+0.5, lo-0.5
	}
	x0, x1 := s.Steps[0], s.Steps[len(s.Steps)-1]
	if x1 == x0 {
		x1 = x0 + 1
	}
	px := func(x float64) float64 { return l + (x-x0)/(x1-x0)*(w-l-r) }
	py := func(y float64) float64 { return h - b - (y-lo)/(hi-lo)*(h-t-b) }
	var pts strings.Builder
	for i := range s.Steps {
		fmt.Fprintf(&pts, "%.1f,%.1f ", px(s.Steps[i]), py(s.Values[i]))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="10">`, w, h, w, h)
	fmt.Fprintf(&sb, `<text x="%g" y="14" font-size="12">%s</text>`, l, html.EscapeString(title))
	fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#ccc"/>`, l, t, w-l-r, h-t-b)
	fmt.Fprintf(&sb, `<text x="%g" y="%g" text-anchor="end">%.3g</text><text x="%g" y="%g" text-anchor="end">%.3g</text>`, l-3, t+8, hi, l-3, h-b, lo)
	fmt.Fprintf(&sb, `<text x="%g" y="%g">%g</text><text x="%g" y="%g" text-anchor="end">step %g</text>`, l, h-8, x0, w-r, h-8, x1)
	if len(s.Steps) == 1 {
		fmt.Fprintf(&sb, `<circle cx="%.1f" cy="%.1f" r="3" fill="#2563eb"/>`, px(s.Steps[0]), py(s.Values[0]))
	}
	fmt.Fprintf(&sb, `<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="%s"/></svg>`, strings.TrimSpace(pts.String()))
	return sb.String()
}

// stageReport is what the report shows of one stage.
type stageReport struct {
	s       *Stage
	rec     record
	eval    *EvalSummary
	curves  map[string]*series
	samples []Example
}

func (p *Plan) gather() ([]stageReport, error) {
	var out []stageReport
	for _, s := range p.Stages {
		sr := stageReport{s: s}
		sr.rec, _ = p.record(s.Name)
		if s.Kind == "eval" {
			var e EvalSummary
			if err := readJSON(s.Outputs["output"], &e); err == nil {
				sr.eval = &e
				sr.samples = e.Examples
			}
		}
		if m := s.Outputs["metrics"]; m != "" {
			c, err := readMetrics(m)
			if err != nil {
				return nil, err
			}
			sr.curves = c
		}
		if smp := s.Outputs["samples"]; smp != "" && s.Kind == "grpo" {
			sr.samples = lastSamples(smp, 2)
		}
		out = append(out, sr)
	}
	return out, nil
}

// lastSamples returns the last n samples an RL run logged.
func lastSamples(path string, n int) []Example {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	var out []Example
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		// samples.jsonl of grpo/ppo: each reward's score by label.
		var r struct {
			Prompt     string `json:"prompt"`
			Completion string `json:"completion"`
			Scores     map[string]struct {
				Value float64 `json:"value"`
			} `json:"scores"`
			Correct *bool `json:"correct"`
		}
		if json.Unmarshal(lines[i], &r) != nil || r.Completion == "" {
			continue
		}
		ex := Example{Prompt: tail(r.Prompt, 300), Completion: r.Completion}
		if r.Correct != nil {
			ex.Correct = *r.Correct
		} else {
			// The accuracy rewards score 1 exactly when the dataset's
			// judge accepts the answer.
			for _, label := range []string{"math", "countdown", "code"} {
				if sc, ok := r.Scores[label]; ok {
					ex.Correct = sc.Value >= 1
					break
				}
			}
		}
		out = append(out, ex)
	}
	return out
}

// tail keeps the last n bytes of s, cut at a rune boundary.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func langCell(v float64) string {
	if v < 0 {
		return "—"
	}
	return pct(v)
}

// WriteReport writes DIR/report.md and DIR/report.html from what the
// stages left: each eval stage's figures (the summary table), each
// training stage's curves and a few samples per stage.
func (p *Plan) WriteReport() error {
	srs, err := p.gather()
	if err != nil {
		return err
	}
	var md, ht strings.Builder
	fmt.Fprintf(&md, "# r1 pipeline report\n\n%s\n\n## Stages\n\n| stage | kind | status | wall time | output |\n|---|---|---|---|---|\n", p.Dir)
	ht.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>r1 pipeline report</title><style>
body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}
.plots svg{margin:4px;border:1px solid #eee}</style></head><body>`)
	fmt.Fprintf(&ht, "<h1>r1 pipeline report</h1><p>%s</p><h2>Stages</h2><table><tr><th>stage</th><th>kind</th><th>status</th><th>wall time</th><th>output</th></tr>", html.EscapeString(p.Dir))
	for _, sr := range srs {
		status := "not run"
		if sr.rec.Hash != "" {
			status = p.Status(sr.s)
		}
		wall := "—"
		if sr.rec.Seconds > 0 {
			wall = fmt.Sprintf("%.0f s", sr.rec.Seconds)
		}
		out, _ := filepath.Rel(p.Dir, sr.s.Outputs["output"])
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s |\n", sr.s.Name, sr.s.Kind, status, wall, out)
		fmt.Fprintf(&ht, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>", sr.s.Name, sr.s.Kind, status, wall, html.EscapeString(out))
	}
	ht.WriteString("</table>")

	// The evaluation table: R1-Zero vs R1 vs the distilled student, and
	// every other model evaluated, in pipeline order.
	md.WriteString("\n## Evaluation\n\n| model | stage | benchmark | pass@1 | cons@k | pass@k | format | mean length | language |\n|---|---|---|---|---|---|---|---|---|\n")
	ht.WriteString("<h2>Evaluation</h2><table><tr><th>model</th><th>stage</th><th>benchmark</th><th>pass@1</th><th>cons@k</th><th>pass@k</th><th>format</th><th>mean length</th><th>language</th></tr>")
	for _, sr := range srs {
		e := sr.eval
		if e == nil {
			continue
		}
		label := e.Label
		if label == "" {
			label = sr.s.Name
		}
		cells := []string{label, sr.s.Name, fmt.Sprintf("%s (%d × %d)", e.Bench, e.N, e.K), pct(e.PassAt1), pct(e.ConsAtK), pct(e.PassAtK),
			pct(e.FormatRate), fmt.Sprintf("%.1f", e.MeanLength), langCell(e.Language)}
		fmt.Fprintf(&md, "| %s |\n", strings.Join(cells, " | "))
		ht.WriteString("<tr>")
		for _, c := range cells {
			fmt.Fprintf(&ht, "<td>%s</td>", html.EscapeString(c))
		}
		ht.WriteString("</tr>")
	}
	ht.WriteString("</table>")
	// The paper's comparison: the RL-only model, the full recipe and the
	// distilled student, by their eval stages' labels.
	var sum []*EvalSummary
	for _, want := range []string{"r1-zero", "r1", "distilled student"} {
		for _, sr := range srs {
			if sr.eval != nil && strings.EqualFold(sr.eval.Label, want) {
				sum = append(sum, sr.eval)
				break
			}
		}
	}
	if len(sum) > 1 {
		md.WriteString("\n### R1-Zero vs R1 vs the distilled student\n\n| model | pass@1 | cons@k | format | mean length |\n|---|---|---|---|---|\n")
		ht.WriteString("<h3>R1-Zero vs R1 vs the distilled student</h3><table><tr><th>model</th><th>pass@1</th><th>cons@k</th><th>format</th><th>mean length</th></tr>")
		for _, e := range sum {
			cells := []string{e.Label, pct(e.PassAt1), pct(e.ConsAtK), pct(e.FormatRate), fmt.Sprintf("%.1f", e.MeanLength)}
			fmt.Fprintf(&md, "| %s |\n", strings.Join(cells, " | "))
			ht.WriteString("<tr>")
			for _, c := range cells {
				fmt.Fprintf(&ht, "<td>%s</td>", html.EscapeString(c))
			}
			ht.WriteString("</tr>")
		}
		ht.WriteString("</table>")
	}
	md.WriteString("\npass@1: mean correctness over k samples per problem; cons@k: majority vote of the k samples; format: share of samples with full format marks; language: share of reasoning words in the target language.\n")

	// Per stage: curves and samples.
	md.WriteString("\n## Stages in detail\n")
	ht.WriteString("<h2>Stages in detail</h2>")
	for _, sr := range srs {
		if len(sr.curves) == 0 && len(sr.samples) == 0 {
			continue
		}
		fmt.Fprintf(&md, "\n### %s (%s)\n\n", sr.s.Name, sr.s.Kind)
		fmt.Fprintf(&ht, "<h3>%s (%s)</h3><div class=\"plots\">", html.EscapeString(sr.s.Name), sr.s.Kind)
		for _, c := range Curves {
			s := sr.curves[c.Key]
			if s == nil || len(s.Values) == 0 {
				continue
			}
			fmt.Fprintf(&md, "- %s: %.4g (step %g) → %.4g (step %g)\n", c.Title, s.Values[0], s.Steps[0], s.Values[len(s.Values)-1], s.Steps[len(s.Steps)-1])
			ht.WriteString(svgPlot(c.Title, s))
		}
		ht.WriteString("</div>")
		for i, ex := range sr.samples {
			mark := "incorrect"
			if ex.Correct {
				mark = "correct"
			}
			fmt.Fprintf(&md, "\nSample %d (%s):\n\n```\n%s\n---\n%s\n```\n", i+1, mark, ex.Prompt, ex.Completion)
			fmt.Fprintf(&ht, "<p>Sample %d (%s):</p><pre>%s\n---\n%s</pre>", i+1, mark, html.EscapeString(ex.Prompt), html.EscapeString(ex.Completion))
		}
	}
	ht.WriteString("</body></html>\n")
	if err := atomicfile.Write(filepath.Join(p.Dir, "report.md"), []byte(md.String())); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(p.Dir, "report.html"), []byte(ht.String()))
}
