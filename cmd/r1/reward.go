package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/reward"
	_ "github.com/r1go/r1/reward/all" // every reward, by name
)

func init() {
	register(&command{
		name:    "reward",
		summary: "score completions from a JSONL file with named rewards (for debugging rewards)",
		run:     runReward,
	})
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runReward(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("reward", "--fn NAME[,NAME...] [--weights W,...] --in FILE.jsonl [--out FILE.jsonl]", stderr)
	fns := fs.String("fn", "", "comma-separated reward names (see --list)")
	weights := fs.String("weights", "", "comma-separated weights, one per --fn reward (default 1 each)")
	var params multiFlag
	fs.Var(&params, "param", "reward parameter as LABEL.KEY=VALUE, e.g. overlong.max_len=4096 (repeatable; VALUE is JSON or a plain string)")
	configPath := fs.String("config", "", "YAML reward config ({rewards: [{name, weight, label, params, timeout}], workers, timeout}) instead of --fn")
	in := fs.String("in", "-", "input JSONL: one object per line with prompt, completion and the dataset fields (top-level or under \"fields\"); - is stdin")
	out := fs.String("out", "-", "output JSONL of per-line scores; - is stdout (the summary then goes to stderr)")
	timeout := fs.Duration("timeout", reward.DefaultTimeout, "per-sample time limit of each reward")
	workers := fs.Int("workers", 0, "samples × rewards scored at once (0 = number of CPUs)")
	batch := fs.Int("batch", 256, "lines scored per batch (a remote reward gets one request per batch)")
	list := fs.Bool("list", false, "list the registered rewards and exit")
	usageNotes(fs, `Input lines are the rows r1 sample writes (or any JSONL with a "completion"):
"tokens" may be a count or a list of token ids; finish_reason "length" means
truncated. Output: one line per input line, {"line": N, "total": ..., "scores":
{...}} with the input line's other fields carried on (so the output feeds
r1 sft --cold-start; an input field named line, total, scores or error is
kept as input_<name>), or {"line": N, "error": "..."} for a blank or
unreadable line.
--out may not be an input (the same file, also through links); it is replaced
atomically, and keeps the lines answered before an interruption.
exit status: 0 all lines scored; 1 a line could not be read (every line is
still answered) or the run failed; 2 bad flags; 130/143 interrupted.`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *list {
		for _, n := range reward.Names() {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if *batch <= 0 {
		return fmt.Errorf("--batch: expected > 0, got %d", *batch)
	}
	cfg, err := rewardConfig(*configPath, *fns, *weights, params, fs)
	if err != nil {
		return err
	}
	if setFlag(fs, "timeout") || cfg.Timeout == 0 {
		cfg.Timeout = *timeout
	}
	if setFlag(fs, "workers") {
		cfg.Workers = *workers
	}
	scorer, err := reward.NewScorer(cfg)
	if err != nil {
		if *configPath != "" {
			return fmt.Errorf("%s: %w", *configPath, err)
		}
		return err
	}

	var r io.Reader = stdin
	inName := "stdin"
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		r, inName = f, *in
	}
	if *out != "-" {
		if err := refuseOverwrite(*out, *in, stdin); err != nil {
			return err
		}
	}

	var sum reward.Summary
	var st rewardRun
	labelErr := map[string]string{} // label → "line N: error", shown in the summary
	score := func(w io.Writer) error {
		st.err = scoreLines(ctx, scorer, r, inName, *batch, w, &sum, labelErr, &st)
		return nil // what was scored is kept even when the run stops early
	}
	summaryTo := stderr
	if *out == "-" {
		bw := bufio.NewWriter(stdout)
		score(bw)
		if err := bw.Flush(); err != nil && st.err == nil {
			st.err = err
		}
	} else {
		// The output replaces --out only once written (an existing file is
		// never left truncated); the lines answered before an interruption
		// or a read error are kept.
		if err := atomicfile.WriteFunc(*out, score); err != nil {
			return firstErr(st.err, err)
		}
		summaryTo = stdout
	}
	if st.samples > 0 {
		printSummary(summaryTo, st.samples, &sum, labelErr)
	}
	if st.err != nil {
		if *out != "-" && st.lines > 0 {
			return fmt.Errorf("%w (the %d lines answered are in %s)", st.err, st.lines, *out)
		}
		return st.err
	}
	if st.samples == 0 {
		msg := fmt.Sprintf("%s: no samples (expected JSONL with a \"completion\" per line)", inName)
		if st.bad > 0 {
			msg += "; the first unreadable line: " + st.firstBad
		}
		return errors.New(msg)
	}
	if st.bad > 0 {
		return fmt.Errorf("%d of %d lines could not be scored (they have an \"error\" in the output); the first: %s", st.bad, st.lines, st.firstBad)
	}
	return nil
}

// rewardRun counts what scoreLines did.
type rewardRun struct {
	lines, samples, bad int // lines answered; of them scored, and unreadable
	firstBad            string
	err                 error // why the run stopped early, if it did
}

// rewardRecord is one output line of r1 reward: the scores of input line
// Line, or Error when the line could not be read.
type rewardRecord struct {
	Line   int                     `json:"line"`
	Total  *float64                `json:"total,omitempty"`
	Scores map[string]reward.Score `json:"scores,omitempty"`
	Error  string                  `json:"error,omitempty"`
}

// withInput is rec with the fields of its input line carried on (prompt,
// completion, finish_reason, the dataset's fields…), so r1 reward's output
// is the input of the next command (r1 sft --cold-start) with no glue. An
// input field named like an output key is kept as "input_<key>".
func withInput(rec rewardRecord, input []byte) any {
	var row map[string]json.RawMessage
	if len(input) == 0 || json.Unmarshal(input, &row) != nil {
		return rec
	}
	out := map[string]any{}
	for k, v := range row {
		out[k] = v
	}
	for _, k := range []string{"line", "total", "scores", "error"} {
		if v, ok := out[k]; ok {
			out["input_"+k] = v
			delete(out, k)
		}
	}
	out["line"] = rec.Line
	if rec.Total != nil {
		out["total"], out["scores"] = *rec.Total, rec.Scores
	}
	if rec.Error != "" {
		out["error"] = rec.Error
	}
	return out
}

// scoreLines reads JSONL samples from r, scores them a batch at a time and
// writes one line per input line, in order: its scores, or an error for a
// blank or unreadable line.
func scoreLines(ctx context.Context, scorer *reward.Scorer, r io.Reader, inName string, batch int, w io.Writer,
	sum *reward.Summary, labelErr map[string]string, st *rewardRun) error {
	enc := json.NewEncoder(w)
	type entry struct {
		lineNo int
		sample int // index into samples, or -1
		err    string
		input  []byte // the line, whose fields the output carries on
	}
	var entries []entry
	var samples []reward.Sample
	flush := func() error {
		var res reward.Result
		if len(samples) > 0 {
			res = scorer.Score(ctx, samples)
			if err := ctx.Err(); err != nil {
				return err // scores cut short are no answer: this batch is not written
			}
			sum.Add(res)
		}
		for _, e := range entries {
			rec := rewardRecord{Line: e.lineNo, Error: e.err}
			if e.sample >= 0 {
				total := res.Total[e.sample]
				rec.Total, rec.Scores = &total, res.Row(e.sample)
				for l, sc := range rec.Scores {
					if _, seen := labelErr[l]; !seen && sc.Err != "" {
						labelErr[l] = fmt.Sprintf("line %d: %s", e.lineNo, sc.Err)
					}
				}
				st.samples++
			}
			if err := enc.Encode(withInput(rec, e.input)); err != nil {
				return err
			}
			st.lines++
		}
		entries, samples = entries[:0], samples[:0]
		return ctx.Err()
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			if err := flush(); err != nil {
				return err
			}
			return fmt.Errorf("%s: reading line %d: %w", inName, lineNo, rerr)
		}
		if len(line) > 0 { // not the empty tail after a final newline
			var s reward.Sample
			err := errors.New(`blank line (expected a JSON object with a "completion")`)
			if len(bytes.TrimSpace(line)) > 0 {
				s, err = parseSampleLine(line)
			}
			if err != nil {
				msg := fmt.Sprintf("%s:%d: %v", inName, lineNo, err)
				if st.bad == 0 {
					st.firstBad = msg
				}
				st.bad++
				entries = append(entries, entry{lineNo: lineNo, sample: -1, err: msg})
			} else {
				entries = append(entries, entry{lineNo: lineNo, sample: len(samples), input: bytes.Clone(line)})
				samples = append(samples, s)
			}
			if len(entries) >= batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	return flush()
}

// refuseOverwrite fails when the output file out is also an input: the file
// named in (unless "-"), or stdin when it is a file. Links count: the files
// are compared with os.SameFile.
func refuseOverwrite(out, in string, stdin io.Reader) error {
	ost, err := os.Stat(out)
	if err != nil {
		return nil // a new file is nobody's input
	}
	if in != "-" && in != "" {
		if ist, err := os.Stat(in); err == nil && os.SameFile(ist, ost) {
			return usageErrorf("--out %s is the input file %s: writing it would destroy the input; choose another output file", out, in)
		}
	}
	if f, ok := stdin.(*os.File); ok && (in == "-" || in == "") {
		if ist, err := f.Stat(); err == nil && ist.Mode().IsRegular() && os.SameFile(ist, ost) {
			return usageErrorf("--out %s is the file on standard input: writing it would destroy the input; choose another output file", out)
		}
	}
	return nil
}

func setFlag(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// rewardConfig builds the config from --config or --fn/--weights, then
// applies --param overrides.
func rewardConfig(path, fns, weights string, params []string, fs *flag.FlagSet) (reward.Config, error) {
	var cfg reward.Config
	switch {
	case path != "" && fns != "":
		return cfg, errors.New("--config and --fn are exclusive: list the rewards in one place")
	case path != "":
		if weights != "" {
			return cfg, errors.New("--weights needs --fn; put weights in the --config file")
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	case fns != "":
		names := strings.Split(fns, ",")
		var ws []string
		if weights != "" {
			ws = strings.Split(weights, ",")
			if len(ws) != len(names) {
				return cfg, fmt.Errorf("--weights: got %d weights for %d rewards in --fn", len(ws), len(names))
			}
		}
		for i, n := range names {
			sp := reward.Spec{Name: strings.TrimSpace(n)}
			if ws != nil {
				w, err := strconv.ParseFloat(strings.TrimSpace(ws[i]), 64)
				if err != nil {
					return cfg, fmt.Errorf("--weights: item %d: expected a number, got %q", i+1, ws[i])
				}
				sp.Weight = &w
			}
			cfg.Rewards = append(cfg.Rewards, sp)
		}
	default:
		fs.Usage()
		return cfg, errUsage
	}
	for _, p := range params {
		key, val, ok := strings.Cut(p, "=")
		label, name, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || label == "" || name == "" {
			return cfg, fmt.Errorf("--param %q: expected LABEL.KEY=VALUE", p)
		}
		var v any
		if err := json.Unmarshal([]byte(val), &v); err != nil {
			v = val // not JSON: a plain string
		}
		found := false
		for i := range cfg.Rewards {
			if cfg.Rewards[i].L() == label {
				if cfg.Rewards[i].Params == nil {
					cfg.Rewards[i].Params = map[string]any{}
				}
				cfg.Rewards[i].Params[name] = v
				found = true
			}
		}
		if !found {
			return cfg, fmt.Errorf("--param %q: no reward labelled %q", p, label)
		}
	}
	return cfg, nil
}

// parseSampleLine reads one JSONL record. Keys other than prompt,
// completion, fields, tokens and truncated are dataset fields too, so a
// dataset row with a "completion" added scores as is.
func parseSampleLine(line []byte) (reward.Sample, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return reward.Sample{}, fmt.Errorf("invalid JSON object: %w", err)
	}
	var s reward.Sample
	c, ok := raw["completion"]
	if !ok {
		return s, errors.New(`missing "completion" (a string)`)
	}
	if err := json.Unmarshal(c, &s.Completion); err != nil {
		return s, errors.New(`"completion": expected a string`)
	}
	if p, ok := raw["prompt"]; ok {
		if err := json.Unmarshal(p, &s.Prompt); err != nil {
			return s, errors.New(`"prompt": expected a string`)
		}
	}
	if t, ok := raw["tokens"]; ok {
		n, err := tokenCount(t)
		if err != nil {
			return s, err
		}
		s.Tokens = n
	}
	if t, ok := raw["truncated"]; ok {
		if err := json.Unmarshal(t, &s.Truncated); err != nil {
			return s, errors.New(`"truncated": expected true or false`)
		}
	} else if f, ok := raw["finish_reason"]; ok {
		// r1 sample's rows say why generation stopped instead.
		var reason string
		if err := json.Unmarshal(f, &reason); err != nil {
			return s, errors.New(`"finish_reason": expected a string`)
		}
		s.Truncated = reason == "length"
	}
	s.Fields = map[string]any{}
	for k, v := range raw {
		switch k {
		case "prompt", "completion", "fields", "tokens", "truncated":
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return s, fmt.Errorf("%q: %w", k, err)
		}
		s.Fields[k] = x
	}
	if f, ok := raw["fields"]; ok {
		var fields map[string]any
		if err := json.Unmarshal(f, &fields); err != nil {
			return s, errors.New(`"fields": expected a JSON object`)
		}
		for k, v := range fields {
			s.Fields[k] = v // explicit fields win over top-level keys
		}
	}
	return s, nil
}

// tokenCount reads "tokens": a count, or the list of token ids r1 sample
// writes (its length).
func tokenCount(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var ids []json.RawMessage
		if err := json.Unmarshal(raw, &ids); err != nil {
			return 0, errors.New(`"tokens": expected a count or a list of token ids`)
		}
		return len(ids), nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 || n != math.Trunc(n) || n > math.MaxInt32 {
		return 0, fmt.Errorf(`"tokens": expected a count (a non-negative integer) or a list of token ids, got %s`, truncate(string(raw), 40))
	}
	return int(n), nil
}

func printSummary(w io.Writer, lines int, sum *reward.Summary, firstErr map[string]string) {
	fmt.Fprintf(w, "%d samples\n", lines)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "reward\tweight\tmean\tstd\tmin\tmax\terrors\ttimeouts\t")
	for _, st := range sum.Stats() {
		fmt.Fprintf(tw, "%s\t%g\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%d\t\n", st.Label, st.Weight, st.Mean, st.Std, st.Min, st.Max, st.Errors, st.Timeouts)
		keys := make([]string, 0, len(st.Parts))
		for k := range st.Parts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  .%s\t\t%.4f\t\t\t\t\t\t\n", k, st.Parts[k])
		}
	}
	t := sum.Total()
	fmt.Fprintf(tw, "total\t\t%.4f\t%.4f\t%.4f\t%.4f\t\t\t\n", t.Mean, t.Std, t.Min, t.Max)
	tw.Flush()
	for _, st := range sum.Stats() {
		if e, ok := firstErr[st.Label]; ok {
			fmt.Fprintf(w, "%s: %d error(s), first at %s\n", st.Label, st.Errors, e)
		}
	}
}
