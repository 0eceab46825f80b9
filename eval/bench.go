package eval

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/r1go/r1/chat"
)

// Kind is how a benchmark's samples are checked.
type Kind string

// Checker kinds.
const (
	// KindMath extracts the final answer and compares it with the gold
	// answer by mathverify equivalence.
	KindMath Kind = "math"
	// KindCountdown scores with the "countdown" reward (1.0 = correct).
	KindCountdown Kind = "countdown"
	// KindCode runs the row's tests in the sandbox with the "code" reward;
	// a sample is correct when every test passes.
	KindCode Kind = "code"
)

// Problem is one benchmark item.
type Problem struct {
	// Index is the row's position among the benchmark's problems (after
	// any split filter), the key of the resume cache.
	Index int
	// ID is the dataset's own id when it has one.
	ID string
	// Question is the task text that prompt formats wrap.
	Question string
	// Continuation, for code, is the text a base model continues in the
	// plain format (HumanEval's function signature and docstring).
	Continuation string
	// ContinuationStops end a plain-format continuation: a base model
	// continuing a function goes on to write more top-level code, which
	// HumanEval's harness cuts at these markers before running the tests.
	ContinuationStops []string
	// Gold is the reference answer shown in reports (math: the answer the
	// checker compares with).
	Gold string
	// Fields is the dataset row handed to the rewards.
	Fields map[string]any
}

// Benchmark is a loaded benchmark.
type Benchmark struct {
	Name     string
	Kind     Kind
	File     string
	Problems []Problem
}

// builtin describes a benchmark shipped in shared/data.
type builtin struct {
	file string
	kind Kind
	// row turns one JSON row into a problem; keep=false drops it (split).
	row func(r map[string]any) (p Problem, keep bool, err error)
}

// Builtins lists the built-in benchmark names, sorted.
func Builtins() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var builtins = map[string]builtin{
	"gsm8k": {file: "gsm8k/test.jsonl", kind: KindMath, row: func(r map[string]any) (Problem, bool, error) {
		q, err := str(r, "question")
		if err != nil {
			return Problem{}, false, err
		}
		a, err := str(r, "answer")
		if err != nil {
			return Problem{}, false, err
		}
		i := strings.LastIndex(a, "####")
		if i < 0 {
			return Problem{}, false, fmt.Errorf(`field "answer": expected a solution ending in "#### <number>"`)
		}
		gold := strings.ReplaceAll(strings.TrimSpace(a[i+4:]), ",", "")
		return Problem{Question: q, Gold: gold}, true, nil
	}},
	"math500": {file: "math500/test.jsonl", kind: KindMath, row: mathRow("unique_id")},
	"aime24":  {file: "competition_math/aime24.jsonl", kind: KindMath, row: mathRow("id")},
	"amc23":   {file: "competition_math/amc23.jsonl", kind: KindMath, row: mathRow("id")},
	"countdown": {file: "countdown/test.jsonl", kind: KindCountdown, row: func(r map[string]any) (Problem, bool, error) {
		nums, target, err := countdownTask(r)
		if err != nil {
			return Problem{}, false, err
		}
		return Problem{Question: chat.CountdownTask(nums, target), Gold: strconv.Itoa(target)}, true, nil
	}},
	"humaneval": {file: "code/HumanEval.jsonl.gz", kind: KindCode, row: func(r map[string]any) (Problem, bool, error) {
		prompt, err := str(r, "prompt")
		if err != nil {
			return Problem{}, false, err
		}
		for _, f := range []string{"test", "entry_point"} {
			if _, err := str(r, f); err != nil {
				return Problem{}, false, err
			}
		}
		q := "Complete the following Python function. Reply with the whole function in a ```python code block.\n\n```python\n" +
			prompt + "```"
		id, _ := r["task_id"].(string)
		return Problem{ID: id, Question: q, Continuation: prompt, ContinuationStops: humanEvalStops}, true, nil
	}},
	"mbpp": {file: "code/mbpp.jsonl", kind: KindCode, row: func(r map[string]any) (Problem, bool, error) {
		// The official test split is task ids 11..510 (1..10 are the
		// few-shot examples, 511+ train).
		idf, ok := r["task_id"].(float64)
		if !ok {
			return Problem{}, false, fmt.Errorf(`field "task_id": expected a number`)
		}
		if idf < 11 || idf > 510 {
			return Problem{}, false, nil
		}
		text, err := str(r, "text")
		if err != nil {
			return Problem{}, false, err
		}
		raw, _ := r["test_list"].([]any)
		var tests []string
		for _, t := range raw {
			if s, ok := t.(string); ok {
				tests = append(tests, s)
			}
		}
		if len(tests) == 0 {
			return Problem{}, false, fmt.Errorf(`field "test_list": expected a list of assert strings`)
		}
		q := text + " Your code should pass these tests:\n\n" + strings.Join(tests, "\n") +
			"\n\nReply with the code in a ```python code block."
		return Problem{ID: strconv.Itoa(int(idf)), Question: q, Continuation: q + "\n"}, true, nil
	}},
}

