package main

import (
	"context"
	"fmt"
	"io"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
)

func init() {
	register(&command{
		name:    "merge",
		summary: "fold a LoRA adapter (PEFT layout) into its base model and write a full Hugging Face checkpoint",
		run:     runMerge,
	})
}

func runMerge(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("merge", "--base DIR --adapter DIR --out DIR", stderr)
	base := fs.String("base", "", "base model: a Hugging Face checkpoint directory or builtin:tiny")
	adapter := fs.String("adapter", "", "adapter directory: adapter_config.json + adapter_model.safetensors (an r1 LoRA run's out, or PEFT's save_pretrained)")
	out := fs.String("out", "", "directory for the merged model (config.json, safetensors in the base's dtype, tokenizer files)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *base == "" || *adapter == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("--base, --adapter and --out are required")
	}
	baseDir, err := resolveModel(*base)
	if err != nil {
		return err
	}
	// The fold is one small matrix product per adapted projection, done in
	// float32 on the CPU whatever the base's dtype.
	a, err := model.MergeLoRA(baseDir, *adapter, *out, cpu.New())
	if err != nil {
		return err
	}
	c := a.Config
	fmt.Fprintf(stdout, "merged %s (r=%d, alpha=%g, scale %.4g, %d modules) into %s: full model in %s\n",
		*adapter, c.R, c.Alpha, c.Scale(), len(a.Modules), baseDir, *out)
	if a.BaseModel != "" && a.BaseModel != *base && a.BaseModel != baseDir {
		fmt.Fprintf(stderr, "note: the adapter names %s as its base (base_model_name_or_path), not %s\n", a.BaseModel, *base)
	}
	return nil
}
