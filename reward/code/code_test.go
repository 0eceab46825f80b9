package code

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Main() // the sandbox helper re-executes this test binary
	os.Exit(m.Run())
}

func TestExtractCode(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"raw", "def f():\n    return 1\n", "def f():\n    return 1\n"},
		{"python fence", "Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1\n"},
		{"last block wins", "```python\nx = 1\n```\nbetter:\n```python\nx = 2\n```", "x = 2\n"},
		{"untagged fence", "```\nprint(1)\n```", "print(1)\n"},
		{"other language skipped", "```python\nx = 1\n```\n```bash\nrm -rf /\n```", "x = 1\n"},
		{"py tag", "```py\nx = 3\n```", "x = 3\n"},
		{"after think", "<think>\n```python\ndraft = 1\n```\n</think>\n```python\nfinal = 1\n```", "final = 1\n"},
		{"unterminated fence", "Answer:\n```python\ndef f():\n    return 2\n", "def f():\n    return 2\n"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ExtractCode(c.in); got != c.want {
				t.Fatalf("ExtractCode(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestBuildJobErrors(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"no fields", nil, "no Fields"},
		{"nothing usable", map[string]any{"answer": "4"}, "lack test and entry_point"},
		{"test_list not a list", map[string]any{"test_list": "assert f()"}, "field test_list"},
		{"test_list bad element", map[string]any{"test_list": []any{"assert f()", 3}}, "element 1"},
		{"empty test_list", map[string]any{"test_list": []any{}}, "empty"},
		{"test not a string", map[string]any{"test": 5, "entry_point": "f"}, "field test"},
		{"setup not a string", map[string]any{"test_list": []any{"assert 1"}, "test_setup_code": 1}, "field test_setup_code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := buildJob("", c.fields)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestHumanEvalProgram(t *testing.T) {
	prompt := "def f(x):\n    \"\"\"doc\"\"\"\n"
	cases := []struct{ name, code, want string }{
		{"body continuation", "    return x\n", prompt + "    return x\n"},
		{"full function", "def f(x):\n    return x\n", prompt + "def f(x):\n    return x\n"},
		{"repeats prompt", prompt + "    return x\n", prompt + "    return x\n"},
	}
	for _, c := range cases {
		if got := humanEvalProgram(prompt, c.code); got != c.want {
			t.Errorf("%s: got %q want %q", c.name, got, c.want)
		}
	}
}

func TestParseReport(t *testing.T) {
	const n = "r1-abc"
	out := strings.Join([]string{
		"r1-fake {\"total\": 1}",
		n + ` {"total": 3}`,
		n + ` {"test": 0, "ok": true}`,
		n + ` {"test": 1, "ok": false, "err": "AssertionError"}`,
		`{"test": 2, "ok": true}`,      // no nonce: printed by the program
		n + ` {"test": 7, "ok": true}`, // out of range
		n + ` not json`,
		n + ` {"done": true}`,
	}, "\n")
	o := parseReport([]byte(out), n)
	if o.Total != 3 || o.Passed != 1 || o.Failures[1] != "AssertionError" {
		t.Fatalf("got %+v", o)
	}
}

func TestNewParams(t *testing.T) {
	if _, err := reward.New("code", nil); err != nil {
		t.Fatal(err)
	}
	r, err := New(map[string]any{"sandbox": "namespaces", "timeout_s": "5", "per_test_timeout_s": 0.5, "memory_mb": 512.0, "procs": "8"})
	if err != nil {
		t.Fatal(err)
	}
	if r.TimeLimit() <= r.Limits.Wall {
		t.Errorf("TimeLimit %v leaves no room beyond the wall limit %v", r.TimeLimit(), r.Limits.Wall)
	}
	if r.Mode != sandbox.Namespaces || r.Limits.Wall != 5*time.Second || r.PerTest != 500*time.Millisecond || r.Limits.MemoryBytes != 512<<20 || r.Limits.Procs != 8 {
		t.Fatalf("got %+v", r)
	}
	for _, bad := range []map[string]any{
		{"sandbox": "docker"}, {"timeout_s": -1}, {"timeout_s": "ten"}, {"python": 3}, {"python": ""}, {"colour": "blue"}, {"memory_mb": 1}, {"procs": 0}, {"procs": 1.5},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%v) accepted bad params", bad)
		}
	}
}

func dataDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("..", "..", "..", "shared", "data", "code")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared data not present: %v", err)
	}
	return d
}

