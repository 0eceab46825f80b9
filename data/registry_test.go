package data

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sharedDir is the shared data folder ($R1_DATA or ../shared/data next to
// the repository); tests that need it skip when it is absent.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("R1_DATA")
	if d == "" {
		d = filepath.Join("..", "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Skip("shared data not found at", d)
	}
	return d
}

// Every built-in split loads, with the counts of shared/data/README.md
// (MBPP by the official task-id ranges), every example has a question and
// what its task's judge reads.
func TestOpenBuiltins(t *testing.T) {
	dir := sharedDir(t)
	tests := []struct {
		name, split string
		task        Task
		n           int
		served      string // the split served, when not split
	}{
		{"gsm8k", "train", TaskMath, 7473, ""},
		{"gsm8k", "test", TaskMath, 1319, ""},
		{"gsm8k", "", TaskMath, 7473, "train"},
		{"math500", "test", TaskMath, 500, ""},
		{"math500", "train", TaskMath, 500, "test"}, // evaluation-only: its test split
		{"aime24", "test", TaskMath, 30, ""},
		{"amc23", "test", TaskMath, 40, ""},
		{"countdown", "train", TaskCountdown, 8001, ""},
		{"countdown", "test", TaskCountdown, 2001, ""},
		{"humaneval", "test", TaskCode, 164, ""},
		{"mbpp", "test", TaskCode, 500, ""},
		{"mbpp", "validation", TaskCode, 90, ""},
		{"mbpp", "train", TaskCode, 374, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.split, func(t *testing.T) {
			ds, err := Open(tt.name, tt.split, Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			served := tt.served
			if served == "" {
				served = tt.split
			}
			if ds.Name != tt.name || ds.Split != served || ds.Task != tt.task || len(ds.Examples) != tt.n {
				t.Fatalf("%s %s %s with %d examples, want %s %s with %d", ds.Name, ds.Split, ds.Task, len(ds.Examples), served, tt.task, tt.n)
			}
			for i, ex := range ds.Examples {
				if ex.Index != i || ex.Input.Question == "" || ex.Task != tt.task {
					t.Fatalf("example %d: index %d, task %s, question %q", i, ex.Index, ex.Task, ex.Input.Question)
				}
				switch ex.Task {
				case TaskMath:
					if ex.Gold == "" || ex.Fields["answer"] != ex.Gold {
						t.Fatalf("example %d: gold %q, fields answer %v", i, ex.Gold, ex.Fields["answer"])
					}
				case TaskCountdown:
					if len(ex.Input.Numbers) < 3 || ex.Gold != strconv.Itoa(ex.Input.Target) || ex.Fields["nums"] == nil {
						t.Fatalf("example %d: %+v", i, ex)
					}
				case TaskCode:
					if ex.Continuation == "" || (ex.Fields["test"] == nil && ex.Fields["test_list"] == nil) {
						t.Fatalf("example %d: %+v", i, ex)
					}
				}
			}
			if ds, err := Open(tt.name, tt.split, Options{Dir: dir, Limit: 3}); err != nil || len(ds.Examples) != 3 {
				t.Errorf("limit 3: %v", err)
			}
		})
	}
}

// Gold answers keep their dataset's quirks out: GSM8K's is the number after
// "####" without thousands separators, AMC's numbers print without ".0",
// MBPP's test split starts at task 11.
func TestOpenGoldQuirks(t *testing.T) {
	dir := sharedDir(t)
	a, err := Open("amc23", "test", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range a.Examples {
		if strings.HasSuffix(ex.Gold, ".0") {
			t.Fatalf("amc23 example %d: gold %q keeps a float suffix", ex.Index, ex.Gold)
		}
	}
	m, err := Open("mbpp", "test", Options{Dir: dir, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Examples[0].ID != "11" {
		t.Fatalf("mbpp's first test example is task %s, want 11", m.Examples[0].ID)
	}
	h, err := Open("humaneval", "test", Options{Dir: dir, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h.Examples[0].ID != "HumanEval/0" || len(h.Examples[0].ContinuationStops) == 0 {
		t.Fatalf("humaneval: %+v", h.Examples[0])
	}
}

func TestGSM8KGold(t *testing.T) {
	for _, tc := range []struct{ solution, gold, err string }{
		{"She sells 9 eggs.\n#### 18", "18", ""},
		{"Total 1,234 + 1 = 1,235\n#### 1,235", "1235", ""},
		{"#### -7 ", "-7", ""},
		{"a #### 3 then #### 4", "4", ""},
		{"She makes 18 dollars.", "", `no "####"`},
		{"#### ", "", "nothing"},
	} {
		got, err := GSM8KGold(tc.solution)
		if got != tc.gold || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("GSM8KGold(%q) = %q, %v; want %q, error with %q", tc.solution, got, err, tc.gold, tc.err)
		}
	}
}

// Training and evaluation read GSM8K through the one row parser: every
// split's gold is GSM8KGold of the raw solution, a plain number.
func TestGSM8KGoldSameForTrainAndTest(t *testing.T) {
	dir := sharedDir(t)
	for _, split := range []string{SplitTrain, SplitTest} {
		ds, err := Open("gsm8k", split, Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(ds.File)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for i := 0; sc.Scan(); i++ {
			var raw struct{ Answer string }
			if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			want, err := GSM8KGold(raw.Answer)
			if err != nil {
				t.Fatalf("%s:%d: %v", ds.File, i+1, err)
			}
			if got := ds.Examples[i].Gold; got != want {
				t.Fatalf("%s example %d: gold %q, want %q", split, i, got, want)
			}
			if _, err := strconv.ParseFloat(want, 64); err != nil {
				t.Fatalf("%s example %d: gold %q is not a plain number", split, i, want)
			}
		}
		f.Close()
	}
	// The same rule for a fixture in the shared layout, in both splits: a
	// solution without "####" is an error naming file, line and field.
	fake := t.TempDir()
	os.MkdirAll(filepath.Join(fake, "gsm8k"), 0o755)
	for _, split := range []string{SplitTrain, SplitTest} {
		body := `{"question": "q1", "answer": "x\n#### 1,000"}` + "\n" + `{"question": "q2", "answer": "I think 3."}` + "\n"
		os.WriteFile(filepath.Join(fake, "gsm8k", split+".jsonl"), []byte(body), 0o644)
		ds, err := Open("gsm8k", split, Options{Dir: fake, Limit: 1})
		if err != nil || ds.Examples[0].Gold != "1000" {
			t.Fatalf("%s: %v", split, err)
		}
		_, err = Open("gsm8k", split, Options{Dir: fake})
		want := filepath.Join(fake, "gsm8k", split+".jsonl") + `:2: field "answer"`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "####") {
			t.Errorf("%s without ####: %v, want an error starting %q", split, err, want)
		}
	}
}

func TestOpenUserFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("mine.jsonl", `{"problem": "1+1?", "answer": "2", "id": "a"}`+"\n\n"+`{"question": "2+2?", "answer": 4}`+"\n"+
		`{"prompt": "3+3?", "answer": "6", "level": 2}`+"\n")
	ds, err := Open(good, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{
		{Index: 0, ID: "a", Task: TaskMath, Gold: "2", Fields: map[string]any{"problem": "1+1?", "answer": "2", "id": "a"}},
		{Index: 1, Task: TaskMath, Gold: "4", Fields: map[string]any{"question": "2+2?", "answer": "4"}},
		{Index: 2, Task: TaskMath, Gold: "6", Difficulty: 2, Fields: map[string]any{"prompt": "3+3?", "answer": "6", "level": 2.0}},
	}
	want[0].Input.Question, want[1].Input.Question, want[2].Input.Question = "1+1?", "2+2?", "3+3?"
	if ds.Name != "mine" || ds.Task != TaskMath || ds.File != good || !reflect.DeepEqual(ds.Examples, want) {
		t.Fatalf("Open = %+v", ds)
	}

	// Countdown rows, gzipped: the question is TinyZero's wording unless the
	// row has one; a file of both kinds is mixed.
	gzPath := filepath.Join(dir, "cd.jsonl.gz")
	f, _ := os.Create(gzPath)
	zw := gzip.NewWriter(f)
	zw.Write([]byte(`{"nums": [3, 5, 2], "target": 13}` + "\n" + `{"nums": [1, 2], "target": 3, "problem": "Make 3."}` + "\n" +
		`{"problem": "1+1?", "answer": 2}` + "\n"))
	zw.Close()
	f.Close()
	cd, err := Open(gzPath, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cd.Name != "cd" || cd.Task != Mixed || !reflect.DeepEqual(cd.Tasks(), []Task{TaskCountdown, TaskMath}) {
		t.Fatalf("gz: %s %s %v", cd.Name, cd.Task, cd.Tasks())
	}
	if e := cd.Examples[0]; !reflect.DeepEqual(e.Input.Numbers, []int{3, 5, 2}) || e.Input.Target != 13 || e.Gold != "13" ||
		!strings.HasPrefix(e.Input.Question, "Using the numbers [3, 5, 2], create an equation that equals 13") {
		t.Errorf("countdown row: %+v", e)
	}
	if q := cd.Examples[1].Input.Question; q != "Make 3." {
		t.Errorf("countdown row with a problem: %q", q)
	}

	// Every malformed line is an error naming the file, the line and the
	// field.
	bad := []struct{ name, body, want string }{
		{"nojson.jsonl", "{\"problem\": \"x\", \"answer\": \"1\"}\nnot json\n", "nojson.jsonl:2: expected a JSON object"},
		{"noans.jsonl", `{"problem": "x"}`, `noans.jsonl:1: field "answer": missing`},
		{"blankans.jsonl", `{"problem": "x", "answer": " "}`, `blankans.jsonl:1: field "answer"`},
		{"objans.jsonl", `{"problem": "x", "answer": {"v": 1}}`, `objans.jsonl:1: field "answer": expected a string or number`},
		{"noprob.jsonl", "\n" + `{"answer": "1"}`, `noprob.jsonl:2: field "problem": missing`},
		{"badprob.jsonl", `{"problem": 3, "answer": "1"}`, `badprob.jsonl:1: field "problem": expected a non-empty string, got a number`},
		{"emptyq.jsonl", `{"question": "", "answer": "1"}`, `emptyq.jsonl:1: field "question"`},
		{"nums.jsonl", `{"nums": [1, 2.5], "target": 3}`, `nums.jsonl:1: field "nums"[1]: expected an integer`},
		{"numsnil.jsonl", `{"nums": [], "target": 3}`, `numsnil.jsonl:1: field "nums"`},
		{"target.jsonl", `{"nums": [1, 2]}`, `target.jsonl:1: field "target"`},
		{"empty.jsonl", "\n", "no problems"},
		{"missing.jsonl", "", "no such file"},
	}
	for _, tt := range bad {
		p := filepath.Join(dir, tt.name)
		if tt.name != "missing.jsonl" {
			p = write(tt.name, tt.body)
		}
		_, err := Open(p, "", Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%s) = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tt := range []struct{ name, split, dir, want string }{
		{"nosuch", "", "x", `unknown dataset "nosuch"`},
		{"gsm8k", "", "", "no data directory"},
		{"gsm8k", "dev", "x", `no split "dev" (it has test, train)`},
		{"math500", "validation", "x", `no split "validation"`},
		{"gsm8k", "test", "/no/such/dir", "no such file"},
		{"synthetic:chess", "", "", "unknown synthetic task"},
		{"synthetic:arithmetic:4", "", "", "difficulty must be 1..3"},
		{"synthetic:arithmetic:x", "", "", "difficulty"},
		{"synthetic", "dev", "", `no split "dev"`},
	} {
		_, err := Open(tt.name, tt.split, Options{Dir: tt.dir})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q, %q) = %v, want an error with %q", tt.name, tt.split, err, tt.want)
		}
	}
}

// The synthetic datasets are what r1 zero has always trained and evaluated
// on: train from TrainProblems(kind, m, 1, d), test from
// SyntheticProblemsAt(kind, m, 7, d), n split between the kinds with the
// remainder to the first, halved while the space is too small.
func TestOpenSynthetic(t *testing.T) {
	open := func(name, split string, n int) *Dataset {
		t.Helper()
		ds, err := Open(name, split, Options{Limit: n})
		if err != nil {
			t.Fatalf("Open(%s, %s): %v", name, split, err)
		}
		return ds
	}
	examples := func(ps ...[]Problem) []Example {
		var out []Example
		for _, list := range ps {
			for _, p := range list {
				ex := p.Example()
				ex.Index = len(out)
				out = append(out, ex)
			}
		}
		return out
	}
	must := func(ps []Problem, err error) []Problem {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	for _, tt := range []struct {
		name, split string
		n           int
		want        []Example
		task        Task
	}{
		{"synthetic", "train", 20, examples(must(TrainProblems(Arithmetic, 20, 1, 0))), TaskMath},
		{"synthetic", "", 20, examples(must(TrainProblems(Arithmetic, 20, 1, 0))), TaskMath},
		{"synthetic:arithmetic", "test", 20, examples(must(SyntheticProblemsAt(Arithmetic, 20, 7, 0))), TaskMath},
		{"synthetic:countdown:2", "test", 9, examples(must(SyntheticProblemsAt(Countdown, 9, 7, 2))), TaskCountdown},
		{"synthetic:mixed", "train", 7, examples(must(TrainProblems(Arithmetic, 4, 1, 0)), must(TrainProblems(Countdown, 3, 1, 0))), Mixed},
		{"synthetic:mixed:3", "test", 5, examples(must(SyntheticProblemsAt(Arithmetic, 3, 7, 3)), must(SyntheticProblemsAt(Countdown, 2, 7, 3))), Mixed},
	} {
		ds := open(tt.name, tt.split, tt.n)
		if !reflect.DeepEqual(ds.Examples, tt.want) || ds.Task != tt.task || ds.File != "" {
			t.Errorf("%s %s: %d examples, task %s; want %d, %s", tt.name, tt.split, len(ds.Examples), ds.Task, len(tt.want), tt.task)
		}
	}
	if ds := open("synthetic", "train", 0); len(ds.Examples) != DefaultSyntheticN {
		t.Errorf("default n: %d examples, want %d", len(ds.Examples), DefaultSyntheticN)
	}
	// Difficulty 1's held-out space has ~80 problems: 200 halves to 100,
	// then to 50, which exist.
	if ds := open("synthetic:arithmetic:1", "test", 200); len(ds.Examples) != 50 {
		t.Errorf("small space: %d examples, want 50", len(ds.Examples))
	}
	// Countdown fields are JSON-typed, as a file row's would be.
	ex := open("synthetic:countdown", "train", 1).Examples[0]
	if _, ok := ex.Fields["nums"].([]any); !ok || ex.Fields["target"] != float64(ex.Input.Target) || ex.Fields["answer"] == "" {
		t.Errorf("countdown fields %v", ex.Fields)
	}
}

// Train and test never share a problem, and both come out the same on
// every call.
func TestSyntheticSplitsDisjointAndDeterministic(t *testing.T) {
	for _, name := range []string{"synthetic:arithmetic", "synthetic:countdown", "synthetic:mixed:2"} {
		train, err := Open(name, SplitTrain, Options{Limit: 600})
		if err != nil {
			t.Fatal(err)
		}
		test, err := Open(name, SplitTest, Options{Limit: 300})
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Open(name, SplitTest, Options{Limit: 300})
		if !reflect.DeepEqual(test, again) {
			t.Errorf("%s: two opens of the test split differ", name)
		}
		seen := map[string]bool{}
		for _, ex := range train.Examples {
			seen[ex.ID] = true
		}
		for _, ex := range test.Examples {
			if ex.ID == "" || seen[ex.ID] {
				t.Fatalf("%s: test example %q (%s) is also in train", name, ex.ID, ex.Input.Question)
			}
		}
	}
}

// The registry reaches correctness only through the reward registry:
// package data links no reward implementation.
func TestNoRewardImplementationDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Skip("go list:", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/r1go/r1/reward/") {
			t.Errorf("package data depends on %s; reach rewards through reward.New", dep)
		}
	}
}

// A row's difficulty comes from "difficulty", else "level" (a number or
// MATH's "Level N"); a synthetic problem carries its own.
func TestDifficulty(t *testing.T) {
	for _, c := range []struct {
		row  map[string]any
		want float64
	}{
		{map[string]any{"difficulty": 2.5}, 2.5},
		{map[string]any{"level": 4.0}, 4},
		{map[string]any{"level": "Level 3"}, 3},
		{map[string]any{"level": "5"}, 5},
		{map[string]any{"level": "hard"}, 0},
		{map[string]any{"difficulty": 1.0, "level": 5.0}, 1},
		{map[string]any{}, 0},
	} {
		if got := difficultyOf(c.row); got != c.want {
			t.Errorf("%v: difficulty %g, want %g", c.row, got, c.want)
		}
	}
	ds, err := Open("synthetic:arithmetic:2", SplitTrain, Options{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range ds.Examples {
		if ex.Difficulty != 2 {
			t.Fatalf("synthetic difficulty-2 problem %s has difficulty %g", ex.ID, ex.Difficulty)
		}
	}
}
