package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rewardInput = `{"prompt":"Assistant: Let me solve this step by step.\n<think>","completion":" 44+19+35=98 </think>\n<answer>44 + 19 + 35</answer>","target":98,"nums":[44,19,35],"tokens":20}
{"prompt":"x","completion":"<think>hmm</think><answer>44 - 19</answer>","fields":{"target":98,"nums":[44,19,35]},"target":1}
{"completion":"no idea","fields":{"target":98,"nums":[44,19,35]}}
`

type rewardLine struct {
	Line   int     `json:"line"`
	Total  float64 `json:"total"`
	Scores map[string]struct {
		Value float64            `json:"value"`
		Parts map[string]float64 `json:"parts"`
		Err   string             `json:"err"`
	} `json:"scores"`
}

func decodeLines(t *testing.T, data string) []rewardLine {
	t.Helper()
	var out []rewardLine
	for _, l := range strings.Split(strings.TrimSpace(data), "\n") {
		var r rewardLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

func TestRewardCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(rewardInput), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "r.yaml")
	os.WriteFile(cfg, []byte("rewards:\n  - name: countdown\n    weight: 3\n  - name: format\n    label: fmt\n    weight: 0.5\ntimeout: 5s\n"), 0o644)
	tests := []struct {
		name       string
		args       []string
		wantTotals []float64
		wantLines  []int
	}{
		{"fn and weights", []string{"--fn", "format,countdown", "--weights", "1,2", "--in", in}, []float64{3, 1.2, 0}, []int{1, 2, 3}},
		{"default weights, small batches", []string{"--fn", "countdown", "--batch", "1", "--in", in}, []float64{1, 0.1, 0}, []int{1, 2, 3}},
		{"param override", []string{"--fn", "countdown", "--param", "countdown.format_score=0.5", "--in", in}, []float64{1, 0.5, 0}, []int{1, 2, 3}},
		{"yaml config", []string{"--config", cfg, "--in", in}, []float64{3.5, 0.8, 0}, []int{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := runReward(context.Background(), tc.args, nil, &stdout, &stderr); err != nil {
				t.Fatalf("err %v; stderr %s", err, stderr.String())
			}
			lines := decodeLines(t, stdout.String())
			if len(lines) != len(tc.wantTotals) {
				t.Fatalf("%d output lines, want %d", len(lines), len(tc.wantTotals))
			}
			for i, l := range lines {
				if diff := l.Total - tc.wantTotals[i]; diff > 1e-12 || diff < -1e-12 || l.Line != tc.wantLines[i] {
					t.Errorf("line %d: total %v (input line %d), want %v (line %d)", i, l.Total, l.Line, tc.wantTotals[i], tc.wantLines[i])
				}
			}
			if !strings.Contains(stderr.String(), "3 samples") || !strings.Contains(stderr.String(), "countdown") {
				t.Errorf("summary missing from stderr: %s", stderr.String())
			}
		})
	}
}

func TestRewardCommandOutFileAndStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scores.jsonl")
	var stdout, stderr bytes.Buffer
	err := runReward(context.Background(), []string{"--fn", "format", "--out", out}, strings.NewReader(rewardInput), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, string(data))
	if len(lines) != 3 || lines[0].Scores["format"].Parts["strict"] != 1 || lines[2].Scores["format"].Value != 0 {
		t.Errorf("scores file: %s", data)
	}
	if !strings.Contains(stdout.String(), "format") || !strings.Contains(stdout.String(), "total") {
		t.Errorf("summary should go to stdout with --out: %q", stdout.String())
	}
}

