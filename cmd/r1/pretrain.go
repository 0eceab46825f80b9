package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/r1go/r1/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

func init() {
	register(&command{
		name:    "pretrain",
		summary: "pretrain the tiny base model on a synthetic arithmetic + Countdown corpus (own tokenizer, CPU)",
		run:     runPretrain,
	})
}

// defaultTinyConfig is the base architecture of the demo model: a
// Qwen2-shape decoder of about 1.2M parameters (with a ~1.2k vocabulary),
// small enough to pretrain in minutes on two CPU cores. vocab_size and the
// special token ids are filled in from the trained tokenizer.
const defaultTinyConfig = `{
  "model_type": "qwen2",
  "hidden_size": 128,
  "intermediate_size": 352,
  "num_hidden_layers": 6,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "max_position_embeddings": 1024,
  "rope_theta": 10000.0,
  "rms_norm_eps": 1e-6,
  "tie_word_embeddings": true,
  "initializer_range": 0.02,
  "vocab_size": 0
}`

// pretrainSpecials are the tokenizer's special tokens; the first is EOS,
// the document separator and the padding token. The ChatML pair is there so
// later SFT stages can use a chat template without growing the vocabulary.
var pretrainSpecials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// pretrainOptions is the resolved configuration, written to the run
// directory as pretrain.json and checked on --resume.
type pretrainOptions struct {
	Steps       int     `json:"steps"`
	SeqLen      int     `json:"seq_len"`
	Batch       int     `json:"batch"`
	LR          float64 `json:"lr"`
	MinLRRatio  float64 `json:"min_lr_ratio"`
	Warmup      int     `json:"warmup"`
	WeightDecay float64 `json:"weight_decay"`
	Seed        uint64  `json:"seed"`
	VocabSize   int     `json:"vocab_size"`
	TokDocs     int     `json:"tokenizer_docs"`
	Config      string  `json:"config"`
	HeldOut     int     `json:"heldout"`
	// SingleDigits makes the tokenizer split numbers into digits.
	SingleDigits bool `json:"single_digits"`
	Corpus       data.CorpusConfig
}

// pretrainState is the data cursor and step of a checkpoint.
type pretrainState struct {
	Step      int     `json:"step"`
	DocCursor int64   `json:"doc_cursor"`
	Tokens    int64   `json:"tokens"`
	LastLoss  float64 `json:"last_loss"`
}

