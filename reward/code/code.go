// Package code scores generated Python programs by running them against the
// tests of their dataset row (HumanEval, MBPP) inside the sandbox. The score
// is the fraction of tests that pass.
//
// A HumanEval row (Fields "prompt", "test", "entry_point") runs prompt +
// completion, and each statement of check(candidate) that asserts on the
// candidate counts as one test. An MBPP row (Fields "test_list", optional
// "test_setup_code", "code") runs the completion, then the setup code, and
// each assert of test_list is one test. Every test has its own time limit.
//
// The policy being trained is rewarded for whatever scores, so the verdict
// is computed where the candidate cannot reach it. Two sandboxes run per
// sample, joined only by two pipes: worker.py loads the candidate's program
// and answers calls; judge.py runs the dataset's test code (never the
// candidate's), with each call of the function under test sent to the
// worker as plain-data arguments and each answer rebuilt as exact builtin
// values before the test's own comparison runs on it. The worker never sees
// the test source or an expected value, so it can neither report a pass
// (it reports no verdict), nor patch the comparison (its __eq__, builtins,
// frames and garbage collector are its own), nor exit its way to one.
// judge.py's doc says which tests cannot be judged this way (none of
// HumanEval's or MBPP's with the reference solutions): they count as failed.
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
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sandbox"
)

// judgePy runs the tests (trusted); workerPy runs the candidate.
var (
	//go:embed judge.py
	judgePy []byte
	//go:embed worker.py
	workerPy []byte
)

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
	// Limits bound each of the sample's two sandboxes (the worker running
	// the candidate, and the judge).
	Limits sandbox.Limits
	// PerTest is the time limit of each test.
	PerTest time.Duration
}

// Defaults of the reward's parameters.
const (
	DefaultPython  = "python3"
	DefaultPerTest = 3 * time.Second
	DefaultWall    = 20 * time.Second
	// DefaultProcs counts the worker's interpreter too: room for a little
	// subprocess use, not for a fork bomb.
	DefaultProcs    = 4
	DefaultMemoryMB = 512
)

