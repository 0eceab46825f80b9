package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/r1go/r1/chat"
)

func init() {
	register(&command{
		name:    "prompt",
		summary: "render a prompt: an r1 prompt format, or a model's chat template over a JSON conversation",
		run:     runPrompt,
	})
}

func runPrompt(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("prompt", "--format NAME [--question TEXT | --numbers 1,2,3 --target N] | --messages FILE --tokenizer PATH", stderr)
	format := fs.String("format", "", "prompt format: "+strings.Join(chat.PromptNames(), ", ")+" (ignored with --messages)")
	question := fs.String("question", "", "question text for r1-zero, chat and plain")
	system := fs.String("system", "", "system message for --format chat")
	numbers := fs.String("numbers", "", "comma-separated Countdown numbers, e.g. 44,19,35")
	target := fs.Int("target", 0, "Countdown target number")
	tok := fs.String("tokenizer", "", "tokenizer_config.json or model directory with the chat template (for chat and --messages)")
	tmplName := fs.String("template-name", "", "pick a named template when chat_template is a list (e.g. tool_use)")
	messages := fs.String("messages", "", `JSON file with an array of {"role", "content", ...} messages, or - for stdin; rendered with the model's chat template`)
	tools := fs.String("tools", "", "JSON file with an array of tool schemas passed to the chat template as tools")
	genPrompt := fs.Bool("add-generation-prompt", true, "with --messages: end with the assistant turn header")
	thinking := fs.String("enable-thinking", "", "with --messages: set enable_thinking to true or false (Qwen3); empty leaves it undefined")
	asJSON := fs.Bool("json", false, "print the prompt as a JSON string instead of raw text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "r1 prompt: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	var model *chat.Template
	if *tok != "" {
		var err error
		if model, err = chat.FromTokenizerConfig(*tok, *tmplName); err != nil {
			return err
		}
	}
	var text string
	if *messages != "" {
		if model == nil {
			fmt.Fprintln(stderr, "r1 prompt: --messages needs --tokenizer")
			return errUsage
		}
		var data []byte
		var err error
		if *messages == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(*messages)
		}
		if err != nil {
			return err
		}
		msgs, err := chat.DecodeMessages(data)
		if err != nil {
			return fmt.Errorf("%s: %w", *messages, err)
		}
		opts := chat.Options{AddGenerationPrompt: *genPrompt}
		if *tools != "" {
			tdata, err := os.ReadFile(*tools)
			if err != nil {
				return err
			}
			tv, err := chat.ParseJSON(tdata)
			if err != nil {
				return fmt.Errorf("%s: %w", *tools, err)
			}
			list, ok := tv.([]any)
			if !ok {
				return fmt.Errorf("%s: expected a JSON array of tool schemas", *tools)
			}
			opts.Tools = list
		}
		switch *thinking {
		case "":
		case "true", "false":
			b := *thinking == "true"
			opts.EnableThinking = &b
		default:
			fmt.Fprintf(stderr, "r1 prompt: --enable-thinking must be true or false, not %q\n", *thinking)
			return errUsage
		}
		if text, err = model.Render(msgs, opts); err != nil {
			return err
		}
	} else {
		if *format == "" {
			fmt.Fprintln(stderr, "r1 prompt: --format or --messages is required")
			fs.Usage()
			return errUsage
		}
		in := chat.PromptInput{Question: *question, System: *system, Target: *target}
		if *numbers != "" {
			for _, f := range strings.Split(*numbers, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					return fmt.Errorf("--numbers: %q is not an integer", f)
				}
				in.Numbers = append(in.Numbers, n)
			}
		}
		var err error
		if text, err = chat.Prompt(*format, in, model); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false) // keep <|im_start|> readable
		return enc.Encode(text)
	}
	_, err := io.WriteString(stdout, text)
	return err
}
