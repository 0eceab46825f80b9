package rm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
	rmreward "github.com/r1go/r1/reward/rm"
	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

const tinyDir = "../assets/tiny"

var dev = cpu.New()

// Hand-computed: d = r_c − r_r − m; loss −log σ(d); ∂/∂r_c = −σ(−d)/P.
func TestBTLossHandComputed(t *testing.T) {
	cases := []struct {
		rc, rr, m     []float64
		loss          float64
		gChosen, gRej []float64
	}{
		// d = 1: −log σ(1) = log(1+e^−1) = 0.31326168751822286; σ(−1) = 0.2689414213699951.
		{[]float64{1}, []float64{0}, nil, 0.31326168751822286, []float64{-0.2689414213699951}, []float64{0.2689414213699951}},
		// d = 0: log 2, gradient ∓1/2.
		{[]float64{3}, []float64{3}, nil, math.Ln2, []float64{-0.5}, []float64{0.5}},
		// Two pairs, d = 1 and d = −2 (mean): (0.31326168751822286 + 2.1269280110429727)/2;
		// σ(2) = 0.8807970779778823.
		{[]float64{1, 0}, []float64{0, 2}, nil, 1.2200948492805978, []float64{-0.2689414213699951 / 2, -0.8807970779778823 / 2},
			[]float64{0.2689414213699951 / 2, 0.8807970779778823 / 2}},
		// Llama 2's margin: d = 2 − 0 − 1.5 = 0.5; −log σ(0.5) = 0.47407698418010663, σ(−0.5) = 0.3775406687981454.
		{[]float64{2}, []float64{0}, []float64{1.5}, 0.47407698418010663, []float64{-0.3775406687981454}, []float64{0.3775406687981454}},
		// Far in the tails the loss stays finite: d = −800 gives 800.
		{[]float64{-400}, []float64{400}, nil, 800, []float64{-1}, []float64{1}},
	}
	for i, c := range cases {
		loss, gc, gr := BTLoss(c.rc, c.rr, c.m)
		if math.Abs(loss-c.loss) > 1e-12 {
			t.Errorf("case %d: loss %.17g, want %.17g", i, loss, c.loss)
		}
		for k := range gc {
			if math.Abs(gc[k]-c.gChosen[k]) > 1e-12 || math.Abs(gr[k]-c.gRej[k]) > 1e-12 {
				t.Errorf("case %d pair %d: gradients %v %v, want %v %v", i, k, gc[k], gr[k], c.gChosen[k], c.gRej[k])
			}
		}
	}
}

// The BT gradient equals central finite differences of the loss in every
// score (|error| < 1e-8 with h = 1e-5).
func TestBTLossFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rc, rr, m := make([]float64, 6), make([]float64, 6), make([]float64, 6)
	for i := range rc {
		rc[i], rr[i], m[i] = 3*rng.NormFloat64(), 3*rng.NormFloat64(), rng.Float64()
	}
	_, gc, gr := BTLoss(rc, rr, m)
	for _, side := range []struct {
		x []float64
		g []float64
	}{{rc, gc}, {rr, gr}} {
		for i := range side.x {
			old := side.x[i]
			side.x[i] = old + 1e-5
			up, _, _ := BTLoss(rc, rr, m)
			side.x[i] = old - 1e-5
			down, _, _ := BTLoss(rc, rr, m)
			side.x[i] = old
			if fd := (up - down) / 2e-5; math.Abs(fd-side.g[i]) > 1e-8 {
				t.Fatalf("score %d: gradient %.12g, finite difference %.12g", i, side.g[i], fd)
			}
		}
	}
}

