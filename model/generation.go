package model

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// StopIDs collects the ids that end generation: the tokenizer's EOS
// (tokEOS, −1 if none), config.json's eos_token_id(s) and
// generation_config.json's (instruct models often list their end-of-turn
// token only there). Ids outside the vocabulary are dropped.
func StopIDs(dir string, cfg *Config, tokEOS int32) []int32 {
	seen := map[int32]bool{}
	var ids []int32
	add := func(id int32) {
		if id >= 0 && int(id) < cfg.VocabSize && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	add(tokEOS)
	for _, id := range cfg.EOSTokenIDs {
		add(id)
	}
	data, err := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if err != nil {
		return ids
	}
	var gc struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if json.Unmarshal(data, &gc) != nil || len(gc.EOS) == 0 {
		return ids
	}
	var one int32
	var many []int32
	if json.Unmarshal(gc.EOS, &one) == nil {
		add(one)
	} else if json.Unmarshal(gc.EOS, &many) == nil {
		for _, id := range many {
			add(id)
		}
	}
	return ids
}
