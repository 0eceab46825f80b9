// Package testmodel writes small, complete Hugging Face model directories
// (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
// generation_config.json) with random weights and a tokenizer trained on
// the spot, for tests of everything that loads a real checkpoint; and reads
// back what a run wrote (Metrics) for tests of exact resume.
package testmodel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

// Corpus is the text the test tokenizer is trained on: enough arithmetic,
// tags and prose that prompts and completions tokenize compactly.
var Corpus = []string{
	"A conversation between User and Assistant. The user asks a question, and the Assistant solves it.",
	"The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.",
	"<think> 12 + 7 = 19 </think> <answer> 19 </answer>",
	"<think> 3 * 4 = 12, wait, let me check. </think> <answer> 12 </answer>",
	"What is 23 + 45? The answer is 68. #### 68",
	"Using the numbers [3, 5, 7], create an equation that equals 22. (3 + 5) * 7 - 34",
	"User: What is 9 - 4? Assistant: 5",
}

// Write creates a model directory for modelType (llama, qwen2, qwen3) with
// random weights from seed and returns the tokenizer it used.
func Write(dir, modelType string, seed uint64) (*tokenizer.Tokenizer, error) {
	specials := []string{"<|endoftext|>", "<|pad|>"}
	tok, err := tokenizer.Train(slices.Values(Corpus), 400, specials)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := tok.Save(filepath.Join(dir, "tokenizer.json")); err != nil {
		return nil, err
	}
	tc, _ := json.Marshal(map[string]any{"eos_token": "<|endoftext|>", "pad_token": "<|pad|>", "add_bos_token": false,
		"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512})
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tc, 0o644); err != nil {
		return nil, err
	}
	gc, _ := json.Marshal(map[string]any{"eos_token_id": 0, "pad_token_id": 1})
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), gc, 0o644); err != nil {
		return nil, err
	}
	cfg, err := model.ParseConfig([]byte(fmt.Sprintf(`{"model_type": %q, "vocab_size": %d, "hidden_size": 32,
		"intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"tie_word_embeddings": true, "initializer_range": 0.1, "max_position_embeddings": 512,
		"eos_token_id": 0, "pad_token_id": 1}`, modelType, tok.VocabSize())))
	if err != nil {
		return nil, err
	}
	m := model.New(cfg, cpu.New(), seed)
	if err := m.Save(dir, tensor.F32); err != nil {
		return nil, err
	}
	return tokenizer.Load(dir)
}
