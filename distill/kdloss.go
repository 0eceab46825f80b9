package distill

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/model"
)

// KD is logit distillation: the student's next-token distribution is
// pulled towards the teacher's at every trained position by a divergence
// (forward KL, reverse KL or generalised JSD; see Divergence), the
// teacher's log-probs computed on the fly on the same batch. It plugs into
// SFT as its loss (sft.Trainer.Loss): the same rows, the same training
// core. Teacher and student must share a tokenizer (SameTokenizer).
//
// The divergence runs on the host over the full (positions × V) logits, in
// float64: right for r1's CPU models; a fused, chunked backend kernel (as
// TokenLogProbs has) is what large vocabularies on a GPU need.
type KD struct {
	Kind    string
	Beta    float64
	Student *model.Model
	Teacher *model.Model
}

// Loss has model.LMLoss's contract: the mean divergence over the positions
// whose target is ≥ 0, its gradient × scale seeded on tp.
func (k *KD) Loss(tp *autograd.Tape, b model.Batch, target []int32, scale float64) (float64, int, error) {
	v := k.Student.Config.VocabSize
	if k.Teacher.Config.VocabSize != v {
		return 0, 0, fmt.Errorf("kd: teacher vocabulary %d, student %d: logit distillation needs one tokenizer", k.Teacher.Config.VocabSize, v)
	}
	logits, err := k.Student.Logits(tp, b) // (B,T,V)
	if err != nil {
		return 0, 0, err
	}
	ttp := autograd.NewTape(k.Teacher.Dev)
	ttp.NoGrad = true
	tl, err := k.Teacher.Logits(ttp, b)
	if err != nil {
		return 0, 0, err
	}
	tv := k.Teacher.Dev.Download(tl.Val)
	ttp.Reset()
	sv := k.Student.Dev.Download(logits.Val)
	if len(sv) != len(target)*v || len(tv) != len(sv) {
		return 0, 0, fmt.Errorf("kd: logits %d and %d values for %d positions × %d", len(sv), len(tv), len(target), v)
	}
	tlogp := make([]float64, v)
	grad := make([]float64, v)
	scratch := make([]float64, 2*v)
	var g []float32
	if !tp.NoGrad {
		g = make([]float32, len(sv))
	}
	n := 0
	var sum float64
	for i, t := range target {
		if t < 0 {
			continue
		}
		n++
		logSoftmax(tlogp, tv[i*v:(i+1)*v])
		sum += Divergence(k.Kind, k.Beta, sv[i*v:(i+1)*v], tlogp, grad, scratch)
		if g != nil {
			for j, x := range grad {
				g[i*v+j] = float32(x)
			}
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("kd: batch has no target tokens")
	}
	loss := sum / float64(n)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, n, fmt.Errorf("%w: %v", model.ErrNonFiniteLoss, loss)
	}
	if g != nil {
		f := float32(scale / float64(n))
		for i := range g {
			g[i] *= f
		}
		tp.SetGrad(logits, g)
	}
	return loss, n, nil
}

// SameTokenizer checks that two model directories hold the same
// tokenizer.json, as logit distillation needs (the same ids mean the same
// tokens).
func SameTokenizer(a, b string) error {
	ta, err := os.ReadFile(filepath.Join(a, "tokenizer.json"))
	if err != nil {
		return fmt.Errorf("kd: %w", err)
	}
	tb, err := os.ReadFile(filepath.Join(b, "tokenizer.json"))
	if err != nil {
		return fmt.Errorf("kd: %w", err)
	}
	if !bytes.Equal(ta, tb) {
		return fmt.Errorf("kd: %s and %s have different tokenizer.json files: logit distillation needs one tokenizer (use sequence-level distillation, r1 distill without --kd)", a, b)
	}
	return nil
}