// humanEvalStops are the stop sequences of the HumanEval paper's
// evaluation (top-level statements after the function).
var humanEvalStops = []string{"\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint("}

// mathRow reads a row with "problem" and "answer" (string or number).
func mathRow(idField string) func(r map[string]any) (Problem, bool, error) {
	return func(r map[string]any) (Problem, bool, error) {
		q, err := str(r, "problem")
		if err != nil {
			return Problem{}, false, err
		}
		gold, err := answerText(r["answer"])
		if err != nil {
			return Problem{}, false, fmt.Errorf(`field "answer": %w`, err)
		}
		var id string
		switch v := r[idField].(type) {
		case string:
			id = v
		case float64:
			id = strconv.FormatFloat(v, 'f', -1, 64)
		}
		return Problem{ID: id, Question: q, Gold: gold}, true, nil
	}
}

// answerText turns a JSON answer into text: AMC answers are numbers
// (27.0 → "27"), AIME answers zero-padded strings, kept as is because
// mathverify compares them numerically.
func answerText(v any) (string, error) {
	switch a := v.(type) {
	case string:
		if strings.TrimSpace(a) == "" {
			return "", fmt.Errorf("expected a non-empty answer")
		}
		return a, nil
	case float64:
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return "", fmt.Errorf("expected a finite number, got %v", a)
		}
		return strconv.FormatFloat(a, 'f', -1, 64), nil
	case nil:
		return "", fmt.Errorf("missing (expected a string or number)")
	}
	return "", fmt.Errorf("expected a string or number, got %T", v)
}

func str(r map[string]any, field string) (string, error) {
	v, ok := r[field]
	if !ok {
		return "", fmt.Errorf("field %q: missing", field)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("field %q: expected a non-empty string, got %T", field, v)
	}
	return s, nil
}

func countdownTask(r map[string]any) ([]int, int, error) {
	raw, ok := r["nums"].([]any)
	if !ok || len(raw) == 0 {
		return nil, 0, fmt.Errorf(`field "nums": expected a non-empty list of integers`)
	}
	nums := make([]int, len(raw))
	for i, x := range raw {
		f, ok := x.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			return nil, 0, fmt.Errorf(`field "nums"[%d]: expected an integer, got %v`, i, x)
		}
		nums[i] = int(f)
	}
	t, ok := r["target"].(float64)
	if !ok || t != math.Trunc(t) || math.Abs(t) > 1e9 {
		return nil, 0, fmt.Errorf(`field "target": expected an integer, got %v`, r["target"])
	}
	return nums, int(t), nil
}

