// Package code scores generated Python programs by running them against the
// tests of their dataset row (HumanEval, MBPP) inside the sandbox. The score
// is the fraction of tests that pass.
//
// A HumanEval row (Fields "prompt", "test", "entry_point") runs prompt +
// completion, then each statement of check(candidate) that asserts on the
// candidate counts as one test. An MBPP row (Fields "test_list", optional
// "test_setup_code") runs the completion, then the setup code, then each
// assert of test_list. All tests of one sample run in one sandboxed Python
// process (harness.py), each with its own time limit.
package code

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sandbox"
)

//go:embed harness.py
var harness []byte

func init() {
	reward.Register("code", func(params map[string]any) (reward.Func, error) {
		return New(params)
	})
}

// Reward is the "code" reward.
type Reward struct {
	// Mode picks the sandbox back end.
	Mode sandbox.Mode
	// Python is the interpreter name or path looked up on the host.
	Python string
	// Limits bound the whole run of one sample.
	Limits sandbox.Limits
	// PerTest is the time limit of each test.
	PerTest time.Duration
}

// Defaults of the reward's parameters.
const (
	DefaultPython  = "python3"
	DefaultPerTest = 3 * time.Second
	DefaultWall    = 20 * time.Second
	// DefaultProcs counts the harness too: room for a little subprocess
	// use, not for a fork bomb.
	DefaultProcs    = 4
	DefaultMemoryMB = 512
)

