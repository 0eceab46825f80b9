package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sft"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestSampleFileIsReproducible(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 9); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt": "What is 2 + 3?"}`+"\n"+`{"prompt": "What is 12 + 7? Think first."}`+"\n"), 0o644)
	var outs []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, "s"+string(rune('a'+i))+".jsonl")
		_, stderr, code := runCLI(t, "", "sample", "--model", md, "--prompts", prompts, "-n", "3", "--seed", "7",
			"--max-new-tokens", "10", "--template", "r1-zero", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(data))
	}
	if outs[0] != outs[1] {
		t.Fatal("the same seed gave different sample files")
	}
	lines := strings.Split(strings.TrimSpace(outs[0]), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 2 prompts × 3 samples", len(lines))
	}
	var rec sampleRecord
	if err := json.Unmarshal([]byte(lines[4]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.PromptIndex != 1 || rec.SampleIndex != 1 || len(rec.Tokens) != len(rec.LogProbs) || !strings.HasPrefix(rec.Prompt, "A conversation between User and Assistant") {
		t.Fatalf("record %+v", rec)
	}
}

func TestSampleStreamsOnePrompt(t *testing.T) {
	md := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(md, "llama", 2); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, "", "sample", "--model", md, "--prompt", "User: What is 9 - 4? Assistant:", "--max-new-tokens", "6", "--temperature", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "6 tokens, length") && !strings.Contains(stderr, "stop") {
		t.Fatalf("stderr %q", stderr)
	}
	if len(strings.TrimSpace(out)) == 0 {
		t.Fatal("nothing streamed")
	}
	if _, _, code := runCLI(t, "", "sample", "--model", md); code == 0 {
		t.Fatal("no prompt accepted")
	}
}

// Without --model, commands use the tiny base model built into the binary.
func TestBuiltinModelIsDefault(t *testing.T) {
	if defaultModelDir() == "" {
		t.Fatal("the built-in model could not be unpacked")
	}
	out, stderr, code := runCLI(t, "", "sample", "--template", "r1-zero", "--prompt", "What is 2 + 3?", "--max-new-tokens", "40", "--temperature", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "<answer>") {
		t.Fatalf("the built-in model answered %q; it should use the R1-Zero format", out)
	}
}

// Bad sampling flags are refused with the flag and its range.
func TestSampleRejectsBadFlags(t *testing.T) {
	dir := t.TempDir()
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt": "What is 2 + 3?"}`+"\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "-1"}, "-n -1: expected an integer from 1 to"},
		{[]string{"-n", "0"}, "-n 0"},
		{[]string{"--stop", ","}, `--stop ",": stop string 1 of 2 is empty`},
		{[]string{"--stop", "</answer>,"}, "stop string 2 of 2 is empty"},
		{[]string{"--max-new-tokens", "0"}, "--max-new-tokens 0"},
		{[]string{"--batch", "-2"}, "--batch -2"},
		{[]string{"--top-k", "-1"}, "--top-k -1"},
		{[]string{"--temperature", "-0.5"}, "--temperature -0.5"},
		{[]string{"--temperature", "NaN"}, "--temperature NaN"},
		{[]string{"--top-p", "0"}, "--top-p 0"},
		{[]string{"--top-p", "1.5"}, "--top-p 1.5"},
		{[]string{"--min-p", "1"}, "--min-p 1"},
		{[]string{"--out", prompts}, "would destroy the input"},
		{[]string{"--resume", "--prompt", "x"}, "exactly one of"},
	} {
		args := append([]string{"sample", "--prompts", prompts, "--out", filepath.Join(dir, "o.jsonl")}, tc.args...)
		_, stderr, code := runCLI(t, "", args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// A bad prompts line is named before the model loads.
	os.WriteFile(prompts, []byte(`{"prompt": "a"}`+"\n\n"+`{"question": "b"}`+"\n"), 0o644)
	_, stderr, code := runCLI(t, "", "sample", "--prompts", prompts, "--out", filepath.Join(dir, "o.jsonl"))
	if code != 1 || !strings.Contains(stderr, "p.jsonl:2: blank line") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// stopAfterLines is a context that is canceled once the file at path holds
// n lines: an interruption at a known point of a run.
type stopAfterLines struct {
	context.Context
	path   string
	n      int
	cancel context.CancelFunc
}

func (c *stopAfterLines) Err() error {
	if data, err := os.ReadFile(c.path); err == nil && bytes.Count(data, []byte{'\n'}) >= c.n {
		c.cancel()
	}
	return c.Context.Err()
}

// An interrupted r1 sample --prompts keeps every finished sample in
// OUT.partial; --resume finishes the run, and the result is byte-identical
// to an uninterrupted run.
func TestSampleInterruptKeepsFinishedAndResumes(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 9); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	var pb strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&pb, "{\"prompt\": \"What is %d + %d?\", \"answer\": \"%d\", \"id\": %d}\n", i, i+1, 2*i+1, i)
	}
	os.WriteFile(prompts, []byte(pb.String()), 0o644)
	args := func(out string, extra ...string) []string {
		return append([]string{"--model", md, "--prompts", prompts, "-n", "2", "--batch", "2", "--seed", "3",
			"--max-new-tokens", "16", "--out", out}, extra...)
	}
	clean := filepath.Join(dir, "clean.jsonl")
	var stderr bytes.Buffer
	if err := runSample(context.Background(), args(clean), nil, io.Discard, &stderr); err != nil {
		t.Fatalf("clean run: %v\n%s", err, stderr.String())
	}
	want, _ := os.ReadFile(clean)

	out := filepath.Join(dir, "out.jsonl")
	partial := out + ".partial"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := runSample(&stopAfterLines{Context: ctx, path: partial, n: 5, cancel: cancel}, args(out), nil, io.Discard, &stderr)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("interrupted run: err %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("an interrupted run wrote OUT")
	}
	kept, err := os.ReadFile(partial)
	if err != nil || bytes.Count(kept, []byte{'\n'}) < 5 {
		t.Fatalf("partial: %v, %d lines", err, bytes.Count(kept, []byte{'\n'}))
	}
	for _, line := range strings.Split(strings.TrimSpace(string(kept)), "\n") {
		if !strings.Contains(string(want), line) {
			t.Fatalf("kept row not in the clean run: %s", line)
		}
	}
	// Without --resume the kept samples are not thrown away.
	if err := runSample(context.Background(), args(out), nil, io.Discard, &stderr); err == nil || !strings.Contains(err.Error(), "pass --resume") {
		t.Fatalf("rerun without --resume: %v", err)
	}
	// A run killed mid-write leaves a torn last line: resume drops it.
	f, _ := os.OpenFile(partial, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"prompt": "What is`)
	f.Close()
	stderr.Reset()
	if err := runSample(context.Background(), args(out, "--resume"), nil, io.Discard, &stderr); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "resuming:") {
		t.Errorf("stderr %q", stderr.String())
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(want) {
		t.Fatalf("resumed output differs from the clean run:\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(partial); err == nil {
		t.Error("OUT.partial left behind after success")
	}
	// A partial from other prompts is refused, naming the line.
	os.WriteFile(partial, []byte(`{"prompt": "other", "prompt_index": 0, "sample_index": 0}`+"\n"), 0o644)
	if err := runSample(context.Background(), args(out, "--resume"), nil, io.Discard, &stderr); err == nil || !strings.Contains(err.Error(), "out.jsonl.partial:1: prompt 0 differs") {
		t.Fatalf("foreign partial: %v", err)
	}
}

// With -n > 1 the streamed samples follow one another (they used to be
// interleaved token by token), each the text the file mode gives.
func TestSampleStreamsSamplesInTurn(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 5); err != nil {
		t.Fatal(err)
	}
	const q = "What is 12 + 7? Think first."
	flags := []string{"--model", md, "-n", "3", "--seed", "11", "--max-new-tokens", "12", "--template", "r1-zero"}
	streamed, stderr, code := runCLI(t, "", append([]string{"sample", "--prompt", q}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt": "`+q+`"}`+"\n"), 0o644)
	out := filepath.Join(dir, "s.jsonl")
	if _, stderr, code := runCLI(t, "", append([]string{"sample", "--prompts", prompts, "--out", out}, flags...)...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(out)
	var want strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec sampleRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			want.WriteString("\n")
		}
		fmt.Fprintf(&want, "--- sample %d ---\n%s", i, rec.Completion)
	}
	want.WriteString("\n")
	if streamed != want.String() {
		t.Fatalf("streamed:\n%q\nwant:\n%q", streamed, want.String())
	}
}

// r1 sample's output is r1 reward's input: the prompt rows' fields (the
// gold "answer") are carried through and "tokens" (a list) is accepted.
func TestSampleOutputFeedsReward(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "llama", 7); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt": "What is 2 + 3?", "answer": "5", "meta": {"src": "t", "n": [1, 2]}}`+"\n"+
		`{"prompt": "What is 9 - 4?", "answer": "5", "completion": "a reference solution"}`+"\n"), 0o644)
	out := filepath.Join(dir, "s.jsonl")
	if _, stderr, code := runCLI(t, "", "sample", "--model", md, "--prompts", prompts, "-n", "2", "--max-new-tokens", "8",
		"--template", "r1-zero", "--out", out); code != 0 {
		t.Fatalf("sample: exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d rows", len(lines))
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	meta, _ := row["meta"].(map[string]any)
	if row["answer"] != "5" || meta["src"] != "t" || row["input_prompt"] != "What is 2 + 3?" || !strings.Contains(row["prompt"].(string), "What is 2 + 3?") {
		t.Fatalf("fields not carried: %s", lines[0])
	}
	var row3 map[string]any
	json.Unmarshal([]byte(lines[3]), &row3)
	if row3["input_completion"] != "a reference solution" || row3["completion"] == "a reference solution" {
		t.Fatalf("a field named like an output key: %s", lines[3])
	}
	scores := filepath.Join(dir, "r.jsonl")
	stdout, stderr, code := runCLI(t, "", "reward", "--fn", "math,format,overlong", "--param", "overlong.max_len=8", "--in", out, "--out", scores)
	if code != 0 {
		t.Fatalf("reward: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "4 samples") {
		t.Fatalf("summary %q", stdout)
	}
	sdata, _ := os.ReadFile(scores)
	for i, l := range strings.Split(strings.TrimSpace(string(sdata)), "\n") {
		var r struct {
			Line   int                     `json:"line"`
			Error  string                  `json:"error"`
			Scores map[string]reward.Score `json:"scores"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Line != i+1 || r.Error != "" || len(r.Scores) != 3 {
			t.Fatalf("score line %d: %s (%v)", i+1, l, err)
		}
		for name, s := range r.Scores {
			if s.Err != "" {
				t.Errorf("line %d: %s: %s", i+1, name, s.Err)
			}
		}
	}
	// ... and r1 reward's output is what the cold start reads: prompt,
	// completion and finish_reason are carried on beside the scores.
	f, err := os.Open(scores)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, st, err := sft.ColdStart(f, sft.ColdStartOptions{Correct: "math"}); err != nil || st.Read != len(lines) || st.Malformed+st.Incorrect+st.Truncated+st.Kept+st.OutOfSize != st.Read {
		t.Fatalf("cold start from r1 reward's output: %+v, %v", st, err)
	}
	var first map[string]any
	sc, _ := os.ReadFile(scores)
	json.Unmarshal([]byte(strings.SplitN(string(sc), "\n", 2)[0]), &first)
	if first["completion"] == nil || first["prompt"] == nil || first["finish_reason"] == nil {
		t.Fatalf("r1 reward did not carry the sample on: %v", first)
	}
}

// FuzzSamplePromptRow: any prompts line parses or fails cleanly, and a
// parsed row's output record is valid JSON that r1 reward reads back with
// the row's fields.
func FuzzSamplePromptRow(f *testing.F) {
	for _, s := range []string{`{"prompt": "What is 2 + 3?", "answer": "5"}`, `{"prompt": ""}`, `{"prompt": 1}`, ``, `null`, `[]`,
		`{"prompt": "a", "completion": "b", "input_completion": "c"}`, `{"prompt": "a", "tokens": [1,2], "x": {"y": [null]}}`,
		"{\"prompt\": \"\xff\"}", `{"prompt": "a", "prompt": "b"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		row, err := parsePromptRow([]byte(line))
		if err != nil {
			return
		}
		rec := sampleRecord{Prompt: "T: " + row.prompt, Completion: "c", Tokens: []int32{1, 2}, LogProbs: []float32{-1, -2}, FinishReason: "length"}
		b, err := marshalSample(rec, row)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		s, err := parseSampleLine(b)
		if err != nil {
			t.Fatalf("%q: output %s does not read back: %v", line, b, err)
		}
		if s.Completion != "c" || s.Tokens != 2 || !s.Truncated {
			t.Fatalf("%q: read back %+v", line, s)
		}
	})
}
