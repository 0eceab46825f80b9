package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer is a loaded byte-level BPE tokenizer. It is safe for concurrent
// use.
type Tokenizer struct {
	// BOS, EOS and PAD are the ids of the tokens named in
	// tokenizer_config.json, or -1 when none is named.
	BOS, EOS, PAD int32
	// AddBOS and AddEOS are tokenizer_config.json's add_bos_token and
	// add_eos_token; Encode with addSpecial uses them when tokenizer.json has
	// no template post-processor.
	AddBOS, AddEOS bool
	// ChatTemplate is the Jinja chat template from tokenizer_config.json
	// ("" when absent).
	ChatTemplate string

	path string

	vocab        map[string]int // byte-level spelling → id
	rawVocab     map[string]int // raw bytes → id, for ignore_merges
	idToken      []string       // id → spelling ("" for holes)
	idBytes      [][]byte       // id → bytes the decoder emits
	special      []bool         // id → added token marked special
	merges       map[uint64]uint64
	byteID       [256]int32
	ignoreMerges bool

	rawAdded  *addedMatcher // added tokens matched before normalization
	normAdded *addedMatcher // added tokens matched after normalization
	normalize func(string) string
	steps     []preStep
	prefix    []int32 // post-processor ids around the text when addSpecial
	suffix    []int32
	// hasTemplate is set when tokenizer.json has a TemplateProcessing
	// post-processor; it then decides what addSpecial adds.
	hasTemplate bool

	// src keeps what Save needs to write the file back.
	src *fileJSON

	// states is a free list of per-goroutine scratch with warm word caches;
	// a sync.Pool would drop them (and their caches) at every GC.
	statesMu sync.Mutex
	states   []*state
}

func (t *Tokenizer) getState() *state {
	t.statesMu.Lock()
	defer t.statesMu.Unlock()
	if n := len(t.states); n > 0 {
		st := t.states[n-1]
		t.states = t.states[:n-1]
		return st
	}
	return newState()
}

func (t *Tokenizer) putState(st *state) {
	t.statesMu.Lock()
	defer t.statesMu.Unlock()
	if len(t.states) < runtime.GOMAXPROCS(0) {
		t.states = append(t.states, st)
	}
}

// preStep is one pre-tokenizer stage: a split by a pattern or the byte-level
// stage (which only adds a prefix space or splits by GPT-2's pattern).
type preStep struct {
	split          splitter
	addPrefixSpace bool
}

