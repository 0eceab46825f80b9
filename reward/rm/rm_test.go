package rm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/tensor"
)

// randomRM writes a reward model with random weights on the tiny model's
// architecture and tokenizer: scores depend on every token it reads.
func randomRM(t *testing.T) string {
	t.Helper()
	tiny := filepath.Join("..", "..", "assets", "tiny")
	cfg, err := model.LoadConfig(tiny)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers = 2
	m := model.New(cfg, cpu.New(), 3, model.WithScoreHead(1))
	dir := t.TempDir()
	if err := m.Save(dir, tensor.F32); err != nil {
		t.Fatal(err)
	}
	if err := model.CopyTokenizerFiles(tiny, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScopes(t *testing.T) {
	dir := randomRM(t)
	full, err := reward.New("rm", map[string]any{"model": dir})
	if err != nil {
		t.Fatal(err)
	}
	summary, err := reward.New("rm", map[string]any{"model": dir, "scope": "summary"})
	if err != nil {
		t.Fatal(err)
	}
	prompt := "User: What is 12 + 30? Assistant: <think>"
	samples := []reward.Sample{
		{Prompt: prompt, Completion: " 12 + 30 = 42 </think> <answer>42</answer>"},
		{Prompt: prompt, Completion: " add tens: 10 + 30 = 40, then 2 more is 42 </think> <answer>42</answer>"},
		{Prompt: prompt, Completion: " 12 + 30 = 42 </think> <answer>43</answer>"},
	}
	score := func(f reward.Func) []float64 {
		sc, err := f.(reward.BatchFunc).ScoreBatch(context.Background(), samples)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(sc))
		for i, s := range sc {
			v[i] = s.Value
		}
		return v
	}
	f, s := score(full), score(summary)
	t.Logf("full %v, summary %v", f, s)
	// Samples 0 and 1 differ only in their reasoning.
	if s[0] != s[1] {
		t.Errorf("scope summary: reasoning changed the score: %v vs %v", s[0], s[1])
	}
	if f[0] == f[1] {
		t.Errorf("scope full: different reasoning, same score %v", f[0])
	}
	// Samples 0 and 2 differ in the summary: both scopes see it.
	if s[0] == s[2] || f[0] == f[2] {
		t.Errorf("a different summary left a score unchanged: full %v %v, summary %v %v", f[0], f[2], s[0], s[2])
	}
	// One sample alone scores as in the batch.
	one, err := summary.Score(context.Background(), samples[2])
	if err != nil || math.Abs(one.Value-s[2]) > 1e-6 || one.Parts["raw"] != one.Value {
		t.Errorf("alone %v (%v), in the batch %v", one, err, s[2])
	}
}

func TestNormalize(t *testing.T) {
	dir := randomRM(t)
	var samples []reward.Sample
	for _, c := range []string{"a", "bb", "the answer is 7", "12", "<answer>3</answer>", "x y z"} {
		samples = append(samples, reward.Sample{Prompt: "Q: ", Completion: c})
	}
	raw, _ := New(map[string]any{"model": dir})
	wh, _ := New(map[string]any{"model": dir, "normalize": "whiten"})
	cl, err := New(map[string]any{"model": dir, "normalize": "whiten", "clip": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := raw.ScoreBatch(context.Background(), samples)
	w, _ := wh.ScoreBatch(context.Background(), samples)
	c, _ := cl.ScoreBatch(context.Background(), samples)
	var mean, sq float64
	for i := range w {
		mean += w[i].Value / float64(len(w))
		sq += w[i].Value * w[i].Value / float64(len(w))
		if w[i].Parts["raw"] != r[i].Value {
			t.Errorf("sample %d: raw part %v, unnormalised score %v", i, w[i].Parts["raw"], r[i].Value)
		}
		if want := math.Max(-0.5, math.Min(0.5, w[i].Value)); c[i].Value != want {
			t.Errorf("sample %d: clipped %v, want %v", i, c[i].Value, want)
		}
	}
	if math.Abs(mean) > 1e-9 || math.Abs(sq-1) > 1e-9 {
		t.Errorf("whitened mean %v, mean square %v; want 0 and 1", mean, sq)
	}
	v := []float64{2, 2, 2}
	Whiten(v)
	if v[0] != 0 || v[2] != 0 {
		t.Errorf("equal scores whiten to %v, want 0s", v)
	}
}

func TestParams(t *testing.T) {
	dir := randomRM(t)
	for _, c := range []struct {
		p    map[string]any
		want string
	}{
		{map[string]any{}, `"model": required`},
		{map[string]any{"model": dir, "scope": "think"}, `"scope"`},
		{map[string]any{"model": dir, "normalize": "zscore"}, `"normalize"`},
		{map[string]any{"model": dir, "clip": -1}, `"clip"`},
		{map[string]any{"model": dir, "scop": "full"}, "unknown param"},
		{map[string]any{"model": filepath.Join("..", "..", "assets", "tiny")}, "not a reward model"},
	} {
		if _, err := New(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.p, err, c.want)
		}
	}
}

// TestSharedScoresAreEachRowsAlone checks ScoreIDs' shared layout against
// each row scored alone (its own forward pass): groups of samples of one
// prompt, prompts that share only their first tokens, a row that is
// another's prefix, duplicates, rows unlike any other, in an order the
// sorting must undo, over batch sizes that cut groups apart. Tolerance
// 1e-5 relative (float32 sums in other orders); a batch with a one-token
// row takes the padded path.
func TestSharedScoresAreEachRowsAlone(t *testing.T) {
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "assets", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers = 2
	m := model.New(cfg, cpu.New(), 3, model.WithScoreHead(1))
	rng := rand.New(rand.NewPCG(7, 8))
	ids := func(n int) []int32 { return randomIDs(rng, n, cfg.VocabSize) }
	template := ids(6)
	var rows [][]int32
	for p := 0; p < 3; p++ {
		prompt := append(slices.Clone(template), ids(20+10*p)...)
		for s := 0; s < 5; s++ {
			rows = append(rows, append(slices.Clone(prompt), ids(1+rng.IntN(30))...))
		}
	}
	rows = append(rows, ids(2), ids(40), slices.Clone(rows[3]), rows[7][:len(rows[7])-3], template[:3])
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	alone := make([]float64, len(rows))
	for i, r := range rows {
		v, err := paddedScores(m, [][]int32{r}, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = v[0]
	}
	check := func(name string, got []float64) {
		t.Helper()
		for i := range rows {
			if d := math.Abs(got[i] - alone[i]); d > 1e-5*math.Max(1, math.Abs(alone[i])) {
				t.Fatalf("%s: row %d (%d tokens): %v, alone %v", name, i, len(rows[i]), got[i], alone[i])
			}
		}
	}
	for _, batch := range []int{1, 4, 7, len(rows)} {
		got, err := ScoreIDs(m, rows, 0, batch)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("batch %d", batch), got)
	}
	withShort := append(slices.Clone(rows), ids(1))
	got, err := ScoreIDs(m, withShort, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	check("with a one-token row", got[:len(rows)])
	// The shared layout is really used: a group's rows share a prefix.
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, slices.Compare)
	pl := shareGroups(sorted)
	shared := 0
	for _, p := range pl {
		if p >= 20 {
			shared++
		}
	}
	if shared < 15 {
		t.Fatalf("only %d rows share a prefix of ≥ 19 tokens (promptLen %v)", shared, pl)
	}
}