// A reward that cannot score a line (countdown without nums) reports it in
// the line's err and in the summary, and the run still succeeds.
func TestRewardCommandScoringErrors(t *testing.T) {
	in := `{"completion":"<answer>1+2</answer>","nums":[1,2],"target":3}
{"completion":"<answer>1+2</answer>"}
`
	var stdout, stderr bytes.Buffer
	if err := runReward(context.Background(), []string{"--fn", "countdown"}, strings.NewReader(in), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, stdout.String())
	if lines[0].Total != 1 || lines[1].Total != 0 || !strings.Contains(lines[1].Scores["countdown"].Err, "nums") {
		t.Errorf("lines: %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "countdown: 1 error(s), first at line 2:") {
		t.Errorf("summary: %s", stderr.String())
	}
}

func TestRewardCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"completion":"a"}`+"\n"+`{"prompt":"no completion"}`+"\n"), 0o644)
	notJSON := filepath.Join(dir, "notjson.jsonl")
	os.WriteFile(notJSON, []byte("{oops\n"), 0o644)
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, []byte("\n\n"), 0o644)
	tests := []struct {
		args []string
		want string
		is   error
	}{
		{[]string{"--fn", "format", "--in", bad}, "bad.jsonl:2: missing \"completion\"", nil},
		{[]string{"--fn", "format", "--in", notJSON}, "notjson.jsonl:1: invalid JSON", nil},
		{[]string{"--fn", "format", "--in", empty}, "no samples", nil},
		{[]string{"--fn", "format,countdown", "--weights", "1", "--in", bad}, "2 rewards", nil},
		{[]string{"--fn", "format", "--weights", "x", "--in", bad}, "expected a number", nil},
		{[]string{"--fn", "nosuch", "--in", bad}, "unknown reward", nil},
		{[]string{"--fn", "format", "--param", "other.x=1", "--in", bad}, "no reward labelled", nil},
		{[]string{"--fn", "format", "--param", "novalue", "--in", bad}, "LABEL.KEY=VALUE", nil},
		{[]string{"--fn", "format", "--config", "x.yaml"}, "exclusive", nil},
		{[]string{"--fn", "format", "--in", filepath.Join(dir, "missing.jsonl")}, "missing.jsonl", nil},
		{[]string{"--in", bad}, "", errUsage},
		{[]string{"-h"}, "", errHelp},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		err := runReward(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
		if tc.is != nil {
			if !errors.Is(err, tc.is) {
				t.Errorf("%v: err %v, want %v", tc.args, err, tc.is)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

// --out may not be an input: the same file, through a symlink or a hard
// link, or the file on stdin (it used to be truncated before it was read).
func TestRewardRefusesToOverwriteInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(in, []byte(rewardInput), 0o644); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.jsonl")
	hard := filepath.Join(dir, "hard.jsonl")
	if err := os.Symlink(in, sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin bool
	}{
		{"same path", []string{"--in", in, "--out", in}, false},
		{"relative and absolute", []string{"--in", in, "--out", filepath.Join(dir, ".", "a.jsonl")}, false},
		{"symlink", []string{"--in", sym, "--out", in}, false},
		{"hard link", []string{"--in", in, "--out", hard}, false},
		{"stdin is the output", []string{"--out", in}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdin io.Reader = strings.NewReader("")
			if tc.stdin {
				f, err := os.Open(in)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdin = f
			}
			var stdout, stderr bytes.Buffer
			err := runReward(context.Background(), append([]string{"--fn", "format"}, tc.args...), stdin, &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "would destroy the input") {
				t.Fatalf("err %v", err)
			}
			if data, _ := os.ReadFile(in); string(data) != rewardInput {
				t.Fatalf("the input changed: %q", data)
			}
		})
	}
}

// Every input line gets an output line, in order: a blank or unreadable
// line an error object, and the run then fails (exit 1) after scoring the
// good lines (it used to stop at the first bad line).
func TestRewardAnswersEveryLine(t *testing.T) {
	in := `{"completion":"<think>a</think><answer>1</answer>"}

not json
{"prompt":"no completion"}
{"completion":"<answer>2</answer>"}`
	out := filepath.Join(t.TempDir(), "scores.jsonl")
	_, stderr, code := runCLI(t, in, "reward", "--fn", "format", "--out", out)
	if code != 1 || !strings.Contains(stderr, "3 of 5 lines could not be scored") || !strings.Contains(stderr, "stdin:2: blank line") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Line   int                        `json:"line"`
		Error  string                     `json:"error"`
		Scores map[string]json.RawMessage `json:"scores"`
	}
	var recs []rec
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r rec
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		recs = append(recs, r)
	}
	wantErr := []string{"", "stdin:2: blank line", "stdin:3: invalid JSON", `stdin:4: missing "completion"`, ""}
	if len(recs) != len(wantErr) {
		t.Fatalf("%d output lines for 5 input lines:\n%s", len(recs), data)
	}
	for i, r := range recs {
		if r.Line != i+1 || !strings.Contains(r.Error, wantErr[i]) || (wantErr[i] == "") != (r.Scores != nil) {
			t.Errorf("output line %d: %+v, want line %d error %q", i+1, r, i+1, wantErr[i])
		}
	}
}

// r1 sample's rows: "tokens" is a list of ids (its length counts) and
// finish_reason "length" means truncated.
func TestParseSampleLineTokens(t *testing.T) {
	for _, tc := range []struct {
		line      string
		tokens    int
		truncated bool
		err       string
	}{
		{`{"completion":"a","tokens":[5,6,7]}`, 3, false, ""},
		{`{"completion":"a","tokens":12}`, 12, false, ""},
		{`{"completion":"a","tokens":[]}`, 0, false, ""},
		{`{"completion":"a","tokens":[1],"finish_reason":"length"}`, 1, true, ""},
		{`{"completion":"a","finish_reason":"length","truncated":false}`, 0, false, ""},
		{`{"completion":"a","tokens":-1}`, 0, false, `"tokens"`},
		{`{"completion":"a","tokens":1.5}`, 0, false, `"tokens"`},
		{`{"completion":"a","tokens":"x"}`, 0, false, `"tokens"`},
		{`{"completion":"a","finish_reason":3}`, 0, false, `"finish_reason"`},
	} {
		s, err := parseSampleLine([]byte(tc.line))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || s.Tokens != tc.tokens || s.Truncated != tc.truncated {
			t.Errorf("%s: tokens %d truncated %v err %v", tc.line, s.Tokens, s.Truncated, err)
		}
	}
}

// FuzzRewardLine: the line parser of r1 reward never panics.
func FuzzRewardLine(f *testing.F) {
	for _, s := range strings.Split(rewardInput, "\n") {
		f.Add(s)
	}
	for _, s := range []string{"", "{}", "null", "[]", `{"completion":1}`, `{"completion":"a","tokens":[1,2]}`, `{"completion":"a","fields":null}`,
		`{"completion":"a","tokens":1e400}`, `{"completion":"a","finish_reason":"length"}`, "{\"completion\":\"\xff\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := parseSampleLine([]byte(line))
		if err == nil && s.Tokens < 0 {
			t.Fatalf("%q: negative tokens %d", line, s.Tokens)
		}
	})
}