// Load reads a tokenizer from path: a tokenizer.json file or a model
// directory holding one. tokenizer_config.json next to it is read when
// present for the special tokens, add_bos_token and the chat template.
func Load(path string) (*Tokenizer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	file := path
	if fi.IsDir() {
		file = filepath.Join(path, "tokenizer.json")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", file, err)
	}
	t.path = file
	cfgPath := filepath.Join(filepath.Dir(file), "tokenizer_config.json")
	if cfg, err := os.ReadFile(cfgPath); err == nil {
		if err := t.applyConfig(cfg); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", cfgPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

// FromJSON builds a tokenizer from the bytes of a tokenizer.json file.
func FromJSON(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %v", err)
	}
	return build(&f)
}

func build(f *fileJSON) (*Tokenizer, error) {
	m := &f.Model
	switch m.Type {
	case "BPE":
	case "":
		if len(m.Vocab) == 0 || len(m.Merges) == 0 {
			return nil, fmt.Errorf("model.type: missing (expected \"BPE\")")
		}
	case "WordPiece", "Unigram", "WordLevel":
		return nil, fmt.Errorf("model.type: %q is not supported; r1 reads byte-level BPE tokenizers only", m.Type)
	default:
		return nil, fmt.Errorf("model.type: unknown type %q (expected \"BPE\")", m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, fmt.Errorf("model.dropout: %v is not supported (expected null)", *m.Dropout)
	}
	if m.ByteFallback {
		return nil, fmt.Errorf("model.byte_fallback: true is not supported (byte-level BPE needs no fallback)")
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fmt.Errorf("model.continuing_subword_prefix: %q is not supported (expected empty)", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fmt.Errorf("model.end_of_word_suffix: %q is not supported (expected empty)", *m.EndOfWordSuffix)
	}
	t := &Tokenizer{BOS: -1, EOS: -1, PAD: -1, src: f, ignoreMerges: m.IgnoreMerges}
	var err error
	if t.vocab, err = fastStringIntObject(m.Vocab); err != nil {
		if err := json.Unmarshal(m.Vocab, &t.vocab); err != nil {
			return nil, fmt.Errorf("model.vocab: expected an object of token → id: %v", err)
		}
	}
	maxID := -1
	for tok, id := range t.vocab {
		if id < 0 {
			return nil, fmt.Errorf("model.vocab: token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	for i, a := range f.AddedTokens {
		if a.ID < 0 || a.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d]: expected a non-negative id and non-empty content", i)
		}
		maxID = max(maxID, a.ID)
	}
	if maxID > 1<<24 {
		return nil, fmt.Errorf("model.vocab: id %d is implausibly large", maxID)
	}
	n := maxID + 1
	t.idToken = make([]string, n)
	t.idBytes = make([][]byte, n)
	t.special = make([]bool, n)
	t.rawVocab = make(map[string]int, len(t.vocab))
	for tok, id := range t.vocab {
		t.idToken[id] = tok
		raw, ok := byteLevelDecode(tok)
		t.idBytes[id] = []byte(raw)
		if ok {
			t.rawVocab[raw] = id
		}
	}
	for b := 0; b < 256; b++ {
		id, ok := t.vocab[string(byteToRune[b])]
		if !ok {
			// Hugging Face silently drops bytes with no token (no unk_token
			// in byte-level models); so do we.
			id = -1
		}
		t.byteID[b] = int32(id)
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	t.merges = make(map[uint64]uint64, len(merges))
	var pair []byte
	for rank, mg := range merges {
		a, okA := t.vocab[mg[0]]
		b, okB := t.vocab[mg[1]]
		pair = append(append(pair[:0], mg[0]...), mg[1]...)
		c, okC := t.vocab[string(pair)]
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("model.merges[%d]: %q %q: token missing from model.vocab", rank, mg[0], mg[1])
		}
		key := uint64(a)<<32 | uint64(b)
		if _, dup := t.merges[key]; !dup {
			t.merges[key] = uint64(rank)<<32 | uint64(c)
		}
	}
	var rawTok, normTok []addedToken
	for _, a := range f.AddedTokens {
		t.idToken[a.ID] = a.Content
		raw, _ := byteLevelDecode(a.Content)
		t.idBytes[a.ID] = []byte(raw)
		t.special[a.ID] = a.Special
		at := addedToken{content: a.Content, id: a.ID, lstrip: a.LStrip, rstrip: a.RStrip, word: a.SingleWord}
		// Hugging Face partitions on "normalized" alone, special or not.
		if a.Normalized {
			normTok = append(normTok, at)
		} else {
			rawTok = append(rawTok, at)
		}
	}
	t.rawAdded = newAddedMatcher(rawTok)
	t.normAdded = newAddedMatcher(normTok)
	if t.normalize, err = buildNormalizer(f.Normalizer, "normalizer"); err != nil {
		return nil, err
	}
	byteLevel := false
	if t.steps, err = buildPreTokenizer(f.PreTokenizer, "pre_tokenizer", &byteLevel); err != nil {
		return nil, err
	}
	if !byteLevel {
		return nil, fmt.Errorf("pre_tokenizer: no ByteLevel stage; r1 reads byte-level BPE tokenizers only")
	}
	if err := t.checkDecoder(f.Decoder, "decoder"); err != nil {
		return nil, err
	}
	if err := t.buildPostProcessor(f.PostProcessor, "post_processor"); err != nil {
		return nil, err
	}
	return t, nil
}

func buildNormalizer(raw json.RawMessage, field string) (func(string) string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	switch c.Type {
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Lowercase":
		return strings.ToLower, nil
	case "Sequence":
		var fns []func(string) string
		for i, sub := range c.Normalizers {
			fn, err := buildNormalizer(sub, fmt.Sprintf("%s.normalizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			if fn != nil {
				fns = append(fns, fn)
			}
		}
		switch len(fns) {
		case 0:
			return nil, nil
		case 1:
			return fns[0], nil
		}
		return func(s string) string {
			for _, fn := range fns {
				s = fn(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("%s.type: %q is not supported (expected NFC, NFD, NFKC, NFKD, Lowercase or Sequence)", field, c.Type)
}

func buildPreTokenizer(raw json.RawMessage, field string, byteLevel *bool) ([]preStep, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	switch c.Type {
	case "Sequence":
		var steps []preStep
		for i, sub := range c.Pretokenizers {
			s, err := buildPreTokenizer(sub, fmt.Sprintf("%s.pretokenizers[%d]", field, i), byteLevel)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "Split":
		if c.Pattern == nil {
			return nil, fmt.Errorf("%s.pattern: missing", field)
		}
		if c.Invert {
			return nil, fmt.Errorf("%s.invert: true is not supported", field)
		}
		var removed bool
		switch c.Behavior {
		case "Isolated":
		case "Removed":
			removed = true
		default:
			return nil, fmt.Errorf("%s.behavior: %q is not supported (expected Isolated or Removed)", field, c.Behavior)
		}
		var sp splitter
		var err error
		switch {
		case c.Pattern.Regex != nil:
			sp, err = newRegexSplitter(*c.Pattern.Regex, removed)
		case c.Pattern.String != nil:
			sp, err = newLiteralSplitter(*c.Pattern.String, removed)
		default:
			err = errors.New("expected Regex or String")
		}
		if err != nil {
			return nil, fmt.Errorf("%s.pattern: %v", field, err)
		}
		return []preStep{{split: sp}}, nil
	case "ByteLevel":
		*byteLevel = true
		st := preStep{addPrefixSpace: c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			sp, err := newRegexSplitter(gpt2Pattern, false)
			if err != nil {
				return nil, err
			}
			st.split = sp
		}
		return []preStep{st}, nil
	}
	return nil, fmt.Errorf("%s.type: %q is not supported (expected Sequence, Split or ByteLevel)", field, c.Type)
}

func (t *Tokenizer) checkDecoder(raw json.RawMessage, field string) error {
	var c componentJSON
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("%s: missing (expected ByteLevel)", field)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	if c.Type == "Sequence" && len(c.Decoders) == 1 {
		return t.checkDecoder(c.Decoders[0], field+".decoders[0]")
	}
	if c.Type != "ByteLevel" {
		return fmt.Errorf("%s.type: %q is not supported (expected ByteLevel)", field, c.Type)
	}
	return nil
}

func (t *Tokenizer) buildPostProcessor(raw json.RawMessage, field string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c struct {
		componentJSON
		SpecialTokens map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	switch c.Type {
	case "ByteLevel":
		return nil
	case "Sequence":
		for i, sub := range c.Processors {
			if err := t.buildPostProcessor(sub, fmt.Sprintf("%s.processors[%d]", field, i)); err != nil {
				return err
			}
		}
		return nil
	case "TemplateProcessing":
		seen := false
		for i, p := range c.Single {
			switch {
			case p.Sequence != nil:
				seen = true
			case p.SpecialToken != nil:
				st, ok := c.SpecialTokens[p.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("%s.single[%d]: special token %q missing from special_tokens", field, i, p.SpecialToken.ID)
				}
				if seen {
					t.suffix = append(t.suffix, st.IDs...)
				} else {
					t.prefix = append(t.prefix, st.IDs...)
				}
			default:
				return fmt.Errorf("%s.single[%d]: expected Sequence or SpecialToken", field, i)
			}
		}
		t.hasTemplate = true
		return nil
	}
	return fmt.Errorf("%s.type: %q is not supported (expected ByteLevel, TemplateProcessing or Sequence)", field, c.Type)
}

func (t *Tokenizer) applyConfig(data []byte) error {
	var c configJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("not a tokenizer_config.json: %v", err)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *int32
	}{{"bos_token", c.BOSToken, &t.BOS}, {"eos_token", c.EOSToken, &t.EOS}, {"pad_token", c.PADToken, &t.PAD}} {
		s, err := tokenContent(f.raw)
		if err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
		if s == "" {
			continue
		}
		id, ok := t.TokenID(s)
		if !ok {
			return fmt.Errorf("%s: %q is not in the vocabulary", f.name, s)
		}
		*f.dst = id
	}
	if c.AddBOSToken != nil {
		t.AddBOS = *c.AddBOSToken
	}
	if c.AddEOSToken != nil {
		t.AddEOS = *c.AddEOSToken
	}
	if t.AddBOS && t.BOS < 0 {
		return fmt.Errorf("add_bos_token: true but bos_token is not set")
	}
	if t.AddEOS && t.EOS < 0 {
		return fmt.Errorf("add_eos_token: true but eos_token is not set")
	}
	tmpl, err := chatTemplateString(c.ChatTemplate)
	if err != nil {
		return fmt.Errorf("chat_template: %v", err)
	}
	t.ChatTemplate = tmpl
	return nil
}

// VocabSize is one more than the largest token id, added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.idToken) }

// TokenID returns the id of a token given by its spelling in tokenizer.json
// (byte-level spelling for BPE tokens, e.g. "Ġthe"; content for added tokens).
func (t *Tokenizer) TokenID(s string) (int32, bool) {
	if id, ok := t.rawAdded.ids[s]; ok {
		return int32(id), true
	}
	if id, ok := t.normAdded.ids[s]; ok {
		return int32(id), true
	}
	id, ok := t.vocab[s]
	return int32(id), ok
}

// IDToken returns the spelling of id as in tokenizer.json, and false when the
// id is out of range or unused.
func (t *Tokenizer) IDToken(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.idToken) || t.idToken[id] == "" {
		return "", false
	}
	return t.idToken[id], true
}

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.special) && t.special[id]
}

// Encode returns the ids of text. With addSpecial the post-processor's
// tokens are added (tokenizer.json's TemplateProcessing, or else BOS/EOS as
// tokenizer_config.json's add_bos_token/add_eos_token ask). Added and special
// tokens written in text are always recognised, as Hugging Face does.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	st := t.getState()
	ids := t.encode(st, text, addSpecial, nil)
	t.putState(st)
	return ids
}

// EncodeBatch encodes texts in parallel across the machine's cores; result
// i belongs to texts[i].
func (t *Tokenizer) EncodeBatch(texts []string, addSpecial bool) [][]int32 {
	out := make([][]int32, len(texts))
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		for i, s := range texts {
			out[i] = t.Encode(s, addSpecial)
		}
		return out
	}
	var next int64
	var mu sync.Mutex
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		i := int(next)
		next++
		return i
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := t.getState()
			defer t.putState(st)
			for i := take(); i < len(texts); i = take() {
				out[i] = t.encode(st, texts[i], addSpecial, nil)
			}
		}()
	}
	wg.Wait()
	return out
}

func (t *Tokenizer) encode(st *state, text string, addSpecial bool, ids []int32) []int32 {
	if ids == nil {
		ids = make([]int32, 0, len(text)/3+4)
	}
	if addSpecial {
		ids = append(ids, t.prefixIDs()...)
	}
	t.rawAdded.split(text, func(piece string, id int) {
		if id >= 0 {
			ids = append(ids, int32(id))
			return
		}
		if t.normalize != nil {
			piece = t.normalize(piece)
		}
		t.normAdded.split(piece, func(p string, id int) {
			if id >= 0 {
				ids = append(ids, int32(id))
				return
			}
			ids = t.preTokenize(st, p, 0, ids)
		})
	})
	if addSpecial {
		ids = append(ids, t.suffixIDs()...)
	}
	return ids
}

func (t *Tokenizer) prefixIDs() []int32 {
	if t.hasTemplate {
		return t.prefix
	}
	if t.AddBOS {
		return []int32{t.BOS}
	}
	return nil
}

func (t *Tokenizer) suffixIDs() []int32 {
	if t.hasTemplate {
		return t.suffix
	}
	if t.AddEOS {
		return []int32{t.EOS}
	}
	return nil
}

// preTokenize runs pre-tokenizer steps from k on s and BPE-encodes the
// resulting words. No closure captures ids, which keeps it on the stack.
func (t *Tokenizer) preTokenize(st *state, s string, k int, ids []int32) []int32 {
	for ; k < len(t.steps); k++ {
		if s == "" {
			return ids
		}
		step := &t.steps[k]
		if step.addPrefixSpace && s[0] != ' ' {
			s = " " + s
		}
		if step.split != nil {
			break
		}
	}
	if s == "" {
		return ids
	}
	if k == len(t.steps) {
		return t.bpe(st, s, ids)
	}
	sp := t.steps[k].split
	if fast, ok := sp.(stepper); ok {
		for i := 0; i < len(s); {
			end, keep := fast.next(s, i)
			if keep {
				ids = t.preTokenize(st, s[i:end], k+1, ids)
			}
			i = end
		}
		return ids
	}
	for len(st.bufs) <= k {
		st.bufs = append(st.bufs, nil)
	}
	buf := sp.collect(s, st.bufs[k][:0])
	st.bufs[k] = buf
	for _, w := range buf {
		ids = t.preTokenize(st, w, k+1, ids)
	}
	return ids
}
