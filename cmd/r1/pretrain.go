package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/pretrain"
)

func init() {
	register(&command{
		name:    "pretrain",
		summary: "pretrain the tiny base model on a synthetic arithmetic + Countdown corpus (own tokenizer, CPU)",
		run:     runPretrain,
	})
}

func runPretrain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("pretrain", "--out DIR [flags]", stderr)
	out := fs.String("out", "", "run directory: receives tokenizer, held-out sets, checkpoints/, metrics.jsonl and the final model (required)")
	var o pretrain.Config
	fs.IntVar(&o.Steps, "steps", 8000, "optimizer steps (a longer --steps with --resume extends a finished or interrupted run)")
	fs.IntVar(&o.SeqLen, "seq-len", 256, "tokens per training row (documents are packed, separated by <|endoftext|>)")
	fs.IntVar(&o.Batch, "batch", 8, "rows per step")
	fs.Float64Var(&o.LR, "lr", 3e-3, "peak learning rate (linear warmup, cosine decay)")
	fs.Float64Var(&o.MinLRRatio, "min-lr-ratio", 0.1, "final learning rate as a fraction of --lr")
	fs.IntVar(&o.Warmup, "warmup", -1, "warmup steps (-1: 5% of --steps)")
	fs.Float64Var(&o.WeightDecay, "weight-decay", 0.1, "AdamW decoupled weight decay (not on norms and biases)")
	seed := fs.Uint64("seed", 1, "seed of the corpus, the held-out sets and the initial weights")
	fs.IntVar(&o.VocabSize, "vocab-size", 1536, "tokenizer vocabulary size, special tokens included")
	fs.IntVar(&o.TokDocs, "tokenizer-docs", 20000, "corpus documents the tokenizer is trained on")
	fs.BoolVar(&o.SingleDigits, "single-digits", true, "tokenize numbers digit by digit (Qwen2-style), so the small model can learn to carry")
	fs.StringVar(&o.Config, "config", "", "model config.json to use instead of the built-in ~3M-parameter qwen2 (vocab_size is set from the tokenizer)")
	fs.IntVar(&o.HeldOut, "heldout", 500, "held-out problems per task written to heldout_<task>.jsonl")
	def := data.DefaultCorpus(0)
	countdownFrac := fs.Float64("countdown-frac", def.CountdownFrac, "fraction of Countdown documents in the corpus (the rest arithmetic)")
	wrongFrac := fs.Float64("wrong-frac", def.WrongFrac, "fraction of corpus solutions with a deliberate slip (wrong answer)")
	r1zeroFrac := fs.Float64("r1zero-frac", def.R1ZeroFrac, "fraction of documents in the R1-Zero prompt format")
	columnFrac := fs.Float64("column-frac", def.ColumnFrac, "fraction of arithmetic solutions worked digit by digit with carries: the slow, reliable mode R1-Zero learns to prefer")
	checkFrac := fs.Float64("check-frac", def.CheckFrac, "fraction of digit-by-digit solutions that end by restating their steps (\"Let me check: …\")")
	reflectFrac := fs.Float64("reflect-frac", def.ReflectFrac, "fraction of arithmetic solutions that answer at once, then reflect (\"Wait, let me check that digit by digit\") and redo the work, correcting slips")
	difficulty := fs.Int("difficulty", 0, "problem difficulty 1..3, or 0 to mix them")
	saveEvery := fs.Int("save-every", 250, "checkpoint every N steps (and on interrupt)")
	logEvery := fs.Int("log-every", 10, "progress line every N steps")
	evalN := fs.Int("eval", 0, "after training, sample R1-Zero completions for N held-out problems per task and print format rate and accuracy")
	evalSamples := fs.Int("eval-samples", 4, "samples per held-out problem for --eval")
	overwrite := fs.Bool("overwrite", false, "start over in an --out that holds a run (deletes its checkpoints and logs)")
	keep := fs.Int("keep-checkpoints", 1, "checkpoints kept in DIR/checkpoints (the newest N; 0 = all)")
	resume := fs.Bool("resume", false, "continue from the newest checkpoint in --out (same flags as the first run)")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	gradCkpt := fs.Bool("gradient-checkpointing", false, "recompute each layer's activations in the backward pass instead of keeping them: less memory, one more forward pass per step, the same gradients")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("--out is required")
	}
	o.Seed = *seed
	o.Corpus = data.DefaultCorpus(*seed)
	o.Corpus.CountdownFrac, o.Corpus.WrongFrac, o.Corpus.R1ZeroFrac, o.Corpus.Difficulty = *countdownFrac, *wrongFrac, *r1zeroFrac, *difficulty
	o.Corpus.ColumnFrac, o.Corpus.CheckFrac, o.Corpus.ReflectFrac = *columnFrac, *checkFrac, *reflectFrac
	if o.Warmup < 0 {
		o.Warmup = o.Steps / 20
	}
	if err := o.Validate(); err != nil {
		return err
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	res, err := pretrain.Run(ctx, o, pretrain.Options{Out: *out, Resume: *resume, GradientCheckpointing: *gradCkpt, Overwrite: *overwrite, SaveEvery: *saveEvery, KeepLast: *keep,
		LogEvery: *logEvery, Progress: stdout, Log: stderr}, dev)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w (checkpoint saved; continue with --resume)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "saved %s (%d steps, %d tokens, final loss %.4f)\n", *out, res.Steps, res.Tokens, res.LastLoss)
	if *evalN > 0 {
		// Evaluate what was saved (BF16), as r1 zero will load it.
		saved, err := model.Load(*out, dev)
		if err != nil {
			return err
		}
		return evalBase(ctx, stdout, saved, res.Tok, *out, *evalN, *evalSamples, o.Seed)
	}
	return nil
}
