package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	usageNotes(fs, lineExitNotes)
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
	return logitsJSONL(ctx, m, stdin, stdout)
}

// logitsJSONL answers every line of in with one line of out, in order.
func logitsJSONL(ctx context.Context, m *model.Model, in io.Reader, out io.Writer) error {
	dev := m.Dev
	w := bufio.NewWriter(out)
	defer w.Flush()
	mem, haveMem := model.HostMemory()
	bad, firstBad, lines := 0, "", 0
	err := eachLine(in, func(line []byte, n int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		lines++
		ids, err := parseLogitsLine(line, m.Config)
		if err == nil && haveMem {
			if need := logitsBytes(m.Config, len(ids)); need > mem-m.Config.WeightBytes() {
				err = fmt.Errorf("%d ids need about %d MiB for activations and logits (vocab_size %d), more than this machine's memory leaves", len(ids), need>>20, m.Config.VocabSize)
			}
		}
		if err != nil {
			msg := fmt.Sprintf("stdin line %d: %v", n, err)
			if bad == 0 {
				firstBad = msg
			}
			bad++
			b, _ := json.Marshal(struct {
				Error string `json:"error"`
			}{msg})
			w.Write(b)
			return w.WriteByte('\n')
		}
		if len(ids) == 0 {
			_, err := w.WriteString("{\"logits\":[]}\n")
			return err
		}
		tp := autograd.NewTape(dev)
		tp.NoGrad = true
		lv, err := m.Logits(tp, model.Batch{B: 1, T: len(ids), IDs: ids})
		if err != nil {
			tp.Reset()
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
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d lines got no logits (answered with an \"error\"); the first: %s", bad, lines, firstBad)
	}
	return nil
}

// parseLogitsLine reads {"ids": [...]} and checks the ids against the
// model: inside the vocabulary and no more than max_position_embeddings.
func parseLogitsLine(line []byte, cfg *model.Config) ([]int32, error) {
	if len(trimSpace(line)) == 0 {
		return nil, errors.New(`blank line (expected {"ids": [...]})`)
	}
	var in struct {
		IDs *[]int32 `json:"ids"`
	}
	if err := json.Unmarshal(line, &in); err != nil {
		return nil, fmt.Errorf(`expected {"ids": [...]} with 32-bit integer ids: %v`, err)
	}
	if in.IDs == nil {
		return nil, errors.New(`field "ids" is missing`)
	}
	ids := *in.IDs
	for i, id := range ids {
		if id < 0 || int(id) >= cfg.VocabSize {
			return nil, fmt.Errorf("field \"ids\": item %d is %d, outside the vocabulary [0,%d)", i, id, cfg.VocabSize)
		}
	}
	if len(ids) > cfg.MaxPositions {
		return nil, fmt.Errorf("field \"ids\": %d ids, more than the model's max_position_embeddings %d", len(ids), cfg.MaxPositions)
	}
	return ids, nil
}

// logitsBytes estimates the memory of one forward pass over t tokens
// without gradients: the logits, a layer's activations and attention
// scores, all float32.
func logitsBytes(c *model.Config, t int) int64 {
	tt := int64(t)
	perTok := int64(c.VocabSize) + 6*int64(c.Hidden) + 3*int64(c.Intermediate) + int64(c.Heads+2*c.KVHeads)*int64(c.HeadDim)
	return 4 * (tt*perTok + int64(c.Heads)*tt*tt)
}
