package reward

import (
	"strings"
)

// Reasoning tags of the R1 format.
const (
	ThinkOpen   = "<think>"
	ThinkClose  = "</think>"
	AnswerOpen  = "<answer>"
	AnswerClose = "</answer>"
)

// PromptOpensThink reports whether the prompt ends inside an open <think>
// block, as R1-Distill's generation prompt (`<｜Assistant｜><think>\n`) and
// TinyZero's ("Let me solve this step by step.\n<think>") do. The model then
// never writes the opening tag itself; rewards that ignore this punish every
// correct completion, a bug common in other trainers.
func PromptOpensThink(prompt string) bool {
	i := strings.LastIndex(prompt, ThinkOpen)
	if i < 0 {
		return false
	}
	rest := prompt[i+len(ThinkOpen):]
	// Only whitespace may follow: a prompt that merely mentions the tag in its
	// instructions ("Show your work in <think> </think> tags.") does not
	// open a block.
	return strings.TrimSpace(rest) == ""
}

// FullCompletion returns the completion as if the model had written every
// tag itself: "<think>" is prepended when the prompt already opened the
// block. Format-style rewards score this text.
func FullCompletion(s Sample) string {
	if PromptOpensThink(s.Prompt) {
		return ThinkOpen + s.Completion
	}
	return s.Completion
}

// SplitThink returns the reasoning (inside the first think block) and what
// follows it. ok is false when the completion has no think block; think is
// then empty and rest is the whole completion. An unclosed block (e.g. a
// truncated completion) is all reasoning.
func SplitThink(s Sample) (think, rest string, ok bool) {
	text := FullCompletion(s)
	i := strings.Index(text, ThinkOpen)
	if i < 0 {
		return "", text, false
	}
	body := text[i+len(ThinkOpen):]
	j := strings.Index(body, ThinkClose)
	if j < 0 {
		return body, "", true
	}
	return body[:j], body[j+len(ThinkClose):], true
}