// New builds the reward from config parameters: "sandbox" (auto, bwrap or
// namespaces), "python" (interpreter, default python3), "timeout_s" (wall and
// CPU limit per sample), "per_test_timeout_s", "memory_mb" (address space per
// process), "procs" (process limit).
func New(params map[string]any) (*Reward, error) {
	p := reward.NewParams(params)
	r := &Reward{
		Python:  DefaultPython,
		PerTest: DefaultPerTest,
		// RLIMIT_AS is per process, so a sample may hold up to
		// procs × memory: both stay small by default.
		Limits: sandbox.Limits{Wall: DefaultWall, CPU: DefaultWall, OutputBytes: 256 << 10, Procs: DefaultProcs},
	}
	mode, err := p.String("sandbox", "auto")
	if err != nil {
		return nil, err
	}
	if r.Mode, err = sandbox.ParseMode(mode); err != nil {
		return nil, fmt.Errorf("param \"sandbox\": %w", err)
	}
	if r.Python, err = p.String("python", DefaultPython); err != nil {
		return nil, err
	}
	if r.Python == "" {
		return nil, errors.New("param \"python\": expected an interpreter name or path, got \"\"")
	}
	seconds := func(key string, def time.Duration) (time.Duration, error) {
		f, err := p.Float(key, def.Seconds())
		if err != nil {
			return 0, err
		}
		if f <= 0 || f > 3600 {
			return 0, fmt.Errorf("param %q: expected seconds in (0, 3600], got %v", key, f)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	if r.Limits.Wall, err = seconds("timeout_s", DefaultWall); err != nil {
		return nil, err
	}
	r.Limits.CPU = r.Limits.Wall
	if r.PerTest, err = seconds("per_test_timeout_s", DefaultPerTest); err != nil {
		return nil, err
	}
	if r.Limits.Procs, err = p.Int("procs", DefaultProcs); err != nil {
		return nil, err
	}
	if r.Limits.Procs < 1 || r.Limits.Procs > 1024 {
		return nil, fmt.Errorf("param \"procs\": expected 1..1024, got %d", r.Limits.Procs)
	}
	mb, err := p.Float("memory_mb", DefaultMemoryMB)
	if err != nil {
		return nil, err
	}
	if mb < 16 {
		return nil, fmt.Errorf("param \"memory_mb\": expected at least 16, got %v", mb)
	}
	r.Limits.MemoryBytes = int64(mb * (1 << 20))
	if err := p.Done(); err != nil {
		return nil, err
	}
	return r, nil
}

// Name implements reward.Func.
func (r *Reward) Name() string { return "code" }

// TimeLimit implements reward.TimeLimiter: the sandbox's wall limit plus
// room for starting it, so that the scorer's deadline does not cut a run
// that the sandbox would have ended (and scored) itself.
func (r *Reward) TimeLimit() time.Duration { return r.Limits.Wall + 5*time.Second }

var _ reward.TimeLimiter = (*Reward)(nil)

// job is what harness.py reads from stdin.
type job struct {
	Nonce      string   `json:"nonce"`
	Program    string   `json:"program"`
	Setup      string   `json:"setup,omitempty"`
	Tests      []string `json:"tests,omitempty"`
	Check      string   `json:"check,omitempty"`
	EntryPoint string   `json:"entry_point,omitempty"`
	Timeout    float64  `json:"timeout"`
}

// Score implements reward.Func: the fraction of the row's tests that pass.
// Wrong, crashing, slow or missing code scores low; an error means the row
// has no usable tests or the sandbox could not run.
func (r *Reward) Score(ctx context.Context, s reward.Sample) (reward.Score, error) {
	code := ExtractCode(s.Completion)
	j, err := buildJob(code, s.Fields)
	if err != nil {
		return reward.Score{}, err
	}
	res, err := r.run(ctx, j)
	if err != nil {
		return reward.Score{}, err
	}
	parts := map[string]float64{"passed": float64(res.Passed), "total": float64(res.Total)}
	if res.Total == 0 {
		return reward.Score{Value: 0, Parts: parts}, nil
	}
	return reward.Score{Value: float64(res.Passed) / float64(res.Total), Parts: parts}, nil
}

// buildJob turns a dataset row and extracted code into a harness job.
func buildJob(code string, f map[string]any) (job, error) {
	if f == nil {
		return job{}, errors.New("code reward: sample has no Fields; expected test/entry_point/prompt (HumanEval) or test_list (MBPP)")
	}
	if raw, ok := f["test_list"]; ok {
		tests, err := stringList(raw)
		if err != nil {
			return job{}, fmt.Errorf("code reward: field test_list: %w", err)
		}
		if len(tests) == 0 {
			return job{}, errors.New("code reward: field test_list is empty; expected assert statements")
		}
		setup, err := optString(f, "test_setup_code")
		if err != nil {
			return job{}, err
		}
		// test_setup_code runs after the program: in MBPP it builds inputs
		// from classes the solution defines (e.g. Node).
		return job{Program: normalize(code), Setup: normalize(setup), Tests: tests}, nil
	}
	test, err := optString(f, "test")
	if err != nil {
		return job{}, err
	}
	entry, err := optString(f, "entry_point")
	if err != nil {
		return job{}, err
	}
	if test == "" || entry == "" {
		return job{}, errors.New("code reward: Fields lack test and entry_point (HumanEval) or test_list (MBPP)")
	}
	prompt, err := optString(f, "prompt")
	if err != nil {
		return job{}, err
	}
	return job{Program: humanEvalProgram(prompt, code), Check: test, EntryPoint: entry}, nil
}

// humanEvalProgram joins the prompt (signature, docstring, helpers) and the
// completion. A completion that continues the body (indented) follows the
// prompt directly, as in HumanEval's reference harness; a complete function
// simply redefines the prompt's docstring-only one.
func humanEvalProgram(prompt, code string) string {
	if prompt != "" && strings.HasPrefix(strings.TrimLeft(code, "\n"), strings.TrimLeft(prompt, "\n")) {
		return code
	}
	if prompt == "" {
		return code
	}
	if !strings.HasSuffix(prompt, "\n") {
		prompt += "\n"
	}
	return prompt + code
}

func normalize(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func optString(f map[string]any, key string) (string, error) {
	v, ok := f[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("code reward: field %s: expected a string, got %T", key, v)
	}
	return s, nil
}

func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d: expected a string, got %T", i, e)
			}
			out[i] = normalize(s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a list of strings, got %T", v)
}

// outcome is what one harness run reported.
type outcome struct {
	Passed, Total int
	// Failures maps a test index to its error text.
	Failures map[int]string
	// ProgramError is set when the program itself failed to load.
	ProgramError string
	// Sandbox is the raw sandbox result.
	Sandbox sandbox.Result
}

// run runs one job in the sandbox and counts passed tests. Tests that never
// reported (the process died or timed out) count as failed.
func (r *Reward) run(ctx context.Context, j job) (outcome, error) {
	py, err := sandbox.FindPython(ctx, r.Python)
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: %w", err)
	}
	var nb [12]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return outcome{}, fmt.Errorf("code reward: nonce: %w", err)
	}
	j.Nonce = "r1-" + hex.EncodeToString(nb[:])
	j.Timeout = r.PerTest.Seconds()
	if j.Timeout <= 0 {
		j.Timeout = DefaultPerTest.Seconds()
	}
	stdin, err := json.Marshal(j)
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: encode job: %w", err)
	}
	spec := sandbox.Spec{
		Files:  map[string][]byte{"harness.py": harness},
		Cmd:    []string{py.Path, "-S", "-B", "harness.py"},
		Stdin:  stdin,
		Env:    []string{"PYTHONHASHSEED=0", "PYTHONIOENCODING=utf-8", "LANG=C.UTF-8"},
		Binds:  py.Binds,
		Limits: r.Limits,
	}
	res, err := (&sandbox.Runner{Mode: r.Mode}).Run(ctx, spec)
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: %w", err)
	}
	out := parseReport(res.Stdout, j.Nonce)
	out.Sandbox = res
	if out.Total == 0 && out.ProgramError == "" {
		// Nothing reported: the harness could not even start.
		out.Total = len(j.Tests)
		if j.Check != "" {
			out.Total++
		}
		if !res.TimedOut && res.ExitCode != 0 && len(res.Stderr) > 0 && out.Total == 0 {
			return out, fmt.Errorf("code reward: harness failed (exit %d): %s", res.ExitCode, firstLine(res.Stderr))
		}
	}
	return out, nil
}

