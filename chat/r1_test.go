package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestR1ZeroTemplate(t *testing.T) {
	// DeepSeek-R1 paper, Table 1, with "prompt" replaced by the question.
	want := "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: What is 1+1. Assistant:"
	if got := R1Zero("What is 1+1"); got != want {
		t.Errorf("R1Zero:\n got %q\nwant %q", got, want)
	}
}

func TestCountdownMatchesTinyZero(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ef struct {
		Countdown []map[string]json.RawMessage `json:"countdown"`
	}
	if err := json.Unmarshal(data, &ef); err != nil {
		t.Fatal(err)
	}
	if len(ef.Countdown) == 0 {
		t.Fatal("expected.json has no countdown prompts")
	}
	for i, row := range ef.Countdown {
		var in PromptInput
		if err := json.Unmarshal(row["nums"], &in.Numbers); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(row["target"], &in.Target); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"countdown-base", "countdown-qwen-instruct"} {
			var want string
			if err := json.Unmarshal(row[name], &want); err != nil {
				t.Fatal(err)
			}
			got, err := Prompt(name, in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("row %d %s:\n got %q\nwant %q", i, name, got, want)
			}
		}
	}
}

func TestPromptRegistry(t *testing.T) {
	want := []string{"chat", "countdown-base", "countdown-qwen-instruct", "plain", "r1-zero"}
	if got := PromptNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("PromptNames() = %v, want %v", got, want)
	}
	model, err := Parse("mini", "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      PromptInput
		model   *Template
		want    string
		wantErr string
	}{
		{"plain", PromptInput{Question: "2+2?"}, nil, "2+2?", ""},
		{"r1-zero", PromptInput{Question: "2+2?"}, nil, R1Zero("2+2?"), ""},
		{"chat", PromptInput{Question: "2+2?", System: "S"}, model, "<system>S<user>2+2?<assistant>", ""},
		{"chat", PromptInput{Question: "2+2?"}, model, "<user>2+2?<assistant>", ""},
		{"chat", PromptInput{Question: "2+2?"}, nil, "", "needs the model's chat template"},
		{"countdown-base", PromptInput{Question: "x"}, nil, "", "Numbers is empty"},
		{"r1-zero", PromptInput{}, nil, "", "Question is empty"},
		{"nope", PromptInput{Question: "x"}, nil, "", `unknown prompt format "nope"`},
	}
	for _, tc := range tests {
		got, err := Prompt(tc.name, tc.in, tc.model)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestParseReasoning(t *testing.T) {
	tests := []struct {
		name, text         string
		reasoning, summary string
		ok                 bool
	}{
		{"full", "<think>\nstep 1\nstep 2\n</think>\n\nAnswer: 4", "step 1\nstep 2", "Answer: 4", true},
		{"prefilled_open_tag", "step 1\n</think>\n\nAnswer", "step 1", "Answer", true},
		{"no_close", "<think>\nstill thinking", "", "<think>\nstill thinking", false},
		{"empty_reasoning", "<think>\n\n</think>\n\nHi", "", "Hi", true},
		{"leading_space", "  <think>a</think>b", "a", "b", true},
		{"text_before_open_tag_kept", "note <think>a</think>b", "note <think>a", "b", true},
		{"second_close_stays_in_summary", "<think>a</think>b</think>c", "a", "b</think>c", true},
		{"unicode", "<think>\n思考\n</think>\n\n答案 ✓", "思考", "答案 ✓", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, s, ok := ParseReasoning(tc.text)
			if r != tc.reasoning || s != tc.summary || ok != tc.ok {
				t.Errorf("got (%q, %q, %v), want (%q, %q, %v)", r, s, ok, tc.reasoning, tc.summary, tc.ok)
			}
		})
	}
}

func TestFormatReasoningRoundTripAndMatchesQwen3(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(tokenizerDir(t), "chat_templates", "Qwen-Qwen3-0.6B.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	qwen3, err := Parse("qwen3", string(src))
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{"a\nb", "c"}, {"\nx\n", "\n\ny"}, {"", "only summary"}, {"r", ""}}
	for _, p := range pairs {
		text := FormatReasoning(p[0], p[1])
		r, s, ok := ParseReasoning(text)
		if !ok || r != strings.Trim(p[0], "\n") || s != strings.TrimLeft(p[1], "\n") {
			t.Errorf("round trip of %q: got (%q, %q, %v)", p, r, s, ok)
		}
		out, err := qwen3.Render([]Message{{Role: "user", Content: "q"}, {Role: "assistant", Content: p[1], ReasoningContent: p[0] + " "}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Qwen3 strips only newlines around reasoning; the trailing space
		// makes ReasoningContent non-empty so the key is always present.
		want := "<|im_start|>assistant\n" + FormatReasoning(p[0]+" ", p[1]) + "<|im_end|>\n"
		if !strings.HasSuffix(out, want) {
			t.Errorf("Qwen3 renders %q, want suffix %q", out, want)
		}
	}
}
