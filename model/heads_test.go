package model

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// hiddenOf returns the final hidden states of b on the host, (B·T·C).
func hiddenOf(t *testing.T, m *Model, b Batch) []float32 {
	t.Helper()
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	defer tp.Reset()
	h, err := m.Hidden(tp, b)
	if err != nil {
		t.Fatal(err)
	}
	return dev.Download(h.Val)
}

// dot64 is Σ a·b in float64.
func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// randomize overwrites a weight with N(0, scale) values (biases start at
// 0, which would hide a missing bias).
func randomize(m *Model, l *Linear, rng *rand.Rand, scale float64) {
	for _, v := range []*autograd.Var{l.Weight, l.Bias} {
		if v == nil {
			continue
		}
		vals := make([]float32, v.Val.Numel())
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * scale)
		}
		m.setParam(autograd.Param{Var: v}, vals)
	}
}

// mixedPadding is a batch with left padding (NewBatch), one row padded on
// the right and one row of length 1, so the score head's pooling must
// follow the mask, not the last column.
func mixedPadding() Batch {
	b := NewBatch([][]int32{{3, 14, 15, 9, 26}, {5, 35}, {8}}, 0)
	b.IDs = append(b.IDs, 42, 7, 11, 0, 0)
	b.Mask = append(b.Mask, 1, 1, 1, 0, 0)
	b.B++
	return b
}

// The score head is score.weight times the hidden state of each row's last
// real token: checked against that product computed on the host in
// float64, and against each row scored alone without padding.
func TestScoresMatchHostReference(t *testing.T) {
	for _, mt := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(mt, func(t *testing.T) {
			m := New(tinyConfig(t, mt), dev, 11, WithScoreHead(3))
			if m.LMHead != nil || m.Score == nil || m.Score.Out() != 3 {
				t.Fatalf("heads: %s", m.describeHeads())
			}
			randomize(m, m.Score, rand.New(rand.NewPCG(1, 2)), 0.5)
			b := mixedPadding()
			tp := autograd.NewTape(dev)
			tp.NoGrad = true
			s, err := m.Scores(tp, b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Shape(), []int{b.B, 3}) {
				t.Fatalf("scores shape %v, want [%d 3]", s.Shape(), b.B)
			}
			got := dev.Download(s.Val)
			h := hiddenOf(t, m, b)
			w := dev.Download(m.Score.Weight.Val)
			c := m.Config.Hidden
			last := []int{4, 4, 4, 2} // left padding ends at T−1; the right-padded row at its 3rd token
			for i, j := range last {
				row := h[(i*b.T+j)*c : (i*b.T+j+1)*c]
				for l := 0; l < 3; l++ {
					want := dot64(row, w[l*c:(l+1)*c])
					if g := float64(got[i*3+l]); math.Abs(g-want) > 1e-5*math.Max(1, math.Abs(want)) {
						t.Fatalf("score[%d,%d] = %v, host reference %v", i, l, g, want)
					}
				}
			}
			// Padding does not change a row's score.
			for i, row := range [][]int32{{3, 14, 15, 9, 26}, {5, 35}, {8}, {42, 7, 11}} {
				tp := autograd.NewTape(dev)
				tp.NoGrad = true
				alone, err := m.Scores(tp, NewBatch([][]int32{row}, 0))
				if err != nil {
					t.Fatal(err)
				}
				for l, a := range dev.Download(alone.Val) {
					if math.Abs(float64(a-got[i*3+l])) > 1e-5 {
						t.Fatalf("row %d label %d: %v in the padded batch, %v alone", i, l, got[i*3+l], a)
					}
				}
			}
		})
	}
}

