package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/distill"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/sft"
)

func init() {
	register(&command{
		name:    "distill",
		summary: "distillation: a teacher's filtered answers (r1 generate) fine-tune a student (r1 sft), with the student's eval before and after; resumable per stage",
		run:     runDistill,
	})
}

const distillNotes = `Stages, each leaving its output in OUT and skipped when a rerun finds it done
(an interrupted stage resumes: rerun the same command):
  1. generate + filter → OUT/data.jsonl (as r1 generate; OUT/generate.json)
  2. the student on --eval-n held-out problems → OUT/eval_before.json
  3. r1 sft of the student on OUT/data.jsonl → OUT/sft/ (the distilled model)
  4. the distilled student on the same problems → OUT/eval_after.json
OUT/summary.json gathers them. The held-out problems are --eval-dataset's test
split (synthetic: problems pretraining never saw), judged by the dataset's
check; the student is prompted with --eval-template-before (a base model) and
then --eval-template-after (the chat template SFT taught it).`

func runDistill(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("distill", "(--teacher DIR | --teacher-url URL --teacher-model NAME) --student DIR --prompts FILE|DATASET --out DIR [flags]", stderr)
	student := fs.String("student", "", "student model: a Hugging Face checkpoint directory or builtin:tiny")
	prompts := fs.String("prompts", "", "prompts: a dataset of the registry (synthetic:arithmetic, gsm8k, …) or a JSONL file with problem/prompt and answer fields")
	split := fs.String("split", "train", "with a registry dataset: the split of the prompts")
	limit := fs.Int("limit", 0, "use the first N prompts (0 = all)")
	n := fs.Int("n", 4, "teacher answers per prompt (K)")
	out := fs.String("out", "", "run directory (see below)")
	lr := fs.Float64("lr", 0, "SFT peak learning rate (default: sft's 2e-5; the tiny model wants ~1e-3)")
	epochs := fs.Int("epochs", 0, "SFT epochs (default: sft's 3)")
	kd := fs.String("kd", "", "logit distillation in the SFT stage: forward, reverse or jsd (generalised JSD of GKD) divergence from the teacher's logits on the generated rows; needs a local --teacher with the student's tokenizer (default: cross-entropy on the teacher's text)")
	kdBeta := fs.Float64("kd-beta", 0.5, "with --kd jsd: the mixture weight β in [0, 1] (0 = forward KL, 1 = reverse KL)")
	onPolicy := fs.Bool("on-policy", false, "with --kd: the student, not the teacher, answers the prompts (unfiltered), and the teacher's logits on the student's own answers are the target: GKD's on-policy data, drawn once before training rather than at every step")
	var sftSets setFlags
	fs.Var(&sftSets, "sft-set", "override an sft config key, e.g. --sft-set max_seq_len=512 (repeatable)")
	evalN := fs.Int("eval-n", 200, "held-out problems for the student's eval before and after (0 = no eval)")
	evalDataset := fs.String("eval-dataset", "synthetic", "dataset of the held-out problems (its test split)")
	evalBefore := fs.String("eval-template-before", "r1-zero", "prompt format of the student before SFT")
	evalAfter := fs.String("eval-template-after", "chat", "prompt format of the distilled student")
	evalFormat := fs.String("eval-format", "format", "format reward whose full marks the eval's format rate counts")
	es := grpo.DefaultEvalSampling()
	fs.IntVar(&es.K, "eval-k", es.K, "samples per held-out problem (pass@1 over k)")
	var tf teacherFlags
	tf.register(fs)
	var ff filterFlags
	ff.register(fs)
	usageNotes(fs, distillNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *student == "" || *prompts == "" || *out == "" {
		fs.Usage()
		return usageErrorf("--student, --prompts and --out are required")
	}
	g := distill.GenerateConfig{N: *n, Progress: stderr, MixSeed: tf.seed}
	if err := ff.apply(&g); err != nil {
		return err
	}
	studentDir, err := resolveModel(*student)
	if err != nil {
		return err
	}
	// The teacher's flags are checked now, the teacher loaded only when
	// generation has work left.
	if (tf.dir == "") == (tf.url == "") {
		return usageErrorf("give exactly one of --teacher DIR and --teacher-url URL")
	}
	ps, err := openPrompts(*prompts, *split, *limit)
	if err != nil {
		return err
	}
	sc := sft.Default()
	var pre []string
	if *lr > 0 {
		pre = append(pre, "optimizer.lr="+strconv.FormatFloat(*lr, 'g', -1, 64))
	}
	if *epochs > 0 {
		pre = append(pre, fmt.Sprintf("epochs=%d", *epochs))
	}
	if err := configs.Load("", append(pre, sftSets...), &sc); err != nil {
		return fmt.Errorf("--sft-set: %w", err)
	}
	sc.Model = studentDir
	dev, err := openDevice(tf.device)
	if err != nil {
		return err
	}
	var kds *distill.KDStage
	if *kd != "" {
		if err := distill.CheckDivergence(*kd, *kdBeta); err != nil {
			return usageErrorf("--kd: %v", err)
		}
		if tf.dir == "" {
			return usageErrorf("--kd needs a local --teacher DIR (its logits are computed on the fly)")
		}
		td, err := resolveModel(tf.dir)
		if err != nil {
			return err
		}
		if err := distill.SameTokenizer(td, studentDir); err != nil {
			return err
		}
		kds = &distill.KDStage{Kind: *kd, Beta: *kdBeta, Teacher: td}
	}
	if *onPolicy && kds == nil {
		return usageErrorf("--on-policy is a variant of --kd: give --kd forward|reverse|jsd")
	}
	sampler := func() (distill.Teacher, error) { return tf.open(*n) }
	if *onPolicy {
		g.NoFilter = true
		sampler = func() (distill.Teacher, error) {
			st := tf
			st.dir = studentDir
			return st.open(*n)
		}
	}
	p := &distill.Pipeline{KD: kds, Out: *out, Prompts: ps, Teacher: sampler,
		Generate: g, SFT: sc, Device: dev, Progress: stderr}
	if *evalN > 0 {
		ev, err := distillEval(*evalDataset, *evalN, *evalBefore, *evalAfter, *evalFormat)
		if err != nil {
			return err
		}
		ev.Sampling = es
		p.Eval = ev
	}
	sum, err := p.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "distill: %d prompts × %d answers: %d kept (%d general added), SFT %d steps\n", sum.Prompts, *n, sum.Kept, sum.General, sum.SFTSteps)
	if sum.Before != nil && sum.After != nil {
		printEval(stdout, "before", *sum.Before)
		printEval(stdout, "after", *sum.After)
		fmt.Fprintf(stdout, "accuracy %+.1f points; seconds: generate %.0f, sft %.0f\n", 100*(sum.After.Accuracy-sum.Before.Accuracy), sum.Seconds["generate"], sum.Seconds["sft"])
	}
	fmt.Fprintf(stdout, "distilled model: %s; summary: %s/summary.json\n", sum.Model, *out)
	return nil
}

// distillEval builds the student's evaluation: the tiny-zero preset's
// GRPO settings (sampling.max_new_tokens, rewards; r1 zero's eval) with the held-out rows of
// dataset and a prompt format per side.
func distillEval(dataset string, n int, before, after, format string) (*distill.Eval, error) {
	base := grpo.Default()
	sets := []string{"data.dataset=" + dataset, "format_reward=" + format}
	if !data.IsFile(dataset) && dataset != "synthetic" && !startsWith(dataset, "synthetic:") {
		sets = append(sets, "data.data_dir="+data.FindDir())
	}
	if err := configs.Load("preset:tiny-zero", sets, &base); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	ec := base.Data
	ec.Limit, ec.Split = n, data.SplitTest
	rows, err := grpo.LoadRows(ec)
	if err != nil {
		return nil, fmt.Errorf("held-out problems: %w", err)
	}
	ev := &distill.Eval{Rows: rows, Before: base, After: base}
	ev.Before.Data.Template, ev.After.Data.Template = before, after
	return ev, nil
}

func startsWith(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