// The gradient pairLoss feeds to the model equals the finite-difference
// derivative of the BT loss of the model's scores, in float64, for weights
// of every kind (|error| ≤ 1e-6·max(1,|g|), h = 1e-6), with a padded row
// per sequence and with each pair's common first tokens stored once
// (whose loss must equal the padded one's to 1e-12).
func TestPairLossModelFiniteDifferences(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "qwen2", "vocab_size": 64, "hidden_size": 32,
		"intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
		"tie_word_embeddings": true, "initializer_range": 0.02}`))
	if err != nil {
		t.Fatal(err)
	}
	// 3 pairs, ragged: the first two share a prompt of two and one
	// tokens, the third has none (one token in common is kept by each).
	rows := [][]int32{{3, 14, 15, 9}, {5, 35}, {7}, {3, 14, 16}, {5, 36, 2, 7, 1}, {8, 1}}
	margin := []float64{0, 0.3, 0.1}
	// With a one-token sequence the shared layout falls back to rows.
	for _, c := range []struct {
		name  string
		share bool
		rows  [][]int32
	}{{"padded", false, rows}, {"shared", true, [][]int32{rows[0], rows[1], rows[3], rows[4]}}, {"shared, a one-token row", true, rows}} {
		rows, margin := c.rows, margin[:len(c.rows)/2]
		m := model.New(cfg, dev, 5, model.WithScoreHead(1), model.WithDType(tensor.F64))
		w := m.Score.Weight.Val.Buf.([]float64)
		rng := rand.New(rand.NewPCG(8, 9))
		for i := range w {
			w[i] = rng.NormFloat64() * 0.5
		}
		tp := m.NewTape()
		if _, _, _, err := pairLoss(tp, m, rows, margin, 0, c.share, 0.5); err != nil {
			t.Fatal(err)
		}
		tp.Backward()
		loss := func(share bool) float64 {
			tp := m.NewTape()
			tp.NoGrad = true
			defer tp.Reset()
			_, _, l, err := pairLoss(tp, m, rows, margin, 0, share, 1)
			if err != nil {
				t.Fatal(err)
			}
			return 0.5 * l
		}
		if a, b := loss(c.share), loss(false); math.Abs(a-b) > 1e-12 {
			t.Fatalf("%s: loss %.15g, %.15g with a padded row per sequence", c.name, a, b)
		}
		checked := 0
		for _, p := range m.Params() {
			w, g := p.Var.Val.Buf.([]float64), p.Var.Grad.Buf.([]float64)
			for n := 0; n < 3; n++ {
				i := rng.IntN(len(w))
				if strings.Contains(p.Name, "embed_tokens") {
					i = int(rows[rng.IntN(len(rows))][0])*cfg.Hidden + rng.IntN(cfg.Hidden)
				}
				old := w[i]
				w[i] = old + 1e-6
				up := loss(c.share)
				w[i] = old - 1e-6
				down := loss(c.share)
				w[i] = old
				if fd := (up - down) / 2e-6; math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(g[i])) {
					t.Fatalf("%s: %s[%d]: gradient %.10g, finite difference %.10g", c.name, p.Name, i, g[i], fd)
				}
				checked++
			}
		}
		t.Logf("%s: %d weight elements match finite differences", c.name, checked)
	}
}

// separablePairs are preferences the tiny model's world can express: for
// an arithmetic question, a reply that states its answer clearly beats a
// bare number. Rows alternate formats (string prompt, and the whole text
// in chosen/rejected) so that both paths are trained.
func separablePairs(n int, seed uint64) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 7))
	var rows []map[string]any
	for i := 0; i < n; i++ {
		a, b := rng.IntN(50), rng.IntN(50)
		q := fmt.Sprintf("What is %d + %d?", a, b)
		good := fmt.Sprintf(" The answer is %d.", a+b)
		bad := fmt.Sprintf(" %d", a+b+rng.IntN(3)-1)
		rows = append(rows, map[string]any{"prompt": q, "chosen": good, "rejected": bad})
	}
	return rows
}

func writeJSONL(t *testing.T, path string, rows []map[string]any) {
	t.Helper()
	if err := data.WriteJSONLFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

// An RM trained on a separable synthetic preference set reaches > 95%
// held-out pairwise accuracy; the saved model has transformers' sequence
// classification layout and scores with `Scorer` as it did in training.
func TestTrainSeparable(t *testing.T) {
	dir := t.TempDir()
	pairs := filepath.Join(dir, "pairs.jsonl")
	writeJSONL(t, pairs, separablePairs(240, 1))
	c := Default()
	c.Model, c.Data, c.Out = tinyDir, pairs, filepath.Join(dir, "rm")
	c.Optim.LR, c.MicroBatch, c.Steps, c.EvalFraction, c.LogEvery = 1e-3, 8, 30, 0.2, 100
	tr, err := New(c, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Eval) != 48 || len(tr.Train) != 192 {
		t.Fatalf("split %d/%d, want 192/48", len(tr.Train), len(tr.Eval))
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	if err := tr.Evaluate(m); err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out accuracy %.3f, margin %.3f, loss %.3f", m["eval/accuracy"], m["eval/margin"], m["eval/loss"])
	if m["eval/accuracy"] <= 0.95 || m["eval/margin"] <= 0 {
		t.Fatalf("held-out accuracy %.3f margin %.3f, want > 0.95 and > 0", m["eval/accuracy"], m["eval/margin"])
	}
	// The metrics log carries the held-out figures of the last step.
	raw, _ := os.ReadFile(filepath.Join(c.Out, "metrics.jsonl"))
	if !strings.Contains(string(raw), `"eval/accuracy"`) || !strings.Contains(string(raw), `"eval/margin"`) {
		t.Fatalf("metrics.jsonl lacks eval/accuracy or eval/margin")
	}
	if err := tr.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	checkSeqClsLayout(t, c.Out, tr.Model.Config.Layers)
	sc, err := rmreward.LoadScorer(c.Out, dev)
	if err != nil {
		t.Fatal(err)
	}
	sc.Batch = 5
	var texts []string
	for _, p := range tr.Eval[:10] {
		texts = append(texts, sc.Tok.Decode(p.Chosen, false), sc.Tok.Decode(p.Rejected, false))
	}
	got, err := sc.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := rmreward.ScoreIDs(tr.Model, func() (r [][]int32) {
		for _, p := range tr.Eval[:10] {
			r = append(r, p.Chosen, p.Rejected)
		}
		return r
	}(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		// The saved weights are the run's dtype (bf16 for the tiny model).
		if math.Abs(got[i]-want[i]) > 0.05*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("text %d: saved model scores %v, trained model %v", i, got[i], want[i])
		}
	}
}

// seqClsFixture is the layout transformers writes for
// Qwen2ForSequenceClassification(num_labels=1).save_pretrained
// (testdata/qwen2_seqcls_layout.json, transcribed from
// modeling_qwen2.py and configuration_utils.py).
type seqClsFixture struct {
	Architectures []string          `json:"architectures"`
	ID2Label      map[string]string `json:"id2label"`
	Label2ID      map[string]int    `json:"label2id"`
	ConfigKeys    []string          `json:"config_keys_required"`
	Tensors       []string          `json:"tensors"`
	LayerTensors  []string          `json:"layer_tensors"`
	Absent        []string          `json:"tensors_absent"`
	ScoreShape    []string          `json:"score_shape"`
}

func checkSeqClsLayout(t *testing.T, dir string, layers int) {
	t.Helper()
	var fx seqClsFixture
	raw, err := os.ReadFile("testdata/qwen2_seqcls_layout.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	raw, err = os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg["architectures"]) != fmt.Sprint(fx.Architectures) {
		t.Errorf("architectures %v, want %v", cfg["architectures"], fx.Architectures)
	}
	if fmt.Sprint(cfg["id2label"]) != fmt.Sprint(fx.ID2Label) || fmt.Sprint(cfg["label2id"]) != fmt.Sprint(map[string]float64{"LABEL_0": 0}) {
		t.Errorf("id2label %v label2id %v, want %v %v", cfg["id2label"], cfg["label2id"], fx.ID2Label, fx.Label2ID)
	}
	for _, k := range fx.ConfigKeys {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config.json lacks %q", k)
		}
	}
	want := append([]string(nil), fx.Tensors...)
	for i := 0; i < layers; i++ {
		for _, n := range fx.LayerTensors {
			want = append(want, strings.ReplaceAll(n, "{i}", fmt.Sprint(i)))
		}
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	names := st.Names()
	sort.Strings(names)
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("tensors %v\nwant %v", names, want)
	}
	for _, n := range fx.Absent {
		if slices.Contains(names, n) {
			t.Errorf("tensor %q present", n)
		}
	}
	s, _ := st.Tensor("score.weight")
	if len(s.Shape) != 2 || s.Shape[0] != 1 || s.Shape[1] != int(cfg["hidden_size"].(float64)) {
		t.Errorf("score.weight shape %v, want [num_labels=1, hidden_size]", s.Shape)
	}
}

// Bad rows stop the run with file, line and field unless skipped.
func TestNewReportsBadRows(t *testing.T) {
	dir := t.TempDir()
	pairs := filepath.Join(dir, "pairs.jsonl")
	rows := separablePairs(6, 2)
	rows = append(rows[:3], append([]map[string]any{{"prompt": "q", "chosen": "x"}}, rows[3:]...)...)
	writeJSONL(t, pairs, rows)
	c := Default()
	c.Model, c.Data, c.Out = tinyDir, pairs, filepath.Join(dir, "rm")
	if _, err := New(c, dev); err == nil || !strings.Contains(err.Error(), pairs+`:4: field "rejected": missing`) {
		t.Fatalf("error %v, want line 4's field named", err)
	}
	c.SkipBadRows = true
	tr, err := New(c, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Bad) != 1 || len(tr.Train)+len(tr.Eval) != 6 {
		t.Fatalf("%d bad, %d pairs", len(tr.Bad), len(tr.Train)+len(tr.Eval))
	}
}

// metricsOf is testmodel.Metrics: metrics.jsonl without its timing fields.
func metricsOf(t *testing.T, out string) []string {
	t.Helper()
	recs, err := testmodel.Metrics(out)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// A run stopped after 3 steps and resumed continues exactly: the same
// metrics (held-out ones every 3 steps, where both runs stop) and final
// weights as an uninterrupted 6-step run.
func TestResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	pairs := filepath.Join(dir, "pairs.jsonl")
	writeJSONL(t, pairs, separablePairs(60, 4))
	full := Default()
	full.Model, full.Data, full.Out = tinyDir, pairs, filepath.Join(dir, "full")
	full.Optim.LR, full.MicroBatch, full.Accumulation, full.Steps, full.EvalEvery, full.LogEvery = 1e-3, 2, 2, 6, 3, 100
	run := func(c Config, resume bool) {
		tr, err := New(c, dev)
		if err != nil {
			t.Fatal(err)
		}
		if resume {
			if ok, err := tr.Resume(); err != nil || !ok || tr.StepsDone() != 3 {
				t.Fatalf("resume: %v %v %d", ok, err, tr.StepsDone())
			}
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	run(full, false)
	part := full
	part.Out, part.Steps, part.Schedule.Total = filepath.Join(dir, "part"), 3, 6
	run(part, false)
	part.Steps = 6
	run(part, true)
	a, b := metricsOf(t, full.Out), metricsOf(t, part.Out)
	if len(a) != 6 || !slices.Equal(a, b) {
		t.Fatalf("metrics differ:\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	wa, _ := os.ReadFile(filepath.Join(full.Out, "checkpoints", "step-6", "model.safetensors"))
	wb, _ := os.ReadFile(filepath.Join(part.Out, "checkpoints", "step-6", "model.safetensors"))
	if len(wa) == 0 || string(wa) != string(wb) {
		t.Fatal("final weights differ")
	}
}
