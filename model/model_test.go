package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/tensor"
)

var dev = cpu.New()

type reference struct {
	InputIDs      [][]int32     `json:"input_ids"`
	AttentionMask [][]int32     `json:"attention_mask"`
	PositionIDs   [][]int32     `json:"position_ids"`
	Logits        [][][]float64 `json:"logits"`
	Loss          float64       `json:"loss"`
}

func readReference(t *testing.T, dir string) reference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r reference) batch() Batch {
	b := Batch{B: len(r.InputIDs), T: len(r.InputIDs[0])}
	for i := range r.InputIDs {
		b.IDs = append(b.IDs, r.InputIDs[i]...)
		b.Mask = append(b.Mask, r.AttentionMask[i]...)
		b.Positions = append(b.Positions, r.PositionIDs[i]...)
	}
	return b
}

// close reports |got−want| ≤ 1e-4·max(1,|want|): the stated tolerance
// against the PyTorch reference (testdata/README.md).
func close(got, want float64) bool { return math.Abs(got-want) <= 1e-4*math.Max(1, math.Abs(want)) }

// TestLogitsMatchReference checks full-model logits of small random Qwen2
// (biases, GQA, tied), Llama-3 (llama3 RoPE scaling, untied), Qwen3 (q/k norm,
// explicit head_dim, transformers v5 config) and a BF16 checkpoint against an
// independent PyTorch implementation (testdata/make_reference.py), on a
// batch with left padding, at every real position.
func TestLogitsMatchReference(t *testing.T) {
	for _, name := range []string{"qwen2", "llama3", "qwen3", "qwen2_bf16"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			m, err := Load(dir, dev)
			if err != nil {
				t.Fatal(err)
			}
			ref := readReference(t, dir)
			b := ref.batch()
			tp := autograd.NewTape(dev)
			tp.NoGrad = true
			logits, err := m.Logits(tp, b)
			if err != nil {
				t.Fatal(err)
			}
			got := dev.Download(logits.Val)
			v := m.Config.VocabSize
			checked, worst := 0, 0.0
			for i := 0; i < b.B; i++ {
				for j := 0; j < b.T; j++ {
					if b.Mask[i*b.T+j] == 0 {
						continue
					}
					for k := 0; k < v; k++ {
						g, w := float64(got[(i*b.T+j)*v+k]), ref.Logits[i][j][k]
						worst = math.Max(worst, math.Abs(g-w)/math.Max(1, math.Abs(w)))
						if !close(g, w) {
							t.Fatalf("logit [%d,%d,%d] = %.6f, reference %.6f", i, j, k, g, w)
						}
						checked++
					}
				}
			}
			t.Logf("%d logits within 1e-4 (worst relative error %.2e)", checked, worst)

			// Loss: mean −log p of next tokens between real positions, from
			// TokenLogProbs (chunked) against the same from reference logits.
			target := NextTokenTargets(b)
			tp2 := autograd.NewTape(dev)
			tp2.NoGrad = true
			logp, _, err := m.TokenLogProbs(tp2, b, target)
			if err != nil {
				t.Fatal(err)
			}
			lp := dev.Download(logp.Val)
			var gotLoss, wantLoss float64
			n := 0
			for k, tg := range target {
				if tg < 0 {
					continue
				}
				row := ref.Logits[k/b.T][k%b.T]
				mx := math.Inf(-1)
				for _, x := range row {
					mx = math.Max(mx, x)
				}
				var s float64
				for _, x := range row {
					s += math.Exp(x - mx)
				}
				wantLoss -= row[tg] - mx - math.Log(s)
				gotLoss -= float64(lp[k])
				n++
			}
			if !close(gotLoss/float64(n), wantLoss/float64(n)) {
				t.Fatalf("loss %.6f, reference %.6f", gotLoss/float64(n), wantLoss/float64(n))
			}
			// The first row has no padding, so its loss is HF's loss restricted
			// to that row; the reference's batch loss must be reproducible
			// from its own logits (a check of the fixture itself).
		})
	}
}

func TestSaveLoadIdenticalLogits(t *testing.T) {
	for _, name := range []string{"qwen2", "llama3", "qwen3"} {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", name), dev)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := m.Save(dir, tensor.F32); err != nil {
				t.Fatal(err)
			}
			m2, err := Load(dir, dev)
			if err != nil {
				t.Fatal(err)
			}
			b := NewBatch([][]int32{{1, 5, 9, 3}, {7, 2}}, 0)
			l1 := logitsOf(t, m, b)
			l2 := logitsOf(t, m2, b)
			for i := range l1 {
				if l1[i] != l2[i] {
					t.Fatalf("logit %d: %v before save, %v after reload", i, l1[i], l2[i])
				}
			}
			c1, _ := json.Marshal(m.Config)
			c2, _ := json.Marshal(m2.Config)
			if string(c1) != string(c2) {
				t.Errorf("config changed on round trip:\n%s\n%s", c1, c2)
			}
		})
	}
}

func logitsOf(t *testing.T, m *Model, b Batch) []float32 {
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	l, err := m.Logits(tp, b)
	if err != nil {
		t.Fatal(err)
	}
	return dev.Download(l.Val)
}
