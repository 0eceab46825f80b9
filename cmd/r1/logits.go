package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/model"
)

func init() {
	register(&command{
		name:    "logits",
		summary: "print a model's logits for token ids (debugging, reference comparisons)",
		run:     runLogits,
	})
}

func runLogits(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("logits", "--model DIR --jsonl < ids.jsonl > logits.jsonl", stderr)
	modelDir := fs.String("model", "", "Hugging Face model directory (config.json + safetensors)")
	adapterDir := fs.String("adapter", "", "LoRA adapter directory (PEFT layout: adapter_config.json + adapter_model.safetensors) applied on top of --model")
	jsonl := fs.Bool("jsonl", false, `read lines {"ids": [...]} from stdin and write one line {"logits": [[...] per position]} each, float32, in order`)
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *modelDir == "" || !*jsonl {
		fs.Usage()
		return fmt.Errorf("--model and --jsonl are required")
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	m, err := model.Load(*modelDir, dev)
	if err != nil {
		return err
	}
	if *adapterDir != "" {
		if _, err := m.LoadLoRA(*adapterDir); err != nil {
			return err
		}
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	err = jsonLines(stdin, func(line []byte, n int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var in struct {
			IDs *[]int32 `json:"ids"`
		}
		if err := json.Unmarshal(line, &in); err != nil {
			return fmt.Errorf("stdin line %d: %w", n, err)
		}
		if in.IDs == nil {
			return fmt.Errorf("stdin line %d: field \"ids\" is missing", n)
		}
		ids := *in.IDs
		if len(ids) == 0 {
			_, err := w.WriteString("{\"logits\":[]}\n")
			return err
		}
		tp := autograd.NewTape(dev)
		tp.NoGrad = true
		lv, err := m.Logits(tp, model.Batch{B: 1, T: len(ids), IDs: ids})
		if err != nil {
			return fmt.Errorf("stdin line %d: %w", n, err)
		}
		vals := dev.Download(lv.Val)
		tp.Reset()
		v := m.Config.VocabSize
		buf := []byte(`{"logits":[`)
		for t := 0; t < len(ids); t++ {
			if t > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			for k, x := range vals[t*v : (t+1)*v] {
				if k > 0 {
					buf = append(buf, ',')
				}
				buf = strconv.AppendFloat(buf, float64(x), 'g', -1, 32)
			}
			buf = append(buf, ']')
		}
		buf = append(buf, "]}\n"...)
		_, err = w.Write(buf)
		return err
	})
	return err
}