// The value head is v_head.summary: h·w + b at every position.
func TestValuesMatchHostReference(t *testing.T) {
	for _, mt := range []string{"llama", "qwen3"} {
		t.Run(mt, func(t *testing.T) {
			m := New(tinyConfig(t, mt), dev, 12, WithValueHead())
			if m.LMHead == nil || m.Value == nil {
				t.Fatalf("heads: %s", m.describeHeads())
			}
			randomize(m, m.Value, rand.New(rand.NewPCG(3, 4)), 0.5)
			b := mixedPadding()
			tp := autograd.NewTape(dev)
			tp.NoGrad = true
			v, err := m.Values(tp, b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.Shape(), []int{b.B, b.T}) {
				t.Fatalf("values shape %v, want [%d %d]", v.Shape(), b.B, b.T)
			}
			got := dev.Download(v.Val)
			h := hiddenOf(t, m, b)
			w := dev.Download(m.Value.Weight.Val)
			bias := float64(dev.Download(m.Value.Bias.Val)[0])
			c := m.Config.Hidden
			for k := range got {
				want := dot64(h[k*c:(k+1)*c], w) + bias
				if math.Abs(float64(got[k])-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("value[%d] = %v, host reference %v", k, got[k], want)
				}
			}
		})
	}
}

// f64Weights returns the host storage of a weight of an F64 model.
func f64Weights(v *autograd.Var) []float64 { return v.Val.Buf.([]float64) }

// The heads' gradients flow into the decoder: an F64 model (WithDType)
// with a value head, scored PPO-style from one Hidden pass (token log-probs
// and values), and an F64 reward model, are checked against central finite
// differences of L = Σ r·outputs on sampled weights of every kind.
func TestHeadGradientsFiniteDifferences(t *testing.T) {
	b := NewBatch([][]int32{{3, 14, 15, 9}, {5, 35}}, 0)
	target := NextTokenTargets(b)
	cases := []struct {
		name string
		opts []Option
		run  func(tp *autograd.Tape, m *Model) []*autograd.Var
	}{
		{"policy+value", []Option{WithValueHead()}, func(tp *autograd.Tape, m *Model) []*autograd.Var {
			h, err := m.Hidden(tp, b)
			if err != nil {
				t.Fatal(err)
			}
			logp, _, err := m.TokenLogProbsOf(tp, h, target)
			if err != nil {
				t.Fatal(err)
			}
			v, err := m.ValuesOf(tp, h)
			if err != nil {
				t.Fatal(err)
			}
			return []*autograd.Var{logp, v}
		}},
		{"reward", []Option{WithScoreHead(1)}, func(tp *autograd.Tape, m *Model) []*autograd.Var {
			s, err := m.Scores(tp, b)
			if err != nil {
				t.Fatal(err)
			}
			return []*autograd.Var{s}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t, "qwen2")
			cfg.Layers = 1
			m := New(cfg, dev, 5, append(tc.opts, WithDType(tensor.F64))...)
			rng := rand.New(rand.NewPCG(8, 9))
			for _, l := range []*Linear{m.Value, m.Score} {
				if l != nil {
					randomize(m, l, rng, 0.5)
				}
			}
			if m.DType != tensor.F64 || m.Embed.Val.DType != tensor.F64 {
				t.Fatalf("dtype %v, embeddings %v", m.DType, m.Embed.Val.DType)
			}
			newTape := func() *autograd.Tape {
				tp := m.NewTape()
				if tp.DType != tensor.F64 {
					t.Fatalf("NewTape dtype %v", tp.DType)
				}
				return tp
			}
			tp := newTape()
			outs := tc.run(tp, m)
			seeds := make([][]float32, len(outs))
			for k, o := range outs {
				seeds[k] = make([]float32, o.Val.Numel())
				for i := range seeds[k] {
					seeds[k][i] = float32(rng.NormFloat64())
				}
				tp.SetGrad(o, seeds[k])
			}
			tp.Backward()
			loss := func() float64 {
				tp := newTape()
				tp.NoGrad = true
				defer tp.Reset()
				var l float64
				for k, o := range tc.run(tp, m) {
					for i, v := range o.Val.Buf.([]float64) {
						l += float64(seeds[k][i]) * v
					}
				}
				return l
			}
			checked := 0
			for _, p := range m.Params() {
				w, g := f64Weights(p.Var), p.Var.Grad.Buf.([]float64)
				for n := 0; n < 3; n++ {
					i := rng.IntN(len(w))
					if strings.Contains(p.Name, "embed_tokens") {
						i = int(b.IDs[rng.IntN(len(b.IDs))])*cfg.Hidden + rng.IntN(cfg.Hidden) // a row that is used
					}
					old := w[i]
					w[i] = old + 1e-6
					up := loss()
					w[i] = old - 1e-6
					down := loss()
					w[i] = old
					fd := (up - down) / 2e-6
					if math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(g[i])) {
						t.Fatalf("%s[%d]: gradient %.10g, finite difference %.10g", p.Name, i, g[i], fd)
					}
					checked++
				}
			}
			t.Logf("%d weight elements of %d tensors match finite differences", checked, len(m.Params()))
		})
	}
}

