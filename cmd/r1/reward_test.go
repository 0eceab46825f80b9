package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
