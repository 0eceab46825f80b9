package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/r1go/r1/chat"
)

// Task names how an example's correctness is judged: by the registered
// reward of the same name (package reward; the implementations register
// themselves, see reward/all).
type Task string

// The tasks. Mixed is not a task of an example but of a dataset whose
// examples differ (synthetic:mixed, a user file with both kinds of row).
const (
	// TaskMath: the final answer (\boxed{}, <answer>, "the answer is", …)
	// is equivalent to Fields["answer"] by mathverify ("math" reward).
	TaskMath Task = "math"
	// TaskCountdown: the last <answer> holds an equation that uses
	// Fields["nums"] once each and equals Fields["target"] ("countdown").
	TaskCountdown Task = "countdown"
	// TaskCode: the program passes every test in Fields ("code").
	TaskCode Task = "code"
	// TaskGeneral: a general prompt with no checkable answer (a user-file
	// row with "kind": "general"); no judge decides it, reward models
	// score it (R1's final RL stage mixes such prompts with reasoning
	// ones; see grpo's reward_routing).
	TaskGeneral Task = "general"
	// Mixed marks a dataset with examples of several tasks.
	Mixed Task = "mixed"
)

// Row kinds: what a row's "kind" field may say. Reasoning rows (the
// default) are judged by rules; general rows by reward models.
const (
	KindReasoning = "reasoning"
	KindGeneral   = "general"
)

// Kind is the example's row kind: general for TaskGeneral, else reasoning.
func (e Example) Kind() string {
	if e.Task == TaskGeneral {
		return KindGeneral
	}
	return KindReasoning
}

// Splits of the built-in datasets.
const (
	SplitTrain = "train"
	SplitTest  = "test"
)

// Example is one problem of a dataset: what a prompt is built from, the
// gold answer and the row the rewards read.
type Example struct {
	// Index is the example's position in the dataset (after any split
	// filter): eval's resume cache is keyed by it.
	Index int
	// ID is the dataset's own id when it has one ("HumanEval/0", MBPP's
	// task id, a synthetic problem's key).
	ID string
	// Input is what prompt formats are built from: the question text, and
	// for Countdown the numbers and target.
	Input chat.PromptInput
	// Gold is the reference answer shown in reports: for math the answer
	// the judge compares with (also Fields["answer"]), for Countdown the
	// target, for code empty (the tests decide).
	Gold string
	// Continuation, for code, is the text a base model continues in a plain
	// prompt (HumanEval's signature and docstring).
	Continuation string
	// ContinuationStops end a plain-format continuation: a base model
	// continuing a function goes on to write more top-level code, which
	// HumanEval's harness cuts at these markers before running the tests.
	ContinuationStops []string
	// Task says which reward judges the example.
	Task Task
	// Fields is the row handed to rewards: the JSON object as read (numbers
	// are float64), with "answer" normalised to the gold text for math.
	Fields map[string]any
}

// Dataset is a loaded dataset.
type Dataset struct {
	// Name is the registry name, or a user file's base name without
	// .jsonl[.gz].
	Name string
	// Split is the split served ("" for a user file).
	Split string
	// File is the file read ("" for synthetic problems).
	File string
	// Task is the task of every example, or Mixed.
	Task     Task
	Examples []Example
}

// Tasks lists the distinct tasks of the examples in order of first
// appearance.
func (d *Dataset) Tasks() []Task { return TasksOf(d.Examples) }

// TasksOf lists the distinct tasks of examples in order of first
// appearance.
func TasksOf(exs []Example) []Task {
	var ts []Task
	for _, e := range exs {
		if !slices.Contains(ts, e.Task) {
			ts = append(ts, e.Task)
		}
	}
	return ts
}

// Options are how Open reads a dataset.
type Options struct {
	// Dir holds the built-in datasets' files (the shared/data layout);
	// FindDir locates it.
	Dir string
	// Limit keeps the first Limit examples (0: all). For synthetic
	// datasets it is how many problems to draw (0: DefaultSyntheticN).
	Limit int
}

// builtin is a dataset shipped in shared/data.
type builtin struct {
	// files maps each split to its file under Options.Dir.
	files map[string]string
	task  Task
	// row turns one JSON object into an example; keep=false drops it (MBPP
	// keeps all its splits in one file).
	row func(r map[string]any, split string) (ex Example, keep bool, err error)
}