// Heads round-trip through Save and Load: a reward model as
// *ForSequenceClassification (score.weight, id2label, no lm_head), a policy
// with TRL's value head (v_head.summary.* next to the LM weights, config
// unchanged), both with identical outputs after reloading.
func TestSaveLoadHeads(t *testing.T) {
	b := mixedPadding()
	t.Run("score", func(t *testing.T) {
		m := New(tinyConfig(t, "qwen2"), dev, 13, WithScoreHead(1))
		dir := t.TempDir()
		if err := m.Save(dir, tensor.F32); err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(cfg["architectures"]) != "[Qwen2ForSequenceClassification]" || fmt.Sprint(cfg["id2label"]) != "map[0:LABEL_0]" {
			t.Fatalf("config.json architectures %v, id2label %v", cfg["architectures"], cfg["id2label"])
		}
		names := tensorNames(t, dir)
		if !slices.Contains(names, "score.weight") || slices.Contains(names, "lm_head.weight") {
			t.Fatalf("saved tensors %v", names)
		}
		m2, err := Load(dir, dev)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Score == nil || m2.LMHead != nil || m2.Config.NumLabels != 1 || len(m2.Initialized) != 0 {
			t.Fatalf("reloaded: %s, %d labels, initialized %v", m2.describeHeads(), m2.Config.NumLabels, m2.Initialized)
		}
		if !slices.Equal(paramNames(m), paramNames(m2)) {
			t.Fatalf("params %v, reloaded %v", paramNames(m), paramNames(m2))
		}
		s1, s2 := scoresOf(t, m, b), scoresOf(t, m2, b)
		if !slices.Equal(s1, s2) {
			t.Fatalf("scores %v before save, %v after", s1, s2)
		}
		tp := autograd.NewTape(dev)
		if _, err := m2.Logits(tp, b); err == nil || !strings.Contains(err.Error(), "LM head") {
			t.Fatalf("Logits of a reward model: %v", err)
		}
		if _, err := m2.Forward(&Step{}, nil); err == nil || !strings.Contains(err.Error(), "LM head") {
			t.Fatalf("Forward of a reward model: %v", err)
		}
	})
	t.Run("value", func(t *testing.T) {
		m := New(tinyConfig(t, "llama"), dev, 14, WithValueHead())
		randomize(m, m.Value, rand.New(rand.NewPCG(5, 6)), 0.5)
		dir := t.TempDir()
		if err := m.Save(dir, tensor.F32); err != nil {
			t.Fatal(err)
		}
		names := tensorNames(t, dir)
		if !slices.Contains(names, "v_head.summary.weight") || !slices.Contains(names, "v_head.summary.bias") {
			t.Fatalf("saved tensors %v", names)
		}
		m2, err := Load(dir, dev) // the checkpoint's v_head is enough
		if err != nil {
			t.Fatal(err)
		}
		if m2.Value == nil || m2.LMHead == nil || m2.Config.ScoreHead() {
			t.Fatalf("reloaded: %s", m2.describeHeads())
		}
		n := paramNames(m2)
		if !slices.Equal(n[len(n)-2:], []string{"v_head.summary.weight", "v_head.summary.bias"}) || !slices.Equal(n, paramNames(m)) {
			t.Fatalf("params %v", n)
		}
		if !slices.Equal(valuesOf(t, m, b), valuesOf(t, m2, b)) || !slices.Equal(logitsOf(t, m, b), logitsOf(t, m2, b)) {
			t.Fatal("values or logits changed on reload")
		}
	})
}