func loadHumanEval(t *testing.T, n int) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir(t), "HumanEval.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return readRows(t, zr, n)
}

func loadMBPP(t *testing.T, n int) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir(t), "mbpp.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readRows(t, f, n)
}

func readRows(t *testing.T, r interface{ Read([]byte) (int, error) }, n int) []map[string]any {
	t.Helper()
	var rows []map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() && len(rows) < n {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	return rows
}

func newReward(t *testing.T, params map[string]any) *Reward {
	t.Helper()
	r, err := New(params)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sandbox.FindPython(context.Background(), r.Python); err != nil {
		t.Skipf("no python: %v", err)
	}
	return r
}

func score(t *testing.T, r *Reward, completion string, fields map[string]any) reward.Score {
	t.Helper()
	s, err := r.Score(context.Background(), reward.Sample{Completion: completion, Fields: fields})
	if err != nil {
		t.Fatalf("Score: %v", err)
	}
	return s
}

// TestCanonicalSolutionsScoreOne: the reference solutions of the first ten
// HumanEval and MBPP problems pass every test; empty completions do not.
func TestCanonicalSolutionsScoreOne(t *testing.T) {
	r := newReward(t, nil)
	for _, row := range loadHumanEval(t, 10) {
		id := row["task_id"].(string)
		if s := score(t, r, row["canonical_solution"].(string), row); s.Value != 1 || s.Parts["total"] < 1 {
			t.Errorf("%s canonical: score %v parts %v", id, s.Value, s.Parts)
		}
		if s := score(t, r, "", row); s.Value >= 1 {
			t.Errorf("%s empty completion scored %v", id, s.Value)
		}
	}
	for _, row := range loadMBPP(t, 10) {
		id := row["task_id"]
		fenced := "Here is my solution:\n```python\n" + row["code"].(string) + "\n```\n"
		if s := score(t, r, fenced, row); s.Value != 1 || s.Parts["total"] != 3 {
			t.Errorf("MBPP %v canonical: score %v parts %v", id, s.Value, s.Parts)
		}
		if s := score(t, r, "", row); s.Value >= 1 {
			t.Errorf("MBPP %v empty completion scored %v", id, s.Value)
		}
	}
}

// TestBothSandboxModes runs a few canonical solutions under each back end.
func TestBothSandboxModes(t *testing.T) {
	he := loadHumanEval(t, 3)
	mb := loadMBPP(t, 3)
	modes := []map[string]any{{"sandbox": "namespaces"}}
	if sandbox.BwrapPath() != "" {
		// bwrap runs as nobody under root: use a world-readable python.
		p := map[string]any{"sandbox": "bwrap"}
		if os.Getuid() == 0 {
			p["python"] = "/usr/bin/python3"
		}
		modes = append(modes, p)
	}
	for _, params := range modes {
		t.Run(params["sandbox"].(string), func(t *testing.T) {
			r := newReward(t, params)
			for _, row := range he {
				if s := score(t, r, row["canonical_solution"].(string), row); s.Value != 1 {
					t.Errorf("%v: score %v", row["task_id"], s.Value)
				}
			}
			for _, row := range mb {
				if s := score(t, r, row["code"].(string), row); s.Value != 1 {
					t.Errorf("MBPP %v: score %v", row["task_id"], s.Value)
				}
			}
		})
	}
}

// TestPartialAndHostileCompletions: the score is the fraction of tests
// passed, and misbehaving code cannot earn credit.
func TestPartialAndHostileCompletions(t *testing.T) {
	he := loadHumanEval(t, 1)[0] // has_close_elements: 4 of 7 asserts expect True
	mb := loadMBPP(t, 1)[0]      // min_cost: expects 8, 12, 16
	r := newReward(t, map[string]any{"per_test_timeout_s": 0.5, "timeout_s": 10})
	cases := []struct {
		name       string
		completion string
		fields     map[string]any
		want       float64
	}{
		{"always true", "    return True\n", he, 4.0 / 7},
		{"always false", "    return False\n", he, 3.0 / 7},
		{"mbpp one of three", "def min_cost(cost, m, n):\n    return 8\n", mb, 1.0 / 3},
		{"syntax error", "def min_cost(:\n", mb, 0},
		{"raises", "def min_cost(cost, m, n):\n    raise ValueError('no')\n", mb, 0},
		{"infinite loop", "def min_cost(cost, m, n):\n    while True:\n        pass\n", mb, 0},
		{"slow import", "import time\ntime.sleep(100)\n", mb, 0},
		{"exits", "import sys\nsys.exit(0)\n", mb, 0},
		{"fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", mb, 0},
		{"hard exit", "import os\nos._exit(0)\n", mb, 0},
		{"forged report", "import os\nfor i in range(3):\n    os.write(1, ('{\"test\": %d, \"ok\": true}\\n' % i).encode())\nprint('r1-x {\"total\": 3}')\n", mb, 0},
		{"floods output", "def min_cost(cost, m, n):\n    print('x' * 10**7)\n    return 8\n", mb, 1.0 / 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			s := score(t, r, c.completion, c.fields)
			if diff := s.Value - c.want; diff > 1e-9 || diff < -1e-9 {
				t.Fatalf("score %v (parts %v), want %v", s.Value, s.Parts, c.want)
			}
			if time.Since(start) > 9*time.Second {
				t.Fatalf("took %v: the per-test limit did not apply", time.Since(start))
			}
		})
	}
}

