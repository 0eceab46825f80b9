package distill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/filter"
	"github.com/r1go/r1/internal/partial"
	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/openai/openaitest"
	"github.com/r1go/r1/reward"
)

// testPrompts are n sums "What is i + i?" with gold 2i.
func testPrompts(n int) []Prompt {
	ps := make([]Prompt, n)
	for i := range ps {
		q := fmt.Sprintf("What is %d + %d?", i, i)
		ps[i] = Prompt{Index: i, Question: q, Example: data.Example{Index: i, Task: data.TaskMath, Gold: strconv.Itoa(2 * i),
			Input: chat.PromptInput{Question: q}, Fields: map[string]any{"answer": strconv.Itoa(2 * i)}}}
	}
	return ps
}

// teacherAnswer answers a sum right when the request's seed is even and
// off by one when it is odd; the reasoning comes apart
// (reasoning_content) or in think tags, as the server is set.
func teacherAnswer(r openaitest.Request, _ int) openaitest.Reply {
	var a, b int
	fmt.Sscanf(r.LastUser(), "What is %d + %d?", &a, &b)
	sum := a + b
	if r.Seed != nil && *r.Seed%2 == 1 {
		sum++
	}
	reasoning := fmt.Sprintf("I add %d and %d, which gives %d. Seed %d.", a, b, sum, *r.Seed)
	if *r.Seed%4 >= 2 { // a second wording, so that right answers are not near duplicates
		reasoning = fmt.Sprintf("Counting up from %d by %d steps lands on %d; seed %d.", a, b, sum, *r.Seed)
	}
	return openaitest.Reply{Reasoning: reasoning,
		Content: fmt.Sprintf("The answer is $\\boxed{%d}$.", sum)}
}

func remoteTeacher(t *testing.T, url string, concurrency int) *Remote {
	c, err := openai.New(openai.Config{URL: url, Model: "teacher", Concurrency: concurrency, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &Remote{Client: c, Temperature: 0.6, TopP: 0.95, MaxTokens: 100, Seed: 10}
}

func readRows(t *testing.T, path string) []Row {
	t.Helper()
	rows, err := data.ReadJSONLFile[Row](path)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// A remote teacher's answers become SFT rows with provenance; the judge
// keeps the right ones; requests fill the configured concurrency.
func TestGenerateRemote(t *testing.T) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("reasoning_content=%v", separate), func(t *testing.T) {
			srv := openaitest.New(teacherAnswer)
			defer srv.Close()
			srv.Separate = separate
			srv.Delay = 5 * time.Millisecond
			out := filepath.Join(t.TempDir(), "gen.jsonl")
			cfg := GenerateConfig{Out: out, N: 4, Filter: filter.Defaults()}
			teacher := remoteTeacher(t, srv.URL(), 4)
			st, err := Generate(context.Background(), cfg, testPrompts(6), teacher)
			if err != nil {
				t.Fatal(err)
			}
			// Seeds 10 + p·4 + s: even for s = 0, 2 → 2 right of 4 per prompt.
			if st.Samples != 24 || st.Filter.Kept != 12 || st.Filter.Dropped["incorrect"] != 12 {
				t.Errorf("stats %+v, filter %s: want 24 samples, 12 kept, 12 incorrect", st, st.Filter)
			}
			rows := readRows(t, out)
			if len(rows) != 12 {
				t.Fatalf("%d rows, want 12", len(rows))
			}
			r := rows[0]
			want := chat.FormatReasoning("Counting up from 0 by 0 steps lands on 0; seed 10.", "The answer is $\\boxed{0}$.")
			if len(r.Messages) != 2 || r.Messages[0] != (Message{"user", "What is 0 + 0?"}) || r.Messages[1] != (Message{"assistant", want}) {
				t.Errorf("row 0 messages %q, want the question and %q", r.Messages, want)
			}
			if r.Teacher["model"] != "teacher" || r.Teacher["temperature"] != 0.6 || r.Seed != 10 || r.Answer != "0" || r.Scores["correct"] != 1 {
				t.Errorf("row 0 provenance: teacher %v seed %d answer %q scores %v", r.Teacher, r.Seed, r.Answer, r.Scores)
			}
			if got := srv.MaxInFlight.Load(); got != 4 {
				t.Errorf("at most %d requests in flight, want the configured 4", got)
			}
		})
	}
}

