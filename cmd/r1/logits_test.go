package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
)

// writeModelWithConfig writes a test model and then overrides config.json
// fields, the way a hand-edited or mismatched config would.
func writeModelWithConfig(t *testing.T, set map[string]any) string {
	t.Helper()
	md := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(md, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	if set == nil {
		return md
	}
	path := filepath.Join(md, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		cfg[k] = v
	}
	data, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return md
}

// A config whose sizes do not describe the checkpoint (vocab_size 1e12
// used to panic or run out of memory) is refused before anything is
// allocated, with the field and the sizes, in one line.
func TestAbsurdConfigSizesRefused(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{"vocab_size": 1e12}, `"vocab_size" is 1000000000000`},
		{map[string]any{"vocab_size": 1 << 30}, "vocab_size=1073741824, hidden_size=32, so tensor \"model.embed_tokens.weight\" should have shape [1073741824 32]"},
		{map[string]any{"hidden_size": 1 << 20, "head_dim": 8}, "hidden_size=1048576"},
		{map[string]any{"intermediate_size": 1 << 28}, "intermediate_size=268435456"},
		{map[string]any{"num_hidden_layers": 100000}, "num_hidden_layers=100000, but the checkpoint holds 2 layers"},
		{map[string]any{"num_attention_heads": 64, "num_key_value_heads": 64, "head_dim": 8}, "num_attention_heads=64"},
		{map[string]any{"max_position_embeddings": -1}, "max_position_embeddings"},
		{map[string]any{"vocab_size": 1e15, "hidden_size": 1e6}, "vocab_size"},
	} {
		md := writeModelWithConfig(t, tc.set)
		for _, args := range [][]string{
			{"logits", "--model", md, "--jsonl"},
			{"sample", "--model", md, "--prompt", "What is 2 + 3?", "--max-new-tokens", "2"},
		} {
			_, stderr, code := runCLI(t, `{"ids": [1, 2]}`+"\n", args...)
			if code != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "goroutine") || strings.Count(stderr, "\n") > 1 {
				t.Errorf("%v with %v: exit %d, stderr %q; want exit 1 and %q", args[0], tc.set, code, stderr, tc.want)
			}
		}
	}
}

// Every line of r1 logits is answered in order; bad ids are an error line.
func TestLogitsAnswersEveryLine(t *testing.T) {
	md := writeModelWithConfig(t, nil)
	cfg, err := model.LoadConfig(md)
	if err != nil {
		t.Fatal(err)
	}
	in := `{"ids": [1, 2, 3]}

{"ids": [1, -4]}
{"ids": [1, 99999]}
{"ids": "x"}
{"ids": []}
{"ids": [5]}`
	out, stderr, code := runCLI(t, in, "logits", "--model", md, "--jsonl")
	if code != 1 || !strings.Contains(stderr, "4 of 7 lines got no logits") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d output lines for 7 input lines", len(lines))
	}
	for i, want := range []string{"", "stdin line 2: blank line", "item 1 is -4, outside the vocabulary", "item 1 is 99999", "stdin line 5: expected", "", ""} {
		var rec struct {
			Logits [][]float32 `json:"logits"`
			Error  string      `json:"error"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if want == "" {
			if rec.Error != "" || (i != 5 && (len(rec.Logits) == 0 || len(rec.Logits[0]) != cfg.VocabSize)) {
				t.Errorf("line %d: %.80s", i+1, lines[i])
			}
		} else if !strings.Contains(rec.Error, want) {
			t.Errorf("line %d: error %q, want %q", i+1, rec.Error, want)
		}
	}
	// More ids than max_position_embeddings are refused, not computed.
	long, _ := json.Marshal(map[string][]int{"ids": make([]int, cfg.MaxPositions+1)})
	out, _, code = runCLI(t, string(long)+"\n", "logits", "--model", md, "--jsonl")
	if code != 1 || !strings.Contains(out, "more than the model's max_position_embeddings") {
		t.Fatalf("exit %d, out %.200s", code, out)
	}
}

// FuzzLogitsLine: the line parser of r1 logits never panics and returns
// only ids inside the vocabulary.
func FuzzLogitsLine(f *testing.F) {
	cfg := &model.Config{VocabSize: 100, MaxPositions: 8}
	for _, s := range []string{`{"ids": [1, 2]}`, "", "  ", `{"ids": null}`, `{"ids": [-1]}`, `{"ids": [1e10]}`, `{"ids": [1,2,3,4,5,6,7,8,9]}`, `[]`, `{"ids": [2147483648]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ids, err := parseLogitsLine([]byte(line), cfg)
		if err != nil {
			return
		}
		if len(ids) > cfg.MaxPositions {
			t.Fatalf("%q: %d ids", line, len(ids))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= cfg.VocabSize {
				t.Fatalf("%q: id %d", line, id)
			}
		}
	})
}