// New builds the reward from config parameters: "sandbox" (auto, bwrap or
// namespaces), "python" (interpreter, default python3), "timeout_s" (wall and
// CPU limit per sample), "per_test_timeout_s", "memory_mb" (memory of the
// candidate's sandbox: the total of its processes where the machine gives a
// memory cgroup, else each process's address space, so at most procs ×
// memory_mb; the judge's sandbox has the same limits), "procs" (process
// limit).
func New(params map[string]any) (*Reward, error) {
	p := reward.NewParams(params)
	r := &Reward{
		Python:  DefaultPython,
		PerTest: DefaultPerTest,
		// Without a memory cgroup, memory is bounded per process, so a
		// sample may hold up to procs × memory: both stay small by default.
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

// job is one sample's work: Program goes to the worker, the rest to the
// judge (Setup to both: the worker runs it, the judge only reads which names
// it defines).
type job struct {
	Program    string
	Setup      string
	Tests      []string
	Check      string
	EntryPoint string
	Prompt     string
	// Reference is the row's reference solution (MBPP "code"), read by the
	// judge to tell which builtin names the tests mean as the candidate's.
	Reference string
}

// judgeJob is what judge.py reads from stdin.
type judgeJob struct {
	Nonce      string   `json:"nonce"`
	Timeout    float64  `json:"timeout"`
	Prompt     string   `json:"prompt,omitempty"`
	Check      string   `json:"check,omitempty"`
	EntryPoint string   `json:"entry_point,omitempty"`
	Tests      []string `json:"tests,omitempty"`
	Setup      string   `json:"setup,omitempty"`
	Reference  string   `json:"reference,omitempty"`
}

// workerJob is what worker.py reads from stdin: nothing of the tests.
type workerJob struct {
	Program string  `json:"program"`
	Setup   string  `json:"setup,omitempty"`
	Timeout float64 `json:"timeout"`
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
		ref, err := optString(f, "code")
		if err != nil {
			return job{}, err
		}
		// test_setup_code runs after the program: in MBPP it builds inputs
		// from classes the solution defines (e.g. Node).
		return job{Program: normalize(code), Setup: normalize(setup), Tests: tests, Reference: normalize(ref)}, nil
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
	return job{Program: humanEvalProgram(prompt, code), Check: test, EntryPoint: entry, Prompt: prompt}, nil
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

// run runs one job and counts passed tests: the judge and the worker in
// sandboxes of their own, joined by a request pipe and a reply pipe. Tests
// that never reported (the judge died or timed out) count as failed.
func (r *Reward) run(ctx context.Context, j job) (outcome, error) {
	py, err := sandbox.FindPython(ctx, r.Python)
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: %w", err)
	}
	var nb [12]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return outcome{}, fmt.Errorf("code reward: nonce: %w", err)
	}
	nonce := "r1-" + hex.EncodeToString(nb[:])
	timeout := r.PerTest.Seconds()
	if timeout <= 0 {
		timeout = DefaultPerTest.Seconds()
	}
	judgeIn, err := json.Marshal(judgeJob{Nonce: nonce, Timeout: timeout, Prompt: j.Prompt, Check: j.Check,
		EntryPoint: j.EntryPoint, Tests: j.Tests, Setup: j.Setup, Reference: j.Reference})
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: encode judge job: %w", err)
	}
	workerIn, err := json.Marshal(workerJob{Program: j.Program, Setup: j.Setup, Timeout: timeout})
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: encode worker job: %w", err)
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: request pipe: %w", err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return outcome{}, fmt.Errorf("code reward: reply pipe: %w", err)
	}
	env := []string{"PYTHONHASHSEED=0", "PYTHONIOENCODING=utf-8", "LANG=C.UTF-8"}
	cmd := func(script string) []string { return []string{py.Path, "-S", "-B", script} }
	runner := &sandbox.Runner{Mode: r.Mode}

	// Each side's pipe ends are closed here as soon as its sandbox is gone,
	// so that the other side sees EOF instead of waiting for its time limit.
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() {
		_, err := runner.Run(workerCtx, sandbox.Spec{
			Files:      map[string][]byte{"worker.py": workerPy},
			Cmd:        cmd("worker.py"),
			Stdin:      workerIn,
			Env:        env,
			Binds:      py.Binds,
			Limits:     r.Limits,
			ExtraFiles: []*os.File{reqR, respW},
		})
		reqR.Close()
		respW.Close()
		workerDone <- err
	}()
	res, err := runner.Run(ctx, sandbox.Spec{
		Files:      map[string][]byte{"judge.py": judgePy},
		Cmd:        cmd("judge.py"),
		Stdin:      judgeIn,
		Env:        env,
		Binds:      py.Binds,
		Limits:     r.Limits,
		ExtraFiles: []*os.File{reqW, respR},
	})
	reqW.Close()
	respR.Close()
	// The verdict is in: the worker has nothing left to do.
	stopWorker()
	werr := <-workerDone
	if err != nil {
		return outcome{}, fmt.Errorf("code reward: judge: %w", err)
	}
	if werr != nil && workerCtx.Err() == nil {
		return outcome{}, fmt.Errorf("code reward: worker: %w", werr)
	}
	out := parseReport(res.Stdout, nonce)
	out.Sandbox = res
	if out.Total == 0 && out.ProgramError == "" {
		// Nothing reported: the judge could not even start.
		out.Total = len(j.Tests)
		if j.Check != "" {
			out.Total++
		}
		if !res.TimedOut && res.ExitCode != 0 && len(res.Stderr) > 0 && out.Total == 0 {
			return out, fmt.Errorf("code reward: judge failed (exit %d): %s", res.ExitCode, firstLine(res.Stderr))
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
