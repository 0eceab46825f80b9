package tokenizer

import (
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/r1go/r1/internal/atomicfile"
)

// TrainPattern is the pre-tokenizer pattern Train uses (Llama-3's): it
// keeps words, up-to-3-digit numbers, punctuation runs and whitespace apart.
const TrainPattern = llama3Pattern

// Train learns a byte-level BPE tokenizer from corpus with at most vocabSize
// tokens, special tokens included. Special tokens get ids 0..len-1, the 256
// bytes come next, then one token per merge. Pairs seen fewer than twice
// are never merged, so a small corpus may give a smaller vocabulary.
// Special tokens written in the corpus are split out and not learned from.
func Train(corpus iter.Seq[string], vocabSize int, specialTokens []string) (*Tokenizer, error) {
	return TrainWith(corpus, vocabSize, specialTokens, TrainOptions{})
}

// TrainOptions adjust Train.
type TrainOptions struct {
	// SingleDigits pre-tokenizes every digit on its own (Qwen2's pattern)
	// instead of runs of up to three (Llama-3's), so no number is a single
	// token: small models then learn arithmetic digit by digit.
	SingleDigits bool
}

// TrainWith is Train with options.
func TrainWith(corpus iter.Seq[string], vocabSize int, specialTokens []string, opts TrainOptions) (*Tokenizer, error) {
	if vocabSize < len(specialTokens)+256 {
		return nil, fmt.Errorf("tokenizer: Train: vocabSize %d is below %d (special tokens + 256 bytes)", vocabSize, len(specialTokens)+256)
	}
	var specials []addedToken
	seen := map[string]bool{}
	for i, s := range specialTokens {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("tokenizer: Train: special token %d (%q) is empty or repeated", i, s)
		}
		seen[s] = true
		specials = append(specials, addedToken{content: s, id: i})
	}
	am := newAddedMatcher(specials)
	split, pattern := gpt4Splitter{maxDigits: 3}, TrainPattern
	if opts.SingleDigits {
		split, pattern = gpt4Splitter{maxDigits: 1}, qwenPattern
	}
	counts := map[string]int{}
	for text := range corpus {
		am.split(text, func(piece string, id int) {
			if id >= 0 {
				return
			}
			split.split(piece, func(w string) { counts[w]++ })
		})
	}

	// Words as symbol ids, in a fixed order so training is deterministic.
	keys := make([]string, 0, len(counts))
	for w := range counts {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	base := int32(len(specials))
	tokens := make([]string, 0, vocabSize) // symbol id - base → raw bytes
	for b := 0; b < 256; b++ {
		tokens = append(tokens, string([]byte{byte(b)}))
	}
	words := make([][]int32, len(keys))
	freq := make([]int, len(keys))
	pairCount := map[uint64]int{}
	where := map[uint64][]int32{}
	key := func(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }
	for i, w := range keys {
		syms := make([]int32, len(w))
		for j := 0; j < len(w); j++ {
			syms[j] = base + int32(w[j])
		}
		words[i], freq[i] = syms, counts[w]
		for j := 0; j+1 < len(syms); j++ {
			k := key(syms[j], syms[j+1])
			pairCount[k] += freq[i]
			where[k] = append(where[k], int32(i))
		}
	}
	h := &trainHeap{}
	for k, c := range pairCount {
		h.push(trainItem{count: c, pair: k})
	}
	var merges [][2]int32
	stamp := make([]int, len(words))
	for step := 1; len(tokens)+len(specials) < vocabSize && h.len() > 0; step++ {
		top := h.pop()
		if pairCount[top.pair] != top.count {
			step--
			continue // stale
		}
		if top.count < 2 {
			break
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		c := base + int32(len(tokens))
		tokens = append(tokens, tokens[a-base]+tokens[b-base])
		merges = append(merges, [2]int32{a, b})
		changed := map[uint64]bool{}
		for _, wi := range where[top.pair] {
			if stamp[wi] == step {
				continue
			}
			stamp[wi] = step
			old := words[wi]
			f := freq[wi]
			nw := make([]int32, 0, len(old))
			for j := 0; j < len(old); j++ {
				if j+1 < len(old) && old[j] == a && old[j+1] == b {
					nw = append(nw, c)
					j++
				} else {
					nw = append(nw, old[j])
				}
			}
			if len(nw) == len(old) {
				continue
			}
			for j := 0; j+1 < len(old); j++ {
				k := key(old[j], old[j+1])
				pairCount[k] -= f
				changed[k] = true
			}
			for j := 0; j+1 < len(nw); j++ {
				k := key(nw[j], nw[j+1])
				pairCount[k] += f
				changed[k] = true
				if nw[j] == c || nw[j+1] == c {
					where[k] = append(where[k], wi)
				}
			}
			words[wi] = nw
		}
		delete(where, top.pair)
		for k := range changed {
			if n := pairCount[k]; n > 0 {
				h.push(trainItem{count: n, pair: k})
			} else {
				delete(pairCount, k)
			}
		}
	}

	vocab := make(map[string]int, len(tokens)+len(specials))
	// Hugging Face keeps special tokens in the model vocabulary too; without
	// them it would renumber the added tokens on load.
	for _, s := range specials {
		vocab[s.content] = s.id
	}
	for i, raw := range tokens {
		sp := byteLevelString(raw)
		if _, clash := vocab[sp]; clash {
			return nil, fmt.Errorf("tokenizer: Train: special token %q is spelled like a learned token", sp)
		}
		vocab[sp] = int(base) + i
	}
	mergeStrs := make([]string, len(merges))
	for i, m := range merges {
		mergeStrs[i] = byteLevelString(tokens[m[0]-base]) + " " + byteLevelString(tokens[m[1]-base])
	}
	f := &fileJSON{Version: "1.0"}
	for _, s := range specials {
		f.AddedTokens = append(f.AddedTokens, addedTokenJSON{ID: s.id, Content: s.content, Special: true})
	}
	var err error
	f.Model.Type = "BPE"
	if f.Model.Vocab, err = json.Marshal(vocab); err != nil {
		return nil, err
	}
	if f.Model.Merges, err = json.Marshal(mergeStrs); err != nil {
		return nil, err
	}
	f.PreTokenizer = mustJSON(map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]string{"Regex": pattern}, "behavior": "Isolated", "invert": false},
		byteLevelJSON(),
	}})
	f.PostProcessor = mustJSON(byteLevelJSON())
	f.Decoder = mustJSON(byteLevelJSON())
	return build(f)
}