func runPretrain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("pretrain", "--out DIR [flags]", stderr)
	out := fs.String("out", "", "run directory: receives tokenizer, held-out sets, checkpoints/, metrics.jsonl and the final model (required)")
	var o pretrainOptions
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
	resume := fs.Bool("resume", false, "continue from the newest checkpoint in --out (same flags as the first run)")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
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
	if err := o.validate(); err != nil {
		return err
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	optsPath := filepath.Join(*out, "pretrain.json")
	optsJSON, _ := json.MarshalIndent(o, "", "  ")

	var tok *tokenizer.Tokenizer
	var m *model.Model
	var opt *optim.AdamW
	var st pretrainState
	adamCfg := optim.DefaultAdamW()
	adamCfg.LR, adamCfg.Beta2, adamCfg.WeightDecay = o.LR, 0.95, o.WeightDecay

	ckpt := ""
	if *resume {
		ckpt, err = latestCheckpoint(*out)
		if err != nil {
			return err
		}
	}
	if ckpt != "" {
		prev, err := os.ReadFile(optsPath)
		if err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		extended, err := resumable(prev, o)
		if err != nil {
			return fmt.Errorf("--resume: %s: %w", optsPath, err)
		}
		if extended {
			// A longer --steps extends a run: the cosine schedule is
			// stretched to the new total from the checkpoint on.
			if err := atomicfile.Write(optsPath, optsJSON); err != nil {
				return err
			}
		}
		if tok, err = tokenizer.Load(*out); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if m, err = model.Load(ckpt, dev); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if opt, err = optim.NewAdamW(adamCfg, m.Params()); err != nil {
			return err
		}
		if st, err = loadPretrainCheckpoint(ckpt, opt); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "resuming from %s (step %d)\n", ckpt, st.Step)
	} else {
		if tok, err = pretrainTokenizer(o, *out, stderr); err != nil {
			return err
		}
		if err := writeHeldOut(*out, o); err != nil {
			return err
		}
		cfg, err := pretrainModelConfig(o.Config, tok)
		if err != nil {
			return err
		}
		m = model.New(cfg, dev, o.Seed)
		if opt, err = optim.NewAdamW(adamCfg, m.Params()); err != nil {
			return err
		}
		if err := atomicfile.Write(optsPath, optsJSON); err != nil {
			return err
		}
		// A fresh run starts a fresh log.
		os.Remove(filepath.Join(*out, "metrics.jsonl"))
	}
	eos := tok.EOS
	fmt.Fprintf(stderr, "model: %s\n", m.Config.Describe())

	sched := optim.Schedule{Kind: "cosine", Warmup: o.Warmup, Total: o.Steps, MinRatio: o.MinLRRatio}
	metrics, err := os.OpenFile(filepath.Join(*out, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer metrics.Close()
	tp := autograd.NewTape(dev)
	start := time.Now()
	startStep := st.Step
	var windowTok int64
	windowStart := time.Now()
	save := func() error {
		dir := filepath.Join(*out, "checkpoints", fmt.Sprintf("step-%d", st.Step))
		if err := savePretrainCheckpoint(dir, m, opt, st); err != nil {
			return err
		}
		return pruneCheckpoints(*out, dir)
	}
	for st.Step < o.Steps {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("interrupted at step %d (checkpoint saved; continue with --resume): %w", st.Step, err)
		}
		rows, next := packRows(o.Corpus, tok, st.DocCursor, o.Batch, o.SeqLen, eos)
		batch := model.NewBatch(rows, eos)
		batch.Mask = nil // every row is full
		lr := o.LR * sched.Factor(st.Step)
		loss, norm, err := trainStep(tp, m, opt, batch, lr)
		if err != nil {
			return fmt.Errorf("step %d: %w", st.Step, err)
		}
		st.Step++
		st.DocCursor = next
		st.LastLoss = loss
		n := int64(o.Batch * o.SeqLen)
		st.Tokens += n
		windowTok += n
		fmt.Fprintf(metrics, `{"step":%d,"loss":%.5f,"lr":%.6g,"grad_norm":%.4f,"tokens":%d}`+"\n", st.Step, loss, lr, norm, st.Tokens)
		if st.Step%*logEvery == 0 || st.Step == o.Steps {
			el := time.Since(windowStart).Seconds()
			tps := float64(windowTok) / el
			done := st.Step - startStep
			eta := time.Duration(float64(time.Since(start)) / float64(done) * float64(o.Steps-st.Step)).Round(time.Second)
			fmt.Fprintf(stdout, "step %d/%d loss %.4f lr %.3g grad_norm %.3f tok/s %.0f elapsed %s ETA %s\n",
				st.Step, o.Steps, loss, lr, norm, tps, time.Since(start).Round(time.Second), eta)
			windowTok, windowStart = 0, time.Now()
		}
		if *saveEvery > 0 && st.Step%*saveEvery == 0 && st.Step < o.Steps {
			if err := save(); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	if err := m.Save(*out, tensor.BF16); err != nil {
		return err
	}
	gen := map[string]any{"eos_token_id": tok.EOS, "pad_token_id": tok.PAD, "bos_token_id": tok.EOS, "do_sample": true,
		"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 200}
	gj, _ := json.MarshalIndent(gen, "", "  ")
	if err := atomicfile.Write(filepath.Join(*out, "generation_config.json"), append(gj, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved %s (%d steps, %d tokens, final loss %.4f)\n", *out, st.Step, st.Tokens, st.LastLoss)
	if *evalN > 0 {
		// Evaluate what was saved (BF16), as r1 zero will load it.
		saved, err := model.Load(*out, dev)
		if err != nil {
			return err
		}
		return evalBase(ctx, stdout, saved, tok, *out, *evalN, *evalSamples, o.Seed)
	}
	return nil
}

func (o pretrainOptions) validate() error {
	switch {
	case o.Steps <= 0:
		return fmt.Errorf("--steps must be > 0, got %d", o.Steps)
	case o.SeqLen < 8:
		return fmt.Errorf("--seq-len must be ≥ 8, got %d", o.SeqLen)
	case o.Batch <= 0:
		return fmt.Errorf("--batch must be > 0, got %d", o.Batch)
	case !(o.LR > 0):
		return fmt.Errorf("--lr must be > 0, got %g", o.LR)
	case o.MinLRRatio < 0 || o.MinLRRatio > 1:
		return fmt.Errorf("--min-lr-ratio must be in [0,1], got %g", o.MinLRRatio)
	case o.Warmup >= o.Steps:
		return fmt.Errorf("--warmup (%d) must be below --steps (%d)", o.Warmup, o.Steps)
	case o.WeightDecay < 0:
		return fmt.Errorf("--weight-decay must be ≥ 0, got %g", o.WeightDecay)
	case o.VocabSize < len(pretrainSpecials)+256:
		return fmt.Errorf("--vocab-size must be ≥ %d (special tokens + 256 bytes), got %d", len(pretrainSpecials)+256, o.VocabSize)
	case o.TokDocs <= 0:
		return fmt.Errorf("--tokenizer-docs must be > 0, got %d", o.TokDocs)
	case o.HeldOut < 0:
		return fmt.Errorf("--heldout must be ≥ 0, got %d", o.HeldOut)
	}
	if err := o.Corpus.Validate(); err != nil {
		return fmt.Errorf("corpus flags: %w", err)
	}
	return nil
}

// resumable checks that a resumed run uses the first run's flags. Only
// --steps (and the warmup derived from it) may change, to extend a run;
// extended reports that it did.
func resumable(prevJSON []byte, o pretrainOptions) (extended bool, err error) {
	var prev pretrainOptions
	if err := json.Unmarshal(prevJSON, &prev); err != nil {
		return false, fmt.Errorf("not a pretrain options file: %w", err)
	}
	a, b := prev, o
	a.Steps, a.Warmup, b.Steps, b.Warmup = 0, 0, 0, 0
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	if string(aj) != string(bj) {
		return false, fmt.Errorf("the flags differ from the first run's (only --steps may change); resume with the same flags:\n first: %s\n now:   %s", aj, bj)
	}
	if o.Steps < prev.Steps {
		return false, fmt.Errorf("--steps %d is below the first run's %d", o.Steps, prev.Steps)
	}
	return o.Steps != prev.Steps, nil
}

// pretrainTokenizer trains the BPE tokenizer on the first documents of the
// corpus and saves tokenizer.json and tokenizer_config.json into dir.
func pretrainTokenizer(o pretrainOptions, dir string, stderr io.Writer) (*tokenizer.Tokenizer, error) {
	t0 := time.Now()
	tok, err := tokenizer.TrainWith(o.Corpus.Docs(0, int64(o.TokDocs)), o.VocabSize, pretrainSpecials, tokenizer.TrainOptions{SingleDigits: o.SingleDigits})
	if err != nil {
		return nil, err
	}
	tok.EOS, tok.PAD, tok.BOS = 0, 0, 0 // <|endoftext|>, as GPT-2 and Qwen base models
	tok.AddBOS, tok.AddEOS = false, false
	if err := tok.Save(dir); err != nil {
		return nil, err
	}
	// Reload what was written so training uses exactly the saved tokenizer.
	tok, err = tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("reloading the trained tokenizer: %w", err)
	}
	fmt.Fprintf(stderr, "tokenizer: %d tokens from %d documents in %s\n", tok.VocabSize(), o.TokDocs, time.Since(t0).Round(time.Millisecond))
	return tok, nil
}

// writeHeldOut writes heldout_<task>.jsonl for r1 zero's before/after
// evaluation; these problems never occur in the corpus.
func writeHeldOut(dir string, o pretrainOptions) error {
	if o.HeldOut == 0 {
		return nil
	}
	for _, k := range data.Kinds {
		ps, err := data.SyntheticProblems(k, o.HeldOut, o.Seed)
		if err != nil {
			return err
		}
		if err := data.WriteJSONLFile(filepath.Join(dir, "heldout_"+string(k)+".jsonl"), ps); err != nil {
			return err
		}
	}
	return nil
}

// pretrainModelConfig reads the architecture (built-in or --config) and
// sets the vocabulary and special token ids from the tokenizer.
func pretrainModelConfig(path string, tok *tokenizer.Tokenizer) (*model.Config, error) {
	raw := []byte(defaultTinyConfig)
	name := "built-in config"
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		name = path
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %w", name, err)
	}
	fields["vocab_size"] = tok.VocabSize()
	fields["eos_token_id"], fields["bos_token_id"], fields["pad_token_id"] = tok.EOS, tok.EOS, tok.PAD
	raw, _ = json.Marshal(fields)
	cfg, err := model.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// trainStep is one pretraining step on a batch of full rows: next-token
// loss, backward pass, AdamW update at lr. The tape is reset before it
// returns, on errors too, so a step leaves behind only what lasts: the
// weights, their gradient buffers and the optimizer state.
func trainStep(tp *autograd.Tape, m *model.Model, opt *optim.AdamW, batch model.Batch, lr float64) (loss, norm float64, err error) {
	defer tp.Reset()
	loss, _, err = m.LMLoss(tp, batch, model.NextTokenTargets(batch), 1)
	if err != nil {
		return loss, 0, err
	}
	tp.Backward()
	tp.Reset() // the activations go before the optimizer runs: a lower peak
	norm, err = opt.Step(lr, 1)
	return loss, norm, err
}

// packRows fills b rows of exactly t tokens with documents from cursor on,
// each followed by EOS. Every row starts at a document boundary (as prompts
// do at inference); a document that overflows a row is cut and not reused.
// It returns the rows and the cursor after the last document consumed.
func packRows(c data.CorpusConfig, tok *tokenizer.Tokenizer, cursor int64, b, t int, eos int32) ([][]int32, int64) {
	rows := make([][]int32, b)
	for i := range rows {
		row := make([]int32, 0, t+256)
		for len(row) < t {
			row = append(row, tok.Encode(c.Doc(cursor), false)...)
			row = append(row, eos)
			cursor++
		}
		rows[i] = row[:t]
	}
	return rows, cursor
}

// savePretrainCheckpoint writes the model (F32, so resuming is exact), the
// AdamW moments and the data cursor into dir, replacing it atomically.
func savePretrainCheckpoint(dir string, m *model.Model, opt *optim.AdamW, st pretrainState) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := m.Save(tmp, tensor.F32); err != nil {
		return err
	}
	if err := opt.SaveState(filepath.Join(tmp, "optimizer.safetensors")); err != nil {
		return err
	}
	sj, _ := json.MarshalIndent(st, "", "  ")
	if err := atomicfile.Write(filepath.Join(tmp, "state.json"), sj); err != nil {
		return err
	}
	os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

func loadPretrainCheckpoint(dir string, opt *optim.AdamW) (pretrainState, error) {
	var st pretrainState
	sj, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return st, fmt.Errorf("checkpoint: %w", err)
	}
	if err := json.Unmarshal(sj, &st); err != nil {
		return st, fmt.Errorf("checkpoint %s: state.json: %w", dir, err)
	}
	if err := opt.LoadState(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		return st, fmt.Errorf("checkpoint: %w", err)
	}
	return st, nil
}

// latestCheckpoint returns the newest out/checkpoints/step-N, or "" when
// there is none.
func latestCheckpoint(out string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(out, "checkpoints"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	best, bestN := "", -1
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "step-"))
		if err != nil || !e.IsDir() || !strings.HasPrefix(e.Name(), "step-") {
			continue
		}
		if n > bestN {
			best, bestN = filepath.Join(out, "checkpoints", e.Name()), n
		}
	}
	return best, nil
}

// pruneCheckpoints keeps only the checkpoint just written.
func pruneCheckpoints(out, keep string) error {
	entries, err := os.ReadDir(filepath.Join(out, "checkpoints"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(out, "checkpoints", e.Name())
		if p != keep && strings.HasPrefix(e.Name(), "step-") {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}