func firstLine(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(bytes.TrimSpace(b))
}

// parseReport reads the harness's nonce-prefixed result lines.
func parseReport(stdout []byte, nonce string) outcome {
	o := outcome{Failures: map[int]string{}}
	passed := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), nonce+" ")
		if !ok {
			continue
		}
		var ev struct {
			Total        *int   `json:"total"`
			Test         *int   `json:"test"`
			OK           bool   `json:"ok"`
			Err          string `json:"err"`
			ProgramError string `json:"program_error"`
			CheckError   string `json:"check_error"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch {
		case ev.Total != nil:
			o.Total = *ev.Total
		case ev.Test != nil:
			if *ev.Test < 0 || *ev.Test >= o.Total {
				continue
			}
			if ev.OK {
				passed[*ev.Test] = true
				delete(o.Failures, *ev.Test)
			} else if !passed[*ev.Test] {
				o.Failures[*ev.Test] = ev.Err
			}
		case ev.ProgramError != "":
			o.ProgramError = ev.ProgramError
		case ev.CheckError != "" && o.ProgramError == "":
			o.ProgramError = ev.CheckError
		}
	}
	o.Passed = len(passed)
	return o
}

var fenceRE = regexp.MustCompile("(?s)```[ \\t]*([A-Za-z0-9_+-]*)[^\\n]*\\n(.*?)```")

// ExtractCode finds the program in a completion: the text after the last
// </think> if the model reasoned first, then the last fenced block tagged
// python (or untagged), else an unterminated ```python block, else the whole
// text.
func ExtractCode(completion string) string {
	text := completion
	if i := strings.LastIndex(text, "</think>"); i >= 0 {
		text = text[i+len("</think>"):]
	}
	var last string
	found := false
	for _, m := range fenceRE.FindAllStringSubmatch(text, -1) {
		switch strings.ToLower(m[1]) {
		case "", "python", "py", "python3":
			last, found = m[2], true
		}
	}
	if found {
		return last
	}
	for _, tag := range []string{"```python\n", "```py\n", "```python3\n"} {
		if i := strings.LastIndex(text, tag); i >= 0 {
			return text[i+len(tag):]
		}
	}
	return text
}
