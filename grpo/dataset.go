package grpo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/r1go/r1/chat"
)

// Row is one training problem: what the prompt is built from and the
// fields the rewards check against.
type Row struct {
	Input  chat.PromptInput
	Fields map[string]any
}

// builtin maps dataset names to files under DataDir.
var builtin = map[string]map[string]string{
	"gsm8k":     {"train": "gsm8k/train.jsonl", "test": "gsm8k/test.jsonl"},
	"math500":   {"test": "math500/test.jsonl"},
	"aime24":    {"test": "competition_math/aime24.jsonl"},
	"amc23":     {"test": "competition_math/amc23.jsonl"},
	"countdown": {"train": "countdown/train.jsonl", "test": "countdown/test.jsonl"},
}

// SyntheticSource produces the synthetic problems of the tiny demo for a
// dataset name "synthetic" or "synthetic:KIND" (set by the CLI, which wires
// in package data, to keep grpo free of the corpus code).
var SyntheticSource func(name, split string, n int) ([]Row, error)

// LoadRows reads the dataset of c.
func LoadRows(c DataConfig) ([]Row, error) {
	if c.Dataset == "synthetic" || strings.HasPrefix(c.Dataset, "synthetic:") {
		if SyntheticSource == nil {
			return nil, fmt.Errorf("data.dataset: synthetic problems are not available in this build")
		}
		n := c.Limit
		if n == 0 {
			n = 5000
		}
		return SyntheticSource(c.Dataset, c.Split, n)
	}
	path := c.Dataset
	name := c.Dataset
	if files, ok := builtin[c.Dataset]; ok {
		split := c.Split
		if split == "" {
			split = "train"
		}
		f, ok := files[split]
		if !ok {
			// Evaluation-only sets have just a test split.
			if f, ok = files["test"]; !ok || split != "train" {
				return nil, fmt.Errorf("data.split: dataset %s has no split %q", c.Dataset, split)
			}
		}
		path = filepath.Join(c.DataDir, f)
	} else if !strings.HasSuffix(path, ".jsonl") {
		return nil, fmt.Errorf("data.dataset: %q is neither a built-in dataset (gsm8k, math500, aime24, amc23, countdown, synthetic) nor a .jsonl file", c.Dataset)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data.dataset: %w", err)
	}
	defer fh.Close()
	var rows []Row
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		r, err := rowFrom(name, raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		rows = append(rows, r)
		if c.Limit > 0 && len(rows) == c.Limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return rows, nil
}

// rowFrom maps one JSON object to a Row, normalising the gold answer
// (GSM8K's worked solution → the number after ####; numbers → strings).
func rowFrom(dataset string, raw map[string]any) (Row, error) {
	r := Row{Fields: raw}
	if nums, ok := raw["nums"].([]any); ok { // Countdown
		for _, n := range nums {
			f, ok := n.(float64)
			if !ok {
				return r, fmt.Errorf("field \"nums\": want numbers, got %v", n)
			}
			r.Input.Numbers = append(r.Input.Numbers, int(f))
		}
		t, ok := raw["target"].(float64)
		if !ok {
			return r, fmt.Errorf("field \"target\" is missing or not a number")
		}
		r.Input.Target = int(t)
		if q, ok := raw["problem"].(string); ok {
			r.Input.Question = q
		} else {
			r.Input.Question = chat.CountdownTask(r.Input.Numbers, r.Input.Target)
		}
		return r, nil
	}
	for _, k := range []string{"problem", "question", "prompt"} {
		if q, ok := raw[k].(string); ok && q != "" {
			r.Input.Question = q
			break
		}
	}
	if r.Input.Question == "" {
		return r, fmt.Errorf("no \"problem\", \"question\" or \"prompt\" field")
	}
	ans, ok := raw["answer"]
	if !ok || ans == nil {
		return r, fmt.Errorf("field \"answer\" (the gold answer the reward checks) is missing")
	}
	switch a := ans.(type) {
	case string:
		if i := strings.LastIndex(a, "####"); i >= 0 && dataset == "gsm8k" {
			a = strings.ReplaceAll(strings.TrimSpace(a[i+4:]), ",", "")
		}
		r.Fields["answer"] = a
	case float64:
		r.Fields["answer"] = fmt.Sprint(a)
	default:
		return r, fmt.Errorf("field \"answer\": want a string or number, got %T", ans)
	}
	return r, nil
}
