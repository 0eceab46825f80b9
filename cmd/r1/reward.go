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
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

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
	var w io.Writer = stdout
	summaryTo := stderr
	var outFile *os.File
	if *out != "-" {
		if outFile, err = os.Create(*out); err != nil {
			return err
		}
		defer outFile.Close()
		w, summaryTo = outFile, stdout
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)

	var sum reward.Summary
	firstErr := map[string]string{} // label → "line N: error", shown in the summary
	lines := 0
	flush := func(samples []reward.Sample, lineNos []int) error {
		if len(samples) == 0 {
			return nil
		}
		res := scorer.Score(ctx, samples)
		sum.Add(res)
		for i := range samples {
			rec := struct {
				Line   int                     `json:"line"`
				Total  float64                 `json:"total"`
				Scores map[string]reward.Score `json:"scores"`
			}{lineNos[i], res.Total[i], res.Row(i)}
			for l, sc := range rec.Scores {
				if _, seen := firstErr[l]; !seen && sc.Err != "" {
					firstErr[l] = fmt.Sprintf("line %d: %s", lineNos[i], sc.Err)
				}
			}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	var samples []reward.Sample
	var lineNos []int
	br := bufio.NewReaderSize(r, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("%s: %w", inName, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			s, err := parseSampleLine(line)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", inName, lineNo, err)
			}
			samples, lineNos = append(samples, s), append(lineNos, lineNo)
			lines++
			if len(samples) == *batch {
				if err := flush(samples, lineNos); err != nil {
					return err
				}
				samples, lineNos = samples[:0], lineNos[:0]
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := flush(samples, lineNos); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if outFile != nil {
		if err := outFile.Close(); err != nil {
			return err
		}
	}
	if lines == 0 {
		return fmt.Errorf("%s: no samples (expected JSONL with a \"completion\" per line)", inName)
	}
	printSummary(summaryTo, lines, &sum, firstErr)
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
		if err := json.Unmarshal(t, &s.Tokens); err != nil || s.Tokens < 0 {
			return s, errors.New(`"tokens": expected a non-negative integer`)
		}
	}
	if t, ok := raw["truncated"]; ok {
		if err := json.Unmarshal(t, &s.Truncated); err != nil {
			return s, errors.New(`"truncated": expected true or false`)
		}
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
