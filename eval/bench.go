package eval

import (
	"fmt"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
)

// MathInstruction is appended to math questions in the chat and plain
// formats: DeepSeek's recommended evaluation prompt for R1 models, which
// also makes the final answer extractable from \boxed{}.
const MathInstruction = "Please reason step by step, and put your final answer within \\boxed{}."

// BuildPrompt renders an example in a prompt format: "chat" (the model's
// chat template, tmpl must be set), "chat-bare" (the chat template around
// the question alone, without MathInstruction: for models fine-tuned on
// bare questions, as r1 sft's cold start is), "r1-zero" (the paper's
// Table 1 template) or "plain" (the question; for code the text a base
// model continues). Zero-shot: the R1 paper found few-shot prompts hurt.
func BuildPrompt(format string, ex data.Example, tmpl *chat.Template) (string, error) {
	q := ex.Input.Question
	switch format {
	case "chat-bare":
		return chat.Prompt("chat", chat.PromptInput{Question: q}, tmpl)
	case "chat", "plain":
		if ex.Task == data.TaskMath {
			q += "\n" + MathInstruction
		}
		if format == "plain" {
			if ex.Task == data.TaskCode && ex.Continuation != "" {
				return ex.Continuation, nil
			}
			return q, nil
		}
		return chat.Prompt("chat", chat.PromptInput{Question: q}, tmpl)
	case "r1-zero":
		return chat.R1Zero(q), nil
	}
	return "", fmt.Errorf("prompt format %q: expected chat, chat-bare, r1-zero or plain", format)
}
