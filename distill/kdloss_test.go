package distill

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sft"
	"github.com/r1go/r1/tokenizer"
)

// chatModel writes a random test model with a chat template.
func chatModel(t *testing.T, dir string, seed uint64) string {
	t.Helper()
	if _, err := testmodel.Write(dir, "qwen2", seed); err != nil {
		t.Fatal(err)
	}
	tc, _ := json.Marshal(map[string]any{"eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
		"chat_template": "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"})
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tc, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func kdBatch(t *testing.T, dir string) (model.Batch, []int32) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]int32{tok.Encode("What is 2 + 3? 2 + 3 = 5.", false), tok.Encode("What is 12 + 7?", false)}
	b := model.NewBatch(rows, 1)
	return b, model.NextTokenTargets(b)
}

// A student that is a copy of its teacher has zero loss under every
// divergence; another model has a positive one.
func TestKDLossCopyIsZero(t *testing.T) {
	dir := t.TempDir()
	td := chatModel(t, filepath.Join(dir, "t"), 9)
	od := chatModel(t, filepath.Join(dir, "o"), 4)
	dev := cpu.New()
	teacher, _ := model.Load(td, dev)
	copyM, _ := model.Load(td, dev)
	other, _ := model.Load(od, dev)
	if err := SameTokenizer(td, od); err != nil {
		t.Fatal(err) // testmodel trains one tokenizer for every seed
	}
	b, target := kdBatch(t, td)
	for _, kind := range []string{Forward, Reverse, JSD} {
		for _, tc := range []struct {
			student *model.Model
			zero    bool
		}{{copyM, true}, {other, false}} {
			tp := autograd.NewTape(dev)
			tp.NoGrad = true
			loss, n, err := (&KD{Kind: kind, Beta: 0.5, Student: tc.student, Teacher: teacher}).Loss(tp, b, target, 1)
			tp.Reset()
			if err != nil || n == 0 {
				t.Fatal(err, n)
			}
			if tc.zero && (loss < 0 || loss > 1e-6) || !tc.zero && loss < 1e-3 {
				t.Errorf("%s, copy=%v: loss %g", kind, tc.zero, loss)
			}
		}
	}
}

// KD as SFT's loss (sft.Trainer.Loss) on the training core lowers the
// divergence from the teacher.
func TestKDTrainsThroughSFT(t *testing.T) {
	dir := t.TempDir()
	td := chatModel(t, filepath.Join(dir, "t"), 9)
	sd := chatModel(t, filepath.Join(dir, "s"), 4)
	rows := []string{}
	for _, q := range []string{"2 + 3", "12 + 7", "4 + 4", "9 - 1"} {
		r, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": "What is " + q + "?"}, {"role": "assistant", "content": "<think>\nadd\n</think>\n\nThe answer."}}})
		rows = append(rows, string(r))
	}
	data := filepath.Join(dir, "d.jsonl")
	os.WriteFile(data, []byte(strings.Join(rows, "\n")+"\n"), 0o644)
	dev := cpu.New()
	teacher, err := model.Load(td, dev)
	if err != nil {
		t.Fatal(err)
	}
	c := sft.Default()
	c.Model, c.Data, c.Out, c.Steps, c.MicroBatch, c.LogEvery = sd, data, filepath.Join(dir, "run"), 30, 4, 100
	c.Optim.LR = 3e-3
	c.Schedule.Kind = "constant"
	tr, err := sft.New(c, dev)
	if err != nil {
		t.Fatal(err)
	}
	kd := &KD{Kind: JSD, Beta: 0.5, Student: tr.Model, Teacher: teacher}
	tr.Loss = kd.Loss
	var first, last float64
	for i := range c.Steps {
		m, err := tr.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = m["loss"]
		}
		last = m["loss"]
	}
	t.Logf("KD (jsd) loss %g → %g in %d steps", first, last, c.Steps)
	if !(last < 0.7*first) {
		t.Errorf("KD loss %g → %g in %d steps: want at least a 30%% drop", first, last, c.Steps)
	}
}