// Loading a causal LM with a head option adds the head the way
// transformers and TRL do: the new weights initialized (and listed), an
// untied lm_head ignored by a reward model, the decoder untouched.
func TestLoadWithHeadOptions(t *testing.T) {
	dir := filepath.Join("testdata", "llama3") // untied lm_head
	base, err := Load(dir, dev)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := Load(dir, dev, WithScoreHead(1))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.Initialized, []string{"score.weight"}) || !slices.Contains(rm.Ignored, "lm_head.weight") || rm.LMHead != nil {
		t.Fatalf("reward model: initialized %v, ignored %v, %s", rm.Initialized, rm.Ignored, rm.describeHeads())
	}
	b := NewBatch([][]int32{{1, 5, 9, 3}, {7, 2}}, 0)
	if !slices.Equal(hiddenOf(t, base, b), hiddenOf(t, rm, b)) {
		t.Fatal("hidden states differ between the causal LM and the reward model built on it")
	}
	pv, err := Load(dir, dev, WithValueHead())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pv.Initialized, []string{"v_head.summary.weight", "v_head.summary.bias"}) {
		t.Fatalf("value model initialized %v", pv.Initialized)
	}
	if !slices.Equal(logitsOf(t, base, b), logitsOf(t, pv, b)) {
		t.Fatal("a value head changed the logits")
	}
	for _, n := range []int{0, -1} {
		if _, err := Load(dir, dev, WithScoreHead(n)); err == nil {
			t.Fatalf("WithScoreHead(%d) loaded", n)
		}
	}
}

func TestParseConfigHeads(t *testing.T) {
	base := `"model_type": "qwen2", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4`
	cases := []struct {
		extra  string
		score  bool
		labels int
	}{
		{``, false, 2},
		{`, "architectures": ["Qwen2ForCausalLM"]`, false, 2},
		{`, "architectures": ["Qwen2ForSequenceClassification"], "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}`, true, 1},
		{`, "architectures": ["LlamaForSequenceClassification"], "num_labels": 3`, true, 3},
		{`, "architectures": ["Qwen2ForSequenceClassification"]`, true, 2},
	}
	for _, c := range cases {
		cfg, err := ParseConfig([]byte("{" + base + c.extra + "}"))
		if err != nil {
			t.Fatalf("%s: %v", c.extra, err)
		}
		if cfg.ScoreHead() != c.score || cfg.NumLabels != c.labels {
			t.Errorf("%s: score head %v with %d labels, want %v with %d", c.extra, cfg.ScoreHead(), cfg.NumLabels, c.score, c.labels)
		}
		out, _ := cfg.MarshalJSON()
		if strings.Contains(string(out), "id2label") != c.score {
			t.Errorf("%s: written config %s", c.extra, out)
		}
	}
	if _, err := ParseConfig([]byte("{" + base + `, "architectures": ["Qwen2ForSequenceClassification"], "num_labels": 0}`)); err == nil {
		t.Error("num_labels 0 accepted for a sequence classifier")
	}
}