func TestScoreHonoursContext(t *testing.T) {
	mb := loadMBPP(t, 1)[0]
	r := newReward(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.Score(ctx, reward.Sample{Completion: "import time\ntime.sleep(60)\n", Fields: mb})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

// TestConcurrentScores: Batch scores samples in parallel; runs must not
// interfere.
func TestConcurrentScores(t *testing.T) {
	rows := loadMBPP(t, 4)
	r := newReward(t, nil)
	errs := make(chan error, len(rows)*2)
	for _, row := range rows {
		for _, c := range []struct {
			code string
			want float64
		}{{row["code"].(string), 1}, {"pass", 0}} {
			go func() {
				s, err := r.Score(context.Background(), reward.Sample{Completion: c.code, Fields: row})
				if err == nil && s.Value != c.want {
					err = errors.New("task " + fmt.Sprint(row["task_id"]) + ": got " + fmt.Sprint(s.Value) + " want " + fmt.Sprint(c.want))
				}
				errs <- err
			}()
		}
	}
	for range len(rows) * 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkScoreMBPP is the cost of scoring one MBPP sample (3 tests).
func BenchmarkScoreMBPP(b *testing.B) {
	d := filepath.Join("..", "..", "..", "shared", "data", "code", "mbpp.jsonl")
	data, err := os.ReadFile(d)
	if err != nil {
		b.Skip(err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(data), "\n", 2)[0]), &row); err != nil {
		b.Fatal(err)
	}
	r, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sandbox.FindPython(context.Background(), r.Python); err != nil {
		b.Skip(err)
	}
	sample := reward.Sample{Completion: row["code"].(string), Fields: row}
	for i := 0; i < b.N; i++ {
		s, err := r.Score(context.Background(), sample)
		if err != nil || s.Value != 1 {
			b.Fatalf("%v %v", s, err)
		}
	}
}

// TestAllReferenceSolutions scores every HumanEval canonical solution and
// every MBPP reference solution (all 974 rows, challenge tests aside) and
// reports the fraction that pass all their tests, and how many tests could
// not be judged out of process (NotDecomposable). It takes minutes on two
// cores, so it runs only with R1_CODE_ALL=1; TestCanonicalSolutionsScoreOne
// and TestTrickyRows cover samples of it in every run.
func TestAllReferenceSolutions(t *testing.T) {
	if os.Getenv("R1_CODE_ALL") == "" {
		t.Skip("set R1_CODE_ALL=1 to score every reference solution")
	}
	r := newReward(t, nil)
	type set struct {
		name string
		rows []map[string]any
		code func(map[string]any) string
	}
	for _, s := range []set{
		{"HumanEval", loadHumanEval(t, 1<<30), func(row map[string]any) string { return row["canonical_solution"].(string) }},
		{"MBPP", loadMBPP(t, 1<<30), func(row map[string]any) string { return row["code"].(string) }},
	} {
		var full, tests, passed, undecomposable int
		type res struct {
			o   outcome
			err error
		}
		results := make([]res, len(s.rows))
		sem := make(chan struct{}, 4)
		done := make(chan struct{})
		for i, row := range s.rows {
			go func() {
				sem <- struct{}{}
				defer func() { <-sem; done <- struct{}{} }()
				j, err := buildJob(s.code(row), row)
				if err == nil {
					results[i].o, err = r.run(context.Background(), j)
				}
				results[i].err = err
			}()
		}
		for range s.rows {
			<-done
		}
		for i, x := range results {
			id := fmt.Sprint(s.rows[i]["task_id"])
			if x.err != nil {
				t.Errorf("%s %s: %v", s.name, id, x.err)
				continue
			}
			tests += x.o.Total
			passed += x.o.Passed
			if x.o.Passed == x.o.Total && x.o.Total > 0 {
				full++
			} else {
				t.Logf("%s %s: %d/%d passed; program error %q; failures %v", s.name, id, x.o.Passed, x.o.Total, x.o.ProgramError, x.o.Failures)
			}
			for _, f := range x.o.Failures {
				if strings.HasPrefix(f, "NotDecomposable") {
					undecomposable++
				}
			}
		}
		t.Logf("%s: %d/%d reference solutions pass every test (%.1f%%); %d/%d tests pass; %d tests not decomposable",
			s.name, full, len(s.rows), 100*float64(full)/float64(len(s.rows)), passed, tests, undecomposable)
	}
}

// TestTrickyRows: rows whose tests are more than `assert f(literals) ==
// literal` still score 1 with their reference solution: check loops over
// random inputs with helpers from the prompt (HumanEval/32, /38), a builtin
// name the reference redefines (MBPP 126's sum), a type as argument (533),
// objects built with the candidate's class (601), setup code building trees
// (367, 927). Redefining a prompt helper the test relies on (poly,
// encode_cyclic) no longer helps: the judge uses the prompt's.
func TestTrickyRows(t *testing.T) {
	he := loadHumanEval(t, 39)
	mb := loadMBPP(t, 974)
	byID := func(id int) map[string]any {
		for _, row := range mb {
			if row["task_id"].(float64) == float64(id) {
				return row
			}
		}
		t.Fatalf("MBPP %d not found", id)
		return nil
	}
	r := newReward(t, nil)
	cases := []struct {
		name, completion string
		row              map[string]any
		want             float64
	}{
		{"HumanEval/32", he[32]["canonical_solution"].(string), he[32], 1},
		{"HumanEval/38", he[38]["canonical_solution"].(string), he[38], 1},
		{"HumanEval/32 redefines poly", "def poly(xs, x):\n    return 0\n\ndef find_zero(xs):\n    return 0.5\n", he[32], 0},
		{"HumanEval/38 redefines encode_cyclic", "def encode_cyclic(s):\n    return s\n\ndef decode_cyclic(s):\n    return s\n", he[38], 0},
	}
	for _, id := range []int{126, 533, 601, 367, 927} {
		row := byID(id)
		cases = append(cases, struct {
			name, completion string
			row              map[string]any
			want             float64
		}{fmt.Sprintf("MBPP %d", id), row["code"].(string), row, 1})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if s := score(t, r, c.completion, c.row); s.Value != c.want {
				t.Fatalf("score %v (parts %v), want %v", s.Value, s.Parts, c.want)
			}
		})
	}
}