func byteLevelJSON() map[string]any {
	return map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on literal maps of strings and bools
	}
	return b
}

type trainItem struct {
	count int
	pair  uint64
}

// trainHeap pops the most frequent pair; ties go to the smaller pair of ids
// so that training is deterministic.
type trainHeap struct{ a []trainItem }

func (h *trainHeap) len() int { return len(h.a) }

func (x trainItem) before(y trainItem) bool {
	return x.count > y.count || (x.count == y.count && x.pair < y.pair)
}

func (h *trainHeap) push(x trainItem) {
	h.a = append(h.a, x)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.a[i].before(h.a[p]) {
			break
		}
		h.a[i], h.a[p] = h.a[p], h.a[i]
		i = p
	}
}

func (h *trainHeap) pop() trainItem {
	top := h.a[0]
	n := len(h.a) - 1
	h.a[0] = h.a[n]
	h.a = h.a[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.a[r].before(h.a[l]) {
			m = r
		}
		if !h.a[m].before(h.a[i]) {
			break
		}
		h.a[i], h.a[m] = h.a[m], h.a[i]
		i = m
	}
	return top
}

// Save writes the tokenizer in Hugging Face's format. A path ending in
// ".json" gets tokenizer.json only; any other path is a directory that gets
// tokenizer.json and tokenizer_config.json (special tokens, add_bos_token,
// chat template). Files are written atomically.
func (t *Tokenizer) Save(path string) error {
	f := t.src
	out := struct {
		Version       string           `json:"version"`
		Truncation    json.RawMessage  `json:"truncation"`
		Padding       json.RawMessage  `json:"padding"`
		AddedTokens   []addedTokenJSON `json:"added_tokens"`
		Normalizer    json.RawMessage  `json:"normalizer"`
		PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
		PostProcessor json.RawMessage  `json:"post_processor"`
		Decoder       json.RawMessage  `json:"decoder"`
		Model         map[string]any   `json:"model"`
	}{
		Version: f.Version, Truncation: nullJSON, Padding: nullJSON,
		AddedTokens: f.AddedTokens, Normalizer: orNull(f.Normalizer), PreTokenizer: orNull(f.PreTokenizer),
		PostProcessor: orNull(f.PostProcessor), Decoder: orNull(f.Decoder),
		Model: map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false,
			"ignore_merges": f.Model.IgnoreMerges, "vocab": f.Model.Vocab, "merges": orNull(f.Model.Merges),
		},
	}
	if out.Version == "" {
		out.Version = "1.0"
	}
	if out.AddedTokens == nil {
		out.AddedTokens = []addedTokenJSON{}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("tokenizer: Save: %w", err)
	}
	if strings.HasSuffix(path, ".json") {
		return atomicfile.Write(path, data)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("tokenizer: Save: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(path, "tokenizer.json"), data); err != nil {
		return err
	}
	cfg := map[string]any{
		"tokenizer_class":  "PreTrainedTokenizerFast",
		"add_bos_token":    t.AddBOS,
		"add_eos_token":    t.AddEOS,
		"model_max_length": 1 << 20,
	}
	for name, id := range map[string]int32{"bos_token": t.BOS, "eos_token": t.EOS, "pad_token": t.PAD} {
		if s, ok := t.IDToken(id); ok {
			cfg[name] = s
		} else {
			cfg[name] = nil
		}
	}
	if t.ChatTemplate != "" {
		cfg["chat_template"] = t.ChatTemplate
	}
	cdata, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("tokenizer: Save: %w", err)
	}
	return atomicfile.Write(filepath.Join(path, "tokenizer_config.json"), cdata)
}

var nullJSON = json.RawMessage("null")

func orNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return nullJSON
	}
	return r
}
