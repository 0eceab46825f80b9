package chat

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// R1ZeroInstruction is the fixed part of the DeepSeek-R1-Zero training
// template (DeepSeek-R1 paper, Table 1), verbatim.
const R1ZeroInstruction = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. " +
	"The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. " +
	"The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, " +
	"i.e., <think> reasoning process here </think> <answer> answer here </answer>."

// R1Zero fills the Table 1 template: "... User: prompt. Assistant:". The
// period after the question is the paper's, kept even when the question
// ends in punctuation, so prompts match other R1-Zero reproductions.
func R1Zero(question string) string {
	return R1ZeroInstruction + " User: " + question + ". Assistant:"
}

// ParseR1Zero recovers the question from a prompt R1Zero rendered; ok is
// false for any other text.
func ParseR1Zero(prompt string) (question string, ok bool) {
	q, ok := strings.CutPrefix(prompt, R1ZeroInstruction+" User: ")
	if !ok {
		return "", false
	}
	q, ok = strings.CutSuffix(q, ". Assistant:")
	return q, ok
}

// pyIntList formats numbers the way Python prints a list of ints, which is
// how TinyZero's f-string embeds them ("[44, 19, 35]").
func pyIntList(nums []int) string {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// CountdownTask is the Countdown instruction shared by TinyZero's templates
// (examples/data_preprocess/countdown.py).
func CountdownTask(nums []int, target int) string {
	return "Using the numbers " + pyIntList(nums) + ", create an equation that equals " + strconv.Itoa(target) +
		". You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. " +
		"Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, " +
		"for example <answer> (1 + 2) / 3 </answer>."
}

// CountdownBase is TinyZero's "base" template: a plain-text dialogue for
// base models, ending with the assistant's "<think>" prefill.
func CountdownBase(nums []int, target int) string {
	return "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. " +
		"The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n" +
		"User: " + CountdownTask(nums, target) + "\nAssistant: Let me solve this step by step.\n<think>"
}

// CountdownQwenInstruct is TinyZero's "qwen-instruct" template, ChatML with
// its system prompt (grammar and the space before "Using" as upstream).
func CountdownQwenInstruct(nums []int, target int) string {
	return "<|im_start|>system\nYou are a helpful assistant. You first thinks about the reasoning process in the mind " +
		"and then provides the user with the answer.<|im_end|>\n<|im_start|>user\n " + CountdownTask(nums, target) +
		"<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>"
}

// Reasoning markers of the R1 output format. The paper writes the cold-start
// format as |special_token|<reasoning_process>|special_token|<summary>;
// DeepSeek-R1 and its distilled models use <think> and </think> for the two
// special tokens, so r1 does too.
const (
	ThinkOpen  = "<think>"
	ThinkClose = "</think>"
)

// FormatReasoning renders a cold-start / SFT target: the reasoning inside
// the think markers, a blank line, then the summary. The layout equals what
// the Qwen3 chat template writes for an assistant turn with reasoning, so a
// parsed response re-renders unchanged.
func FormatReasoning(reasoning, summary string) string {
	return ThinkOpen + "\n" + strings.Trim(reasoning, "\n") + "\n" + ThinkClose + "\n\n" + strings.TrimLeft(summary, "\n")
}

// ParseReasoning splits a response into reasoning and summary at the first
// </think>. The opening <think> is optional because generation prompts often
// prefill it. ok is false when there is no </think>; then summary is the
// whole text. Surrounding newlines are trimmed as FormatReasoning adds them.
func ParseReasoning(text string) (reasoning, summary string, ok bool) {
	i := strings.Index(text, ThinkClose)
	if i < 0 {
		return "", text, false
	}
	before := text[:i]
	if j := strings.LastIndex(before, ThinkOpen); j >= 0 && strings.TrimSpace(before[:j]) == "" {
		before = before[j+len(ThinkOpen):]
	}
	return strings.Trim(before, "\n"), strings.TrimLeft(text[i+len(ThinkClose):], "\n"), true
}

// PromptInput is what a prompt format needs; each format uses some fields.
type PromptInput struct {
	// Question is the task text (r1-zero, chat, plain).
	Question string
	// System is an optional system message for "chat".
	System string
	// Numbers and Target describe a Countdown task.
	Numbers []int
	Target  int
}

// PromptFormat builds a prompt by name; see Prompts.
type PromptFormat struct {
	Name        string
	Description string
	// Build renders the prompt; model is the model's chat template, needed
	// only by "chat".
	Build func(in PromptInput, model *Template) (string, error)
}

func needQuestion(name string, in PromptInput) error {
	if in.Question == "" {
		return fmt.Errorf("chat: prompt %q: PromptInput.Question is empty", name)
	}
	return nil
}

func needCountdown(name string, in PromptInput) error {
	if len(in.Numbers) == 0 {
		return fmt.Errorf("chat: prompt %q: PromptInput.Numbers is empty (a Countdown task needs numbers and a target)", name)
	}
	return nil
}

var prompts = map[string]PromptFormat{
	"r1-zero": {Name: "r1-zero", Description: "DeepSeek-R1-Zero template (paper Table 1) for base models",
		Build: func(in PromptInput, _ *Template) (string, error) {
			if err := needQuestion("r1-zero", in); err != nil {
				return "", err
			}
			return R1Zero(in.Question), nil
		}},
	"countdown-base": {Name: "countdown-base", Description: "TinyZero Countdown prompt for base models",
		Build: func(in PromptInput, _ *Template) (string, error) {
			if err := needCountdown("countdown-base", in); err != nil {
				return "", err
			}
			return CountdownBase(in.Numbers, in.Target), nil
		}},
	"countdown-qwen-instruct": {Name: "countdown-qwen-instruct", Description: "TinyZero Countdown prompt in Qwen ChatML",
		Build: func(in PromptInput, _ *Template) (string, error) {
			if err := needCountdown("countdown-qwen-instruct", in); err != nil {
				return "", err
			}
			return CountdownQwenInstruct(in.Numbers, in.Target), nil
		}},
	"chat": {Name: "chat", Description: "the model's own chat template with a generation prompt",
		Build: func(in PromptInput, model *Template) (string, error) {
			if err := needQuestion("chat", in); err != nil {
				return "", err
			}
			if model == nil {
				return "", errors.New("chat: prompt \"chat\" needs the model's chat template (tokenizer_config.json)")
			}
			var msgs []Message
			if in.System != "" {
				msgs = append(msgs, Message{Role: "system", Content: in.System})
			}
			msgs = append(msgs, Message{Role: "user", Content: in.Question})
			return model.Render(msgs, Options{AddGenerationPrompt: true})
		}},
	"plain": {Name: "plain", Description: "the question text unchanged",
		Build: func(in PromptInput, _ *Template) (string, error) {
			if err := needQuestion("plain", in); err != nil {
				return "", err
			}
			return in.Question, nil
		}},
}

// PromptNames lists the registered prompt formats, sorted.
func PromptNames() []string {
	names := make([]string, 0, len(prompts))
	for n := range prompts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupPrompt returns the prompt format called name.
func LookupPrompt(name string) (PromptFormat, error) {
	p, ok := prompts[name]
	if !ok {
		return PromptFormat{}, fmt.Errorf("chat: unknown prompt format %q (want one of %s)", name, strings.Join(PromptNames(), ", "))
	}
	return p, nil
}

// Prompt builds the prompt called name from in; model may be nil except for
// "chat".
func Prompt(name string, in PromptInput, model *Template) (string, error) {
	p, err := LookupPrompt(name)
	if err != nil {
		return "", err
	}
	return p.Build(in, model)
}