var builtins = map[string]builtin{
	"gsm8k":     {files: map[string]string{SplitTrain: "gsm8k/train.jsonl", SplitTest: "gsm8k/test.jsonl"}, task: TaskMath, row: gsm8kRow},
	"math500":   {files: map[string]string{SplitTest: "math500/test.jsonl"}, task: TaskMath, row: mathRow("unique_id")},
	"aime24":    {files: map[string]string{SplitTest: "competition_math/aime24.jsonl"}, task: TaskMath, row: mathRow("id")},
	"amc23":     {files: map[string]string{SplitTest: "competition_math/amc23.jsonl"}, task: TaskMath, row: mathRow("id")},
	"countdown": {files: map[string]string{SplitTrain: "countdown/train.jsonl", SplitTest: "countdown/test.jsonl"}, task: TaskCountdown, row: countdownRow},
	"humaneval": {files: map[string]string{SplitTest: "code/HumanEval.jsonl.gz"}, task: TaskCode, row: humanEvalRow},
	"mbpp": {files: map[string]string{SplitTrain: "code/mbpp.jsonl", "validation": "code/mbpp.jsonl", SplitTest: "code/mbpp.jsonl"},
		task: TaskCode, row: mbppRow},
}

// Builtins lists the built-in dataset names, sorted, with the synthetic
// family last.
func Builtins() []string {
	names := make([]string, 0, len(builtins)+1)
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return append(names, "synthetic[:arithmetic|countdown|mixed[:1-3]]")
}

// IsFile reports whether a dataset name is a path to a user JSONL file
// rather than a registry name.
func IsFile(name string) bool {
	return strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".jsonl.gz") || strings.ContainsRune(name, filepath.Separator)
}

// FindDir returns the shared data folder: $R1_DATA, else ../shared/data or
// shared/data from the working directory, else "".
func FindDir() string {
	if d := os.Getenv("R1_DATA"); d != "" {
		return d
	}
	for _, d := range []string{filepath.Join("..", "shared", "data"), filepath.Join("shared", "data")} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}

// Open loads a dataset: a built-in name (its split's file under
// opts.Dir), a synthetic tiny-model task ("synthetic",
// "synthetic:arithmetic|countdown|mixed[:DIFFICULTY]"), or a user JSONL or
// JSONL.gz file whose rows hold "problem" (or "question" or "prompt") and
// "answer", or Countdown's "nums" and "target". split "" is the train
// split; a dataset with only a test split (math500, aime24, amc23,
// humaneval) serves it for "train" too, as training on an evaluation set
// is what asking for one means. A user file has no splits.
func Open(name, split string, opts Options) (*Dataset, error) {
	if name == "synthetic" || strings.HasPrefix(name, "synthetic:") {
		return openSynthetic(name, split, opts.Limit)
	}
	if IsFile(name) {
		ds := &Dataset{Name: strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".gz"), ".jsonl"), File: name}
		if err := ds.read(func(r map[string]any) (Example, bool, error) { ex, err := userRow(r); return ex, true, err }, opts.Limit); err != nil {
			return nil, err
		}
		return ds, nil
	}
	b, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("unknown dataset %q (built-in: %s; or a path to a .jsonl or .jsonl.gz file)", name, strings.Join(Builtins(), ", "))
	}
	if split == "" {
		split = SplitTrain
	}
	file, ok := b.files[split]
	if !ok && split == SplitTrain {
		split = SplitTest
		file, ok = b.files[split]
	}
	if !ok {
		splits := make([]string, 0, len(b.files))
		for s := range b.files {
			splits = append(splits, s)
		}
		sort.Strings(splits)
		return nil, fmt.Errorf("dataset %s has no split %q (it has %s)", name, split, strings.Join(splits, ", "))
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("dataset %s: no data directory (the shared/data folder: data.data_dir, --data or $R1_DATA)", name)
	}
	ds := &Dataset{Name: name, Split: split, File: filepath.Join(opts.Dir, file), Task: b.task}
	if err := ds.read(func(r map[string]any) (Example, bool, error) { return b.row(r, split) }, opts.Limit); err != nil {
		return nil, err
	}
	return ds, nil
}

// read fills d.Examples from d.File, one JSON object per non-blank line,
// stopping after limit examples (0: all), and sets d.Task from the
// examples when the registry did not.
func (d *Dataset) read(row func(map[string]any) (Example, bool, error), limit int) error {
	f, err := os.Open(d.File)
	if err != nil {
		return fmt.Errorf("dataset %s: %w", d.Name, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(d.File, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("dataset %s: %s: %w", d.Name, d.File, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal(text, &raw); err != nil {
			return fmt.Errorf("%s:%d: expected a JSON object: %w", d.File, line, err)
		}
		ex, keep, err := row(raw)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", d.File, line, err)
		}
		if !keep {
			continue
		}
		ex.Index = len(d.Examples)
		d.Examples = append(d.Examples, ex)
		if limit > 0 && len(d.Examples) == limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %w", d.File, line+1, err)
	}
	if len(d.Examples) == 0 {
		return fmt.Errorf("dataset %s: %s has no problems", d.Name, d.File)
	}
	if d.Task == "" {
		d.Task = commonTask(d.Examples)
	}
	return nil
}

// commonTask is the task every example shares, else Mixed.
func commonTask(exs []Example) Task {
	ts := TasksOf(exs)
	if len(ts) == 1 {
		return ts[0]
	}
	return Mixed
}
