package format

import (
	"context"
	"strings"
	"testing"

	"github.com/r1go/r1/reward"
)

const (
	r1Distill = "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\n"
	tinyZero  = "User: Using the numbers [1, 2, 3] ... Show your work in <think> </think> tags.\nAssistant: Let me solve this step by step.\n<think>"
	plain     = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
)

// Truth table: each row gives the expected value of strict, lenient and
// tag_count for one prompt/completion pair.
func TestTruthTable(t *testing.T) {
	tests := []struct {
		name                string
		prompt, completion  string
		strict, lenient, tc float64
	}{
		{"perfect", plain, "<think>\n2+2=4\n</think>\n<answer>\n4\n</answer>", 1, 1, 1},
		{"perfect no newlines", plain, "<think>x</think><answer>4</answer>", 1, 1, 1},
		{"surrounding whitespace", plain, "  \n<think>x</think>\n\n<answer>4</answer>\n ", 1, 1, 1},
		{"empty think allowed", plain, "<think></think><answer>4</answer>", 1, 1, 1},
		{"blank answer", plain, "<think>x</think><answer> \n</answer>", 0, 1, 1},
		{"text before", plain, "Sure! <think>x</think><answer>4</answer>", 0, 1, 1},
		{"text between", plain, "<think>x</think> so <answer>4</answer>", 0, 1, 1},
		{"text after", plain, "<think>x</think><answer>4</answer> done", 0, 1, 1},
		{"two answers", plain, "<think>x</think><answer>4</answer><answer>5</answer>", 0, 1, 0.5},
		{"nested think", plain, "<think>a<think>b</think><answer>4</answer>", 0, 1, 0.75},
		{"answer inside think", plain, "<think>a<answer>4</answer></think><answer>4</answer>", 0, 1, 0.5},
		{"wrong order", plain, "<answer>4</answer><think>x</think>", 0, 0, 1},
		{"no think", plain, "<answer>4</answer>", 0, 0, 0.5},
		{"no tags", plain, "The answer is 4.", 0, 0, 0},
		{"unclosed answer (truncated)", plain, "<think>x</think><answer>4", 0, 0, 0.75},
		{"empty", plain, "", 0, 0, 0},
		// Templates that open <think> in the prompt: the completion starts
		// inside the block.
		{"r1-distill prefill", r1Distill, "2+2=4\n</think>\n<answer>4</answer>", 1, 1, 1},
		{"tinyzero prefill", tinyZero, " 1+2=3 </think> <answer> 1 + 2 </answer>", 1, 1, 1},
		{"prefill but model repeats tag", r1Distill, "<think>2+2=4</think><answer>4</answer>", 0, 1, 0.75},
		{"prefill, no close", r1Distill, "2+2=4 <answer>4</answer>", 0, 0, 0.75},
		// Without the prefill the same completion lacks the opening tag.
		{"no prefill, missing open", plain, "2+2=4\n</think>\n<answer>4</answer>", 0, 0, 0.75},
		// A prompt that only mentions the tags does not open a block.
		{"tags mentioned in instructions", "Show your work in <think> </think> tags.\nAssistant:", "<think>x</think><answer>4</answer>", 1, 1, 1},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := reward.Sample{Prompt: tc.prompt, Completion: tc.completion}
			for _, c := range []struct {
				name string
				want float64
			}{{"format", tc.strict}, {"format_lenient", tc.lenient}, {"tag_count", tc.tc}} {
				fn, err := reward.New(c.name, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := fn.Score(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				if got.Value != c.want {
					t.Errorf("%s = %v, want %v (parts %v)", c.name, got.Value, c.want, got.Parts)
				}
			}
		})
	}
}

func TestThinkInPromptParam(t *testing.T) {
	s := reward.Sample{Prompt: plain, Completion: "x</think><answer>4</answer>"}
	for _, tc := range []struct {
		v    string
		want float64
	}{{"auto", 0}, {"no", 0}, {"yes", 1}} {
		fn, err := reward.New("format", map[string]any{"think_in_prompt": tc.v})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := fn.Score(context.Background(), s)
		if got.Value != tc.want {
			t.Errorf("think_in_prompt=%s: %v, want %v", tc.v, got.Value, tc.want)
		}
	}
	for _, bad := range []map[string]any{{"think_in_prompt": "maybe"}, {"strict": true}} {
		if _, err := reward.New("format", bad); err == nil || !strings.Contains(err.Error(), "param") {
			t.Errorf("params %v: err %v, want a param error", bad, err)
		}
	}
}

func TestTagCountParts(t *testing.T) {
	fn, _ := reward.New("tag_count", nil)
	got, _ := fn.Score(context.Background(), reward.Sample{Completion: "<think>a</think><answer>1</answer><answer>2"})
	want := map[string]float64{"think_open": 0.25, "think_close": 0.25, "answer_open": 0, "answer_close": 0.25}
	for k, v := range want {
		if got.Parts[k] != v {
			t.Errorf("part %s = %v, want %v", k, got.Parts[k], v)
		}
	}
}

func BenchmarkStrict(b *testing.B) {
	text := "<think>" + strings.Repeat("reasoning step. ", 500) + "</think>\n<answer>42</answer>"
	for b.Loop() {
		IsStrict(text)
	}
}

// FuzzFormat checks the rules' relations on arbitrary text: strict implies
// lenient, and tag_count is a multiple of 0.25 in [0, 1].
func FuzzFormat(f *testing.F) {
	for _, s := range []string{"<think>a</think><answer>b</answer>", "</think><answer>", "<think><think>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if IsStrict(s) && !InOrder(s) {
			t.Fatalf("%q strict but not in order", s)
		}
		fn, _ := New(TagCount, nil)
		sc, _ := fn.Score(context.Background(), reward.Sample{Completion: s})
		if q := sc.Value * 4; q != float64(int(q)) || sc.Value < 0 || sc.Value > 1 {
			t.Fatalf("%q: tag_count %v", s, sc.Value)
		}
	})
}

// format_summary accepts the R1 format cold start teaches and nothing else.
func TestSummaryFormat(t *testing.T) {
	r, err := New(Summary, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		completion string
		want       float64
	}{
		{"<think>\n2 + 3 = 5.\n</think>\n\nThe answer is $\\boxed{5}$.", 1},
		{"<think>2 + 3 = 5.</think> <answer>5</answer>", 0}, // R1-Zero's format
		{"<think>2 + 3 = 5.</think>", 0},                    // no summary
		{"<think> </think> The answer is 5.", 0},            // no reasoning
		{"The answer is 5.", 0},
		{"<think>a</think> b <think>c</think> d", 0},
	} {
		s, err := r.Score(context.Background(), reward.Sample{Prompt: "Q", Completion: c.completion})
		if err != nil || s.Value != c.want {
			t.Errorf("%q: %v %v, want %v", c.completion, s.Value, err, c.want)
		}
	}
	if !reward.Registered("format_summary") {
		t.Fatal("format_summary is not registered")
	}
}
