// Package pretrain trains the tiny base model from scratch: a byte-level
// BPE tokenizer trained on the synthetic arithmetic + Countdown corpus of
// package data, then a small decoder trained on packed corpus documents
// with the next-token loss, on the shared training core (package train).
package pretrain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// DefaultModelConfig is the base architecture of the demo model: a
// Qwen2-shape decoder of about 1.2M parameters (with a ~1.5k vocabulary),
// small enough to pretrain in minutes on two CPU cores. vocab_size and the
// special token ids are filled in from the trained tokenizer.
const DefaultModelConfig = `{
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

// Specials are the tokenizer's special tokens; the first is EOS, the
// document separator and the padding token. The ChatML pair is there so
// later SFT stages can use a chat template without growing the vocabulary.
var Specials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// Config is a pretraining run, written to the run directory as
// pretrain.json and checked on resume. The field names of the error
// messages are the r1 pretrain flags that set them.
type Config struct {
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

// Validate checks the configuration.
func (o Config) Validate() error {
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
	case o.VocabSize < len(Specials)+256:
		return fmt.Errorf("--vocab-size must be ≥ %d (special tokens + 256 bytes), got %d", len(Specials)+256, o.VocabSize)
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

// Resumable checks that a resumed run uses the first run's configuration
// (prevJSON, its pretrain.json). Only Steps (and the warmup derived from
// it) may change, to extend a run; extended reports that it did.
func Resumable(prevJSON []byte, o Config) (extended bool, err error) {
	var prev Config
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

// Options are how a run is carried out, not what it computes.
type Options struct {
	Out       string
	Resume    bool // continue from the newest checkpoint in Out
	Overwrite bool // start over in an Out that holds a run (see train.Prepare)
	SaveEvery int  // checkpoint every N steps (and at the end and on interrupt)
	KeepLast  int  // checkpoints kept (0 = all)
	LogEvery  int  // progress line every N steps
	Progress  io.Writer
	Log       io.Writer // one-off messages (tokenizer, model, resume)
	AllReduce func([]autograd.Param) error

	// GradientCheckpointing recomputes each layer's activations in the
	// backward pass (model.Model.GradientCheckpointing): less memory, the
	// same gradients, so a run may resume with or without it.
	GradientCheckpointing bool
}

// Result describes a finished run.
type Result struct {
	Steps    int
	Tokens   int64
	LastLoss float64
	Model    *model.Model
	Tok      *tokenizer.Tokenizer
}

// Run pretrains into o.Out: tokenizer, held-out sets, checkpoints,
// metrics.jsonl, and at the end the model in BF16 with its
// generation_config.json.
func Run(ctx context.Context, c Config, o Options, dev tensor.Backend) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if !o.Resume {
		if err := train.Prepare(o.Out, o.Overwrite); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(o.Out, "pretrain.json")
	cfgJSON, _ := json.MarshalIndent(c, "", "  ")
	resume := o.Resume && train.LatestCheckpoint(o.Out) != ""
	var tok *tokenizer.Tokenizer
	var err error
	if resume {
		prev, err := os.ReadFile(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("--resume: %w", err)
		}
		extended, err := Resumable(prev, c)
		if err != nil {
			return nil, fmt.Errorf("--resume: %s: %w", cfgPath, err)
		}
		if extended {
			// A longer --steps extends a run: the cosine schedule is
			// stretched to the new total from the checkpoint on.
			if err := atomicfile.Write(cfgPath, cfgJSON); err != nil {
				return nil, err
			}
		}
		if tok, err = tokenizer.Load(o.Out); err != nil {
			return nil, fmt.Errorf("--resume: %w", err)
		}
	} else {
		if tok, err = trainTokenizer(c, o.Out, o.Log); err != nil {
			return nil, err
		}
		if err := writeHeldOut(o.Out, c); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(cfgPath, cfgJSON); err != nil {
			return nil, err
		}
	}
	mc, err := ModelConfig(c.Config, tok)
	if err != nil {
		return nil, err
	}
	m := model.New(mc, dev, c.Seed)
	m.GradientCheckpointing = o.GradientCheckpointing
	adam := optim.DefaultAdamW()
	adam.LR, adam.Beta2, adam.WeightDecay = c.LR, 0.95, c.WeightDecay
	lm := NewLM(c.Corpus, tok, c.Batch, c.SeqLen)
	tr, err := train.New(train.Config{Out: o.Out, Steps: c.Steps, Seed: c.Seed, Optim: adam,
		Schedule:  optim.Schedule{Kind: "cosine", Warmup: c.Warmup, Total: c.Steps, MinRatio: c.MinLRRatio},
		SaveEvery: o.SaveEvery, KeepCheckpoints: o.KeepLast, LogEvery: o.LogEvery, TokenizerDir: o.Out}, m, lm)
	if err != nil {
		return nil, err
	}
	tr.Progress, tr.AllReduce = o.Progress, o.AllReduce
	if resume {
		if _, err := tr.Resume(); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "resuming from %s (step %d)\n", train.LatestCheckpoint(o.Out), tr.StepsDone())
	}
	fmt.Fprintf(o.Log, "model: %s\n", m.Config.Describe())
	if err := tr.Run(ctx); err != nil {
		return nil, err
	}
	if err := m.Save(o.Out, tensor.BF16); err != nil {
		return nil, err
	}
	gen := map[string]any{"eos_token_id": tok.EOS, "pad_token_id": tok.PAD, "bos_token_id": tok.EOS, "do_sample": true,
		"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 200}
	gj, _ := json.MarshalIndent(gen, "", "  ")
	if err := atomicfile.Write(filepath.Join(o.Out, "generation_config.json"), append(gj, '\n')); err != nil {
		return nil, err
	}
	return &Result{Steps: tr.StepsDone(), Tokens: lm.st.Tokens, LastLoss: lm.st.LastLoss, Model: m, Tok: tok}, nil
}

// LM is the pretraining algorithm: rows of exactly SeqLen tokens packed
// from consecutive corpus documents, each followed by EOS, and the mean
// next-token cross-entropy over every position.
type LM struct {
	corpus     data.CorpusConfig
	tok        *tokenizer.Tokenizer
	batch, seq int
	st         lmState
}

// lmState is LM's part of a checkpoint: the data cursor and counters.
type lmState struct {
	DocCursor int64   `json:"doc_cursor"`
	Tokens    int64   `json:"tokens"`
	LastLoss  float64 `json:"last_loss"`
}

// NewLM returns the algorithm for batches of batch rows of seq tokens.
func NewLM(corpus data.CorpusConfig, tok *tokenizer.Tokenizer, batch, seq int) *LM {
	return &LM{corpus: corpus, tok: tok, batch: batch, seq: seq}
}

// TrainStep implements train.Algorithm: one batch, one update.
func (l *LM) TrainStep(ctx context.Context, u *train.Update) (map[string]float64, error) {
	t0 := time.Now()
	rows, next := PackRows(l.corpus, l.tok, l.st.DocCursor, l.batch, l.seq)
	batch := model.NewBatch(rows, l.tok.EOS)
	batch.Mask = nil // every row is full
	targets := model.NextTokenTargets(batch)
	m := u.Model()
	var loss float64
	if _, err := u.Update(1, func(tp *autograd.Tape, _ int) error {
		var err error
		loss, _, err = m.LMLoss(tp, batch, targets, 1)
		return err
	}); err != nil {
		return nil, err
	}
	n := int64(l.batch * l.seq)
	l.st.DocCursor = next
	l.st.LastLoss = loss
	l.st.Tokens += n
	return map[string]float64{"loss": loss, "tokens": float64(l.st.Tokens),
		"tokens_per_s": float64(n) / time.Since(t0).Seconds()}, nil
}

// State implements train.Algorithm.
func (l *LM) State() any { return l.st }

// Restore implements train.Algorithm.
func (l *LM) Restore(raw json.RawMessage) error {
	if len(raw) == 0 {
		return fmt.Errorf("no pretraining state (data cursor) in the checkpoint")
	}
	return json.Unmarshal(raw, &l.st)
}

// Report implements train.Reporter.
func (l *LM) Report(m map[string]float64) string {
	return fmt.Sprintf("loss %.4f  lr %.3g  grad_norm %.3f  tok/s %.0f", m["loss"], m["lr"], m["grad_norm"], m["tokens_per_s"])
}

// PackRows fills b rows of exactly t tokens with documents from cursor on,
// each followed by EOS. Every row starts at a document boundary (as prompts
// do at inference); a document that overflows a row is cut and not reused.
// It returns the rows and the cursor after the last document consumed.
func PackRows(c data.CorpusConfig, tok *tokenizer.Tokenizer, cursor int64, b, t int) ([][]int32, int64) {
	rows := make([][]int32, b)
	for i := range rows {
		row := make([]int32, 0, t+256)
		for len(row) < t {
			row = append(row, tok.Encode(c.Doc(cursor), false)...)
			row = append(row, tok.EOS)
			cursor++
		}
		rows[i] = row[:t]
	}
	return rows, cursor
}

// trainTokenizer trains the BPE tokenizer on the first documents of the
// corpus and saves tokenizer.json and tokenizer_config.json into dir.
func trainTokenizer(o Config, dir string, log io.Writer) (*tokenizer.Tokenizer, error) {
	t0 := time.Now()
	tok, err := tokenizer.TrainWith(o.Corpus.Docs(0, int64(o.TokDocs)), o.VocabSize, Specials, tokenizer.TrainOptions{SingleDigits: o.SingleDigits})
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
	fmt.Fprintf(log, "tokenizer: %d tokens from %d documents in %s\n", tok.VocabSize(), o.TokDocs, time.Since(t0).Round(time.Millisecond))
	return tok, nil
}

// writeHeldOut writes heldout_<task>.jsonl for r1 zero's before/after
// evaluation; these problems never occur in the corpus.
func writeHeldOut(dir string, o Config) error {
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

// ModelConfig reads the architecture (DefaultModelConfig, or the
// config.json at path) and sets the vocabulary and special token ids from
// the tokenizer.
func ModelConfig(path string, tok *tokenizer.Tokenizer) (*model.Config, error) {
	raw := []byte(DefaultModelConfig)
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