// Params keep the HF names in the order optimizer state and checkpoints
// were written in before Linear existed.
func TestParamsOrder(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16,
		"num_hidden_layers": 1, "num_attention_heads": 2, "attention_bias": true, "mlp_bias": true}`))
	if err != nil {
		t.Fatal(err)
	}
	l := "model.layers.0."
	want := []string{"model.embed_tokens.weight", l + "input_layernorm.weight",
		l + "self_attn.q_proj.weight", l + "self_attn.k_proj.weight", l + "self_attn.v_proj.weight", l + "self_attn.o_proj.weight",
		l + "self_attn.q_proj.bias", l + "self_attn.k_proj.bias", l + "self_attn.v_proj.bias", l + "self_attn.o_proj.bias",
		l + "post_attention_layernorm.weight", l + "mlp.gate_proj.weight", l + "mlp.up_proj.weight", l + "mlp.down_proj.weight",
		l + "mlp.gate_proj.bias", l + "mlp.up_proj.bias", l + "mlp.down_proj.bias", "model.norm.weight", "lm_head.weight"}
	if got := paramNames(New(cfg, dev, 1)); !slices.Equal(got, want) {
		t.Errorf("llama with biases:\n got %v\nwant %v", got, want)
	}
	cfg, err = ParseConfig([]byte(`{"model_type": "qwen3", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16,
		"num_hidden_layers": 1, "num_attention_heads": 2, "tie_word_embeddings": true}`))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"model.embed_tokens.weight", l + "input_layernorm.weight",
		l + "self_attn.q_proj.weight", l + "self_attn.k_proj.weight", l + "self_attn.v_proj.weight", l + "self_attn.o_proj.weight",
		l + "self_attn.q_norm.weight", l + "self_attn.k_norm.weight",
		l + "post_attention_layernorm.weight", l + "mlp.gate_proj.weight", l + "mlp.up_proj.weight", l + "mlp.down_proj.weight",
		"model.norm.weight", "v_head.summary.weight", "v_head.summary.bias"}
	m := New(cfg, dev, 1, WithValueHead())
	if got := paramNames(m); !slices.Equal(got, want) {
		t.Errorf("tied qwen3 with a value head:\n got %v\nwant %v", got, want)
	}
	if m.LMHead.Weight != m.Embed {
		t.Error("tied lm_head is not the embedding")
	}
}

// The dtype comes from the backend (F32 on the CPU) unless WithDType says
// otherwise, and covers the weights, the KV cache and NewTape's tapes.
func TestDType(t *testing.T) {
	m := New(tinyConfig(t, "qwen2"), dev, 1)
	if m.DType != dev.ComputeDType() || m.DType != tensor.F32 || m.NewTape().DType != tensor.F32 {
		t.Fatalf("default dtype %v (backend %v)", m.DType, dev.ComputeDType())
	}
	m16 := New(tinyConfig(t, "qwen2"), dev, 1, WithDType(tensor.BF16))
	for _, p := range m16.Params() {
		if p.Var.Val.DType != tensor.BF16 {
			t.Fatalf("%s is %v", p.Name, p.Var.Val.DType)
		}
	}
	if c := m16.NewKVCache(2, 4, m16.DType); c.K[0].DType != tensor.BF16 || c.V[1].DType != tensor.BF16 {
		t.Fatalf("cache %v", c.K[0])
	}
	// BF16 storage holds m's weights rounded: what Save(BF16) writes.
	dir := t.TempDir()
	if err := m.Save(dir, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	for i, p := range m16.Params() {
		want := dev.Download(m.Params()[i].Var.Val)
		for j, v := range dev.Download(p.Var.Val) {
			if r := tensor.BF16ToF32(tensor.F32ToBF16(want[j])); v != r {
				t.Fatalf("%s[%d] = %v, want bf16(%v) = %v", p.Name, j, v, want[j], r)
			}
		}
	}
	mb, err := Load(dir, dev, WithDType(tensor.BF16))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range mb.Params() {
		if !slices.Equal(dev.Download(p.Var.Val), dev.Download(m16.Params()[i].Var.Val)) {
			t.Fatalf("%s differs after a BF16 round trip", p.Name)
		}
	}
}

// The paged inference step and the padded batch run the same decoder: two
// sequences prefilled in one flattened step, then decoded token by token,
// see the logits of the full batch at every position.
func TestForwardMatchesLogits(t *testing.T) {
	for _, mt := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(mt, func(t *testing.T) {
			m := New(tinyConfig(t, mt), dev, 21)
			seqs := [][]int32{{4, 8, 15, 16, 23, 42, 7}, {1, 2, 3, 5, 8}}
			full := logitsOf(t, m, NewBatch(seqs, 0))
			b := NewBatch(seqs, 0)
			v := m.Config.VocabSize
			const bs, prompt = 4, 3
			cache := m.NewKVCache(8, bs, m.DType)
			defer cache.Free(dev)
			table := []int32{0, 1, 2, 3, 4, 5, 6, 7} // sequence s owns blocks 4s…4s+3
			check := func(logits *tensor.Tensor, tokens [][2]int) {
				got := dev.Download(logits)
				dev.Free(logits)
				for r, st := range tokens {
					s, pos := st[0], st[1]
					col := b.T - len(seqs[s]) + pos // left padding
					want := full[(s*b.T+col)*v : (s*b.T+col+1)*v]
					for k := 0; k < v; k++ {
						if d := math.Abs(float64(got[r*v+k] - want[k])); d > 1e-4 {
							t.Fatalf("sequence %d position %d logit %d: step %v, batch %v", s, pos, k, got[r*v+k], want[k])
						}
					}
				}
			}
			add := func(st *Step, s, pos int) {
				st.IDs = append(st.IDs, seqs[s][pos])
				st.Positions = append(st.Positions, int32(pos))
				st.Slots = append(st.Slots, int32((4*s+pos/bs)*bs+pos%bs))
				st.SeqIdx = append(st.SeqIdx, int32(s))
			}
			st := &Step{BlockTable: table, MaxBlocks: 4}
			var rows [][2]int
			for s := range seqs {
				for pos := 0; pos < prompt; pos++ {
					st.Rows = append(st.Rows, int32(len(st.IDs)))
					rows = append(rows, [2]int{s, pos})
					add(st, s, pos)
				}
			}
			logits, err := m.Forward(st, cache)
			if err != nil {
				t.Fatal(err)
			}
			check(logits, rows)
			for pos := prompt; pos < len(seqs[0]); pos++ {
				st := &Step{BlockTable: table, MaxBlocks: 4}
				rows = rows[:0]
				for s := range seqs {
					if pos < len(seqs[s]) {
						st.Rows = append(st.Rows, int32(len(st.IDs)))
						rows = append(rows, [2]int{s, pos})
						add(st, s, pos)
					}
				}
				logits, err := m.Forward(st, cache)
				if err != nil {
					t.Fatal(err)
				}
				check(logits, rows)
			}
		})
	}
}

func paramNames(m *Model) []string {
	var n []string
	for _, p := range m.Params() {
		n = append(n, p.Name)
	}
	return n
}

func tensorNames(t *testing.T, dir string) []string {
	t.Helper()
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Names()
}

func scoresOf(t *testing.T, m *Model, b Batch) []float32 {
	t.Helper()
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	s, err := m.Scores(tp, b)
	if err != nil {
		t.Fatal(err)
	}
	return dev.Download(s.Val)
}

func valuesOf(t *testing.T, m *Model, b Batch) []float32 {
	t.Helper()
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	v, err := m.Values(tp, b)
	if err != nil {
		t.Fatal(err)
	}
	return dev.Download(v.Val)
}

// The heads' forward and backward passes leave nothing behind after Reset
// but the weights, their gradients and the RoPE tables.
func TestHeadLifetimes(t *testing.T) {
	for _, opt := range []Option{WithScoreHead(2), WithValueHead()} {
		mc := memcheck.Wrap(cpu.New())
		m := New(tinyConfig(t, "qwen3"), mc, 4, opt)
		b := mixedPadding()
		tp := m.NewTape()
		var out *autograd.Var
		var err error
		if m.Score != nil {
			out, err = m.Scores(tp, b)
		} else {
			out, err = m.Values(tp, b)
		}
		if err != nil {
			t.Fatal(err)
		}
		tp.SetGrad(out, make([]float32, out.Val.Numel()))
		tp.Backward()
		tp.Reset()
		var want int64
		for _, p := range m.Params() {
			want += p.Var.Val.Bytes()
			if p.Var.Grad != nil {
				want += p.Var.Grad.Bytes()
			}
		}
		want += m.cos.Bytes() + m.sin.Bytes()
		if st := mc.Stats(); st.LiveBytes != want || tp.Owned() != 0 {
			t.Fatalf("%s: live %d B after Reset, want %d; live sites:\n%q", m.describeHeads(), st.LiveBytes, want, mc.LiveSites())
		}
		if errs := mc.Errors(); len(errs) > 0 {
			t.Fatalf("misuse recorded: %q", errs)
		}
	}
}