// Resume after SIGKILL: a child process generating against a slow teacher
// is killed mid-run; the rerun with Resume asks only for the missing
// samples, and the output equals an uninterrupted run's, with every
// (prompt, sample) once.
func TestGenerateResumeAfterSIGKILL(t *testing.T) {
	if os.Getenv("R1_DISTILL_CHILD") != "" {
		return // the child's work is done in TestMain
	}
	srv := openaitest.New(teacherAnswer)
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.jsonl")
	cfg := GenerateConfig{Out: clean, N: 3, NoFilter: true}
	if _, err := Generate(context.Background(), cfg, testPrompts(20), remoteTeacher(t, srv.URL(), 2)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGenerateResumeAfterSIGKILL$")
	cmd.Env = append(os.Environ(), "R1_DISTILL_CHILD="+srv.URL()+" "+out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once some samples are in OUT.partial.
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(partial.Path(out))
		if bytes.Count(b, []byte{'\n'}) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("child wrote no samples: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	before, _ := os.ReadFile(partial.Path(out))
	n := bytes.Count(before, []byte{'\n'})
	if n >= 60 {
		t.Fatalf("the child finished before it was killed (%d samples)", n)
	}
	// Tear the last line as a kill mid-write would.
	os.WriteFile(partial.Path(out), append(before, []byte(`{"messages":[{"role":"us`)...), 0o644)
	srv.Requests.Store(0)
	cfg.Out, cfg.Resume = out, true
	st, err := Generate(context.Background(), cfg, testPrompts(20), remoteTeacher(t, srv.URL(), 2))
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed != n || st.Generated != 60-n || srv.Requests.Load() != int64(60-n) {
		t.Errorf("resumed %d, generated %d, %d requests; want %d kept and %d asked for", st.Resumed, st.Generated, srv.Requests.Load(), n, 60-n)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile(clean)
	if !bytes.Equal(got, want) {
		t.Errorf("resumed output differs from an uninterrupted run:\n%s\nwant\n%s", got, want)
	}
	seen := map[[2]int]bool{}
	for _, r := range readRows(t, out) {
		k := [2]int{r.PromptIndex, r.SampleIndex}
		if seen[k] {
			t.Errorf("row %v twice", k)
		}
		seen[k] = true
	}
	if len(seen) != 60 {
		t.Errorf("%d distinct rows, want 60", len(seen))
	}
}

// TestMain runs the child of TestGenerateResumeAfterSIGKILL: a generation
// that is killed before it ends.
func TestMain(m *testing.M) {
	if v := os.Getenv("R1_DISTILL_CHILD"); v != "" {
		url, out, _ := strings.Cut(v, " ")
		c, _ := openai.New(openai.Config{URL: url, Model: "teacher", Concurrency: 2})
		_, err := Generate(context.Background(), GenerateConfig{Out: out, N: 3, NoFilter: true}, testPrompts(20),
			&Remote{Client: c, Temperature: 0.6, TopP: 0.95, MaxTokens: 100, Seed: 10})
		fmt.Fprintln(os.Stderr, "child finished:", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A partial file of other prompts is refused, naming the line.
func TestGenerateRefusesForeignPartial(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	line, _ := json.Marshal(Row{PromptIndex: 0, SampleIndex: 0, Question: "another question"})
	os.WriteFile(partial.Path(out), append(line, '\n'), 0o644)
	_, err := Generate(context.Background(), GenerateConfig{Out: out, N: 1, Resume: true, NoFilter: true}, testPrompts(2), nil)
	if err == nil || !strings.Contains(err.Error(), "out.jsonl.partial:1: question 0 differs") {
		t.Errorf("err = %v", err)
	}
}

// lengthScore scores a sample 1 when its response is short, else 0.
type lengthScore struct{}

func (lengthScore) Name() string { return "short" }
func (lengthScore) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	if len(s.Completion) < 90 {
		return reward.Score{Value: 1}, nil
	}
	return reward.Score{}, nil
}

// Rewards score every sample before the filters; the filter can threshold
// a score instead of asking the dataset's judge.
func TestGenerateRewardsAndScoreThreshold(t *testing.T) {
	srv := openaitest.New(teacherAnswer)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "gen.jsonl")
	cfg := GenerateConfig{Out: out, N: 4, Filter: filter.Config{Correct: "score", ScoreName: "short", MinScore: 1}, Rewards: []reward.Func{lengthScore{}}}
	st, err := Generate(context.Background(), cfg, testPrompts(3), remoteTeacher(t, srv.URL(), 2))
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, out)
	if len(rows) != st.Filter.Kept || st.Filter.Kept == 0 || st.Filter.Dropped["incorrect"] == 0 {
		t.Fatalf("stats %s, %d rows: want some kept and some dropped by the score", st.Filter, len(rows))
	}
	for _, r := range rows {
		if r.Scores["short"] != 1 || len(r.Messages[1].Content) >= 90 {
			t.Errorf("kept row with score %v, %d chars", r.Scores, len(r.Messages[1].Content))
		}
	}
}

// --mix adds general rows after the kept ones at the stated ratio.
func TestGenerateMix(t *testing.T) {
	srv := openaitest.New(teacherAnswer)
	defer srv.Close()
	dir := t.TempDir()
	general := filepath.Join(dir, "general.jsonl")
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf(`{"messages": [{"role": "user", "content": "hello %d"}, {"role": "assistant", "content": "Hello! How can I help?"}]}`, i))
	}
	os.WriteFile(general, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out := filepath.Join(dir, "gen.jsonl")
	cfg := GenerateConfig{Out: out, N: 4, Filter: filter.Defaults(), MixFile: general, MixRatio: 0.5, MixSeed: 3}
	st, err := Generate(context.Background(), cfg, testPrompts(4), remoteTeacher(t, srv.URL(), 2))
	if err != nil {
		t.Fatal(err)
	}
	if st.Filter.Kept != 8 || st.General != 4 {
		t.Fatalf("kept %d, general %d: want 8 and 4", st.Filter.Kept, st.General)
	}
	b, _ := os.ReadFile(out)
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) != 12 || !strings.Contains(rows[8], `"kind":"general"`) || strings.Contains(rows[7], "general") {
		t.Errorf("%d rows; want 8 reasoning rows, then 4 general ones:\n%s", len(rows), b)
	}
}