// userRow reads a user benchmark row: "problem" (or "question") and
// "answer", checked as math.
func userRow(r map[string]any) (Problem, bool, error) {
	q, err := str(r, "problem")
	if err != nil {
		if _, has := r["problem"]; has {
			return Problem{}, false, err
		}
		if q, err = str(r, "question"); err != nil {
			return Problem{}, false, fmt.Errorf(`field "problem": missing (expected the question text)`)
		}
	}
	gold, err := answerText(r["answer"])
	if err != nil {
		return Problem{}, false, fmt.Errorf(`field "answer": %w`, err)
	}
	var id string
	if s, ok := r["id"].(string); ok {
		id = s
	}
	return Problem{ID: id, Question: q, Gold: gold}, true, nil
}

// IsFile reports whether a --bench entry names a JSONL file rather than a
// built-in benchmark.
func IsFile(spec string) bool {
	return strings.HasSuffix(spec, ".jsonl") || strings.HasSuffix(spec, ".jsonl.gz") || strings.ContainsRune(spec, filepath.Separator)
}

// Load reads a benchmark: a built-in name (its file under dataDir) or a
// path to a JSONL file with "problem" and "answer" fields. limit > 0 keeps
// the first limit problems.
func Load(spec, dataDir string, limit int) (*Benchmark, error) {
	var b builtin
	var name, file string
	if IsFile(spec) {
		file = spec
		name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(spec), ".gz"), ".jsonl")
		b = builtin{kind: KindMath, row: userRow}
	} else {
		var ok bool
		b, ok = builtins[spec]
		if !ok {
			return nil, fmt.Errorf("unknown benchmark %q (built-in: %s; or a path to a .jsonl file with problem and answer fields)",
				spec, strings.Join(Builtins(), ", "))
		}
		if dataDir == "" {
			return nil, fmt.Errorf("benchmark %s: no data directory (pass --data, the shared/data folder)", spec)
		}
		name, file = spec, filepath.Join(dataDir, b.file)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %s: %w", name, file, err)
		}
		defer gz.Close()
		r = gz
	}
	bench := &Benchmark{Name: name, Kind: b.kind, File: file}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(text, &row); err != nil {
			return nil, fmt.Errorf("%s:%d: expected a JSON object: %w", file, line, err)
		}
		p, keep, err := b.row(row)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, line, err)
		}
		if !keep {
			continue
		}
		p.Index = len(bench.Problems)
		p.Fields = row
		if b.kind == KindMath {
			// The math reward and the report read the normalised gold.
			p.Fields = map[string]any{"answer": p.Gold}
		}
		bench.Problems = append(bench.Problems, p)
		if limit > 0 && len(bench.Problems) >= limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", file, line+1, err)
	}
	if len(bench.Problems) == 0 {
		return nil, fmt.Errorf("benchmark %s: %s has no problems", name, file)
	}
	return bench, nil
}

// MathInstruction is appended to math questions in the chat and plain
// formats: DeepSeek's recommended evaluation prompt for R1 models, which
// also makes the final answer extractable from \boxed{}.
const MathInstruction = "Please reason step by step, and put your final answer within \\boxed{}."

// BuildPrompt renders a problem in a prompt format: "chat" (the model's
// chat template, tmpl must be set), "r1-zero" (the paper's Table 1
// template) or "plain" (the question; for code the text a base model
// continues). Zero-shot: the R1 paper found few-shot prompts hurt.
func BuildPrompt(format string, kind Kind, p Problem, tmpl *chat.Template) (string, error) {
	q := p.Question
	switch format {
	case "chat", "plain":
		if kind == KindMath {
			q += "\n" + MathInstruction
		}
		if format == "plain" {
			if kind == KindCode && p.Continuation != "" {
				return p.Continuation, nil
			}
			return q, nil
		}
		return chat.Prompt("chat", chat.PromptInput{Question: q}, tmpl)
	case "r1-zero":
		return chat.R1Zero(q), nil
	}
	return "", fmt.Errorf("prompt format %q: expected chat, r1-zero or plain", format)
}
