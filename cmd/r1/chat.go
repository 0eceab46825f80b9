package main

import (
	"context"
	"io"
	"os"

	"github.com/r1go/r1/serve"
)

func init() {
	register(&command{
		name:    "chat",
		summary: "chat with a model in the terminal: streaming, reasoning dimmed or folded, /reset, /temp X, history",
		run:     runChat,
	})
}

const chatNotes = `Each line is a user turn; the reply streams, its reasoning dimmed (or
between [thinking] markers when the output is not a terminal). The
conversation is kept until /reset. Commands: /reset, /temp X, /max N,
/seed N, /think (fold or show the reasoning), /history, /help, /quit.
A model without a chat template (the built-in tiny model) is prompted in
the R1-Zero format.`

func runChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("chat", "[--model DIR] [flags]", stderr)
	modelDir := fs.String("model", "", "Hugging Face model directory (default: the built-in tiny base model)")
	adapterDir := fs.String("adapter", "", "LoRA adapter directory (PEFT layout) applied on top of --model")
	temp := fs.Float64("temperature", 0.6, "sampling temperature in [0, 2] (the R1 paper's 0.6); /temp X changes it")
	topP := fs.Float64("top-p", 0.95, "nucleus sampling mass in (0, 1]")
	maxNew := fs.Int("max-tokens", 512, "most tokens per reply (≥ 1); /max N changes it")
	seed := fs.Uint64("seed", 1, "random seed of the first reply (each later reply adds its turn number)")
	fold := fs.Bool("fold", false, "fold the reasoning: show only its length (/think toggles)")
	color := fs.String("color", "auto", "dim the reasoning with ANSI escapes: auto (when stdout is a terminal), always, never")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	usageNotes(fs, chatNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := flagRange("max-tokens", int64(*maxNew), 1, 1<<30); err != nil {
		return err
	}
	switch {
	case !(*temp >= 0 && *temp <= 2):
		return usageErrorf("--temperature %g: expected a number from 0 to 2", *temp)
	case !(*topP > 0 && *topP <= 1):
		return usageErrorf("--top-p %g: expected a number in (0, 1]", *topP)
	}
	useColor := false
	switch *color {
	case "always":
		useColor = true
	case "never":
	case "auto":
		if f, ok := stdout.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				useColor = true
			}
		}
	default:
		return usageErrorf("--color %q: want auto, always or never", *color)
	}
	o, err := loadServeModel(*modelDir, *adapterDir, *device)
	if err != nil {
		return err
	}
	o.MaxBatch, o.KVTokens = 1, o.Model.Config.MaxPositions // one conversation, as long as the context
	srv, err := serve.New(o)
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Chat(ctx, stdin, stdout, serve.ChatOptions{Temperature: *temp, TopP: *topP, MaxTokens: *maxNew, Seed: *seed,
		Color: useColor, HideReasoning: *fold})
}
