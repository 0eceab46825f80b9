package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/r1go/r1/data"
	rmreward "github.com/r1go/r1/reward/rm"
	"github.com/r1go/r1/rm"
)

func init() {
	register(&command{
		name:    "rm",
		summary: "reward models: rm train (Bradley–Terry on preference pairs), rm score (JSONL lines in, {\"score\"} lines out)",
		run:     runRM,
	})
}

func runRM(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "train":
			return runRMTrain(ctx, args[1:], stdout, stderr)
		case "score":
			return runRMScore(ctx, args[1:], stdin, stdout, stderr)
		case "pairs":
			return runRMPairs(args[1:], stdout, stderr)
		case "prompts":
			return runRMPrompts(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "usage: r1 rm train --model DIR --data pairs.jsonl --out DIR [flags]\n       r1 rm score --model DIR --jsonl < rows.jsonl > scores.jsonl\n       r1 rm pairs --synthetic helpful|harmless --n N --out pairs.jsonl\n       r1 rm prompts --dataset synthetic --general-every 2 --out prompts.jsonl\n(r1 rm train -h, r1 rm score -h, r1 rm pairs -h, r1 rm prompts -h for the flags)\n")
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		return nil
	case len(args) == 0:
		return usageErrorf("rm: a subcommand is required: train, score, pairs or prompts")
	case strings.HasPrefix(args[0], "-"):
		return usageErrorf("rm: flag provided but not defined: %s (the subcommand comes first: train, score, pairs or prompts)", args[0])
	}
	return usageErrorf("rm: unexpected argument %q (want a subcommand: train, score, pairs or prompts)", args[0])
}

func runRMTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rm train", "--model DIR --data pairs.jsonl --out DIR [--config FILE.yaml] [--set key=value ...]", stderr)
	config := fs.String("config", "", "YAML config (keys as in --print-config); unset keys keep their defaults")
	modelDir := fs.String("model", "", "model to start from: a causal LM (its LM head is replaced by a score head) or a reward model; a Hugging Face checkpoint directory or builtin:tiny (sets model)")
	dataPath := fs.String("data", "", "preference pairs, JSONL, JSONL.gz or a JSON array: "+data.PairFormats+" (sets data)")
	out := fs.String("out", "", "run directory; the trained reward model is saved there in the Hugging Face *ForSequenceClassification layout (sets out)")
	lr := fs.Float64("lr", 0, "peak learning rate (sets optimizer.lr; default 1e-5; the tiny model wants ~1e-3)")
	epochs := fs.Int("epochs", 0, "passes over the training pairs (sets epochs; default 1)")
	skipBad := fs.Bool("skip-bad-rows", false, "skip malformed pairs, printing how many and why, instead of stopping at the first (sets skip_bad_rows)")
	var sets setFlags
	fs.Var(&sets, "set", "override a config key, e.g. --set eval_fraction=0.2 (repeatable; dotted YAML keys)")
	rf := declareRunFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var pre []string
	for _, kv := range []struct{ key, val string }{{"model", *modelDir}, {"data", *dataPath}, {"out", *out}} {
		if kv.val != "" {
			pre = append(pre, kv.key+"="+kv.val)
		}
	}
	if *lr > 0 {
		pre = append(pre, "optimizer.lr="+strconv.FormatFloat(*lr, 'g', -1, 64))
	}
	if *epochs > 0 {
		pre = append(pre, fmt.Sprintf("epochs=%d", *epochs))
	}
	if *skipBad {
		pre = append(pre, "skip_bad_rows=true")
	}
	cfg := rm.Default()
	if done, err := loadRunConfig(*config, append(pre, sets...), &cfg, &cfg.Model, *rf.printConfig, stdout); done || err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	dev, err := openRun(cfg.Out, *rf.resume, *rf.overwrite, cfg.Device)
	if err != nil {
		return err
	}
	tr, err := rm.New(cfg, dev)
	if err != nil {
		return err
	}
	tr.Progress = stdout
	for _, b := range tr.Bad {
		fmt.Fprintf(stderr, "skipped %s: %v\n", b.Source, b.Err)
	}
	fmt.Fprintf(stdout, "rm: %d training pairs, %d held out, %d steps; %d malformed rows skipped, %d sequences cut to their last %d tokens\n",
		len(tr.Train), len(tr.Eval), tr.Trainer.Config.Steps, len(tr.Bad), tr.Truncated, tr.Config.MaxSeqLen)
	stopDash, err := serveDashboard(*rf.dashboard, cfg.Out, stdout)
	if err != nil {
		return err
	}
	defer stopDash()
	if err := runTraining(ctx, tr, cfg.Out, *rf.resume, tr.SaveFinal, stdout); err != nil {
		return err
	}
	msg := fmt.Sprintf("done: %d steps; reward model saved in %s", tr.StepsDone(), cfg.Out)
	if len(tr.Eval) > 0 {
		m := map[string]float64{}
		if err := tr.Evaluate(m); err != nil {
			return err
		}
		msg += fmt.Sprintf(" (held-out pairwise accuracy %.3f over %d pairs, mean margin %.3f)", m["eval/accuracy"], len(tr.Eval), m["eval/margin"])
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

func runRMScore(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("rm score", "--model DIR --jsonl < rows.jsonl > scores.jsonl", stderr)
	modelDir := fs.String("model", "", "reward model directory (as r1 rm train writes: *ForSequenceClassification, num_labels 1)")
	jsonl := fs.Bool("jsonl", false, "read rows "+rmreward.LineFormats+" from stdin and write one {\"score\": float} line per row, in order")
	batch := fs.Int("batch", 16, "rows per forward pass")
	maxLen := fs.Int("max-len", 0, "keep the last N tokens of a longer text (0: the model's context)")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	usageNotes(fs, lineExitNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelDir == "" || !*jsonl {
		fs.Usage()
		return fmt.Errorf("--model and --jsonl are required")
	}
	if err := flagRange("batch", int64(*batch), 1, 4096); err != nil {
		return err
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	dir, err := resolveModel(*modelDir)
	if err != nil {
		return err
	}
	sc, err := rmreward.LoadScorer(dir, dev)
	if err != nil {
		return err
	}
	sc.Batch = *batch
	if *maxLen > 0 {
		sc.MaxLen = min(*maxLen, sc.MaxLen)
	}
	return scoreJSONL(ctx, sc, stdin, stdout)
}

// scoreJSONL answers every line of in with one line of out, in order,
// scoring sc.Batch lines per forward pass.
func scoreJSONL(ctx context.Context, sc *rmreward.Scorer, in io.Reader, out io.Writer) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	type line struct {
		text string
		err  string
	}
	var pending []line
	bad, lines, firstBad := 0, 0, ""
	flush := func() error {
		var texts []string
		for _, l := range pending {
			if l.err == "" {
				texts = append(texts, l.text)
			}
		}
		scores, err := sc.Score(texts)
		if err != nil {
			return err
		}
		k := 0
		for _, l := range pending {
			var b []byte
			if l.err != "" {
				b, _ = json.Marshal(map[string]string{"error": l.err})
			} else {
				b, _ = json.Marshal(map[string]float64{"score": scores[k]})
				k++
			}
			w.Write(b)
			w.WriteByte('\n')
		}
		pending = pending[:0]
		return w.Flush()
	}
	err := eachLine(in, func(raw []byte, n int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		lines++
		var row map[string]json.RawMessage
		err := json.Unmarshal(raw, &row)
		var text string
		if err == nil {
			text, err = rmreward.Text(row, sc.Template)
		}
		if err != nil {
			msg := fmt.Sprintf("stdin line %d: %v", n, err)
			if bad == 0 {
				firstBad = msg
			}
			bad++
			pending = append(pending, line{err: msg})
		} else {
			pending = append(pending, line{text: text})
		}
		if len(pending) >= sc.Batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d lines got no score (answered with an \"error\"); the first: %s", bad, lines, firstBad)
	}
	return nil
}

func runRMPairs(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rm pairs", "(--synthetic helpful|harmless --n N --seed S | --from-scored scored.jsonl --label NAME) --out pairs.jsonl", stderr)
	kind := fs.String("synthetic", "", "draw synthetic preferences of the tiny model's world: helpful (summaries: a clear, right result beats a wrong or unclear one) or harmless (whole completions: reasoning with the forbidden word \""+data.ForbiddenWord+"\" is rejected)")
	n := fs.Int("n", 2000, "with --synthetic: pairs to draw")
	seed := fs.Uint64("seed", 1, "with --synthetic: random seed (the same seed draws the same pairs)")
	scored := fs.String("from-scored", "", "build on-policy pairs from a model's scored samples (r1 reward output, or an RL run's samples.jsonl): per prompt, a completion with score ≥ 1 is chosen over one below")
	label := fs.String("label", "math", "with --from-scored: the score that marks a completion correct")
	perPrompt := fs.Int("per-prompt", 0, "with --from-scored: at most this many pairs per prompt (0: as many as there are correct/incorrect couples)")
	out := fs.String("out", "", "JSONL file to write ({\"prompt\",\"chosen\",\"rejected\",\"type\"} rows, the input of r1 rm train and r1 dpo)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*kind == "") == (*scored == "") || *out == "" {
		fs.Usage()
		return fmt.Errorf("one of --synthetic and --from-scored, and --out, are required")
	}
	var rows []data.PreferenceRow
	var err error
	what := *kind
	if *kind != "" {
		rows, err = data.SyntheticPreferences(*kind, *n, *seed)
	} else {
		var ss []data.ScoredSample
		if ss, err = data.ReadJSONLFile[data.ScoredSample](*scored); err == nil {
			rows, err = data.PairsFromScored(ss, *label, *perPrompt)
			err = wrapErr(err, *scored)
		}
		what = "on-policy (" + *label + ")"
	}
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("no pairs: no prompt has both a completion scored ≥ 1 and one below on %q", *label)
	}
	if err := data.WriteJSONLFile(*out, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d %s pairs to %s\n", len(rows), what, *out)
	return nil
}

// wrapErr prefixes err with the file it concerns.
func wrapErr(err error, file string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", file, err)
}

func runRMPrompts(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rm prompts", "--dataset synthetic --general-every 2 --out prompts.jsonl", stderr)
	dataset := fs.String("dataset", "synthetic", "math problems to write: a dataset of the registry (its train split) or a JSONL file")
	every := fs.Int("general-every", 2, "make every Nth row a general prompt ({\"problem\", \"kind\": \"general\"}, no answer) for a run with reward_routing; the others keep their answers")
	limit := fs.Int("limit", 0, "use the first N problems (0: all; synthetic: how many to draw, default 5000)")
	out := fs.String("out", "", "JSONL file to write (the data.dataset of r1 grpo)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("--out is required")
	}
	ds, err := data.Open(*dataset, data.SplitTrain, data.Options{Dir: data.FindDir(), Limit: *limit})
	if err != nil {
		return err
	}
	rows, err := data.MixedPrompts(ds, *every)
	if err != nil {
		return err
	}
	if err := data.WriteJSONLFile(*out, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d prompts (every %d%s general) to %s\n", len(rows), *every, ordinal(*every), *out)
	return nil
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return "th"
	case n%10 == 1:
		return "st"
	case n%10 == 2:
		return "nd"
	case n%10 == 3:
		return "rd"
	}
	return "th"
}
