// Package tokenizer reads Hugging Face tokenizer.json files for byte-level
// BPE models (Qwen2/2.5/3, Llama-3, DeepSeek-V3) and produces exactly the ids
// Hugging Face's Rust tokenizer produces; a single differing id silently
// corrupts training. It also decodes (whole or streaming) and trains new
// byte-level BPE tokenizers that Hugging Face can load.
//
// Supported tokenizer.json components: model BPE (with ignore_merges, no
// dropout, no byte fallback, no subword prefix/suffix); normalizers NFC, NFD,
// NFKC, NFKD, Lowercase and Sequence; pre-tokenizers Split (Regex or String,
// Isolated or Removed), ByteLevel (with or without its regex and prefix
// space) and Sequence; post-processors ByteLevel, TemplateProcessing
// (single sequence) and Sequence; the ByteLevel decoder. Added tokens honour
// special, normalized, lstrip, rstrip and single_word. Anything else (for
// example WordPiece or Unigram models) is refused by Load with an error that
// names the field.
//
// The pre-tokenizer patterns of Qwen, Llama-3 and DeepSeek-V3 run on
// hand-written matchers; other patterns go through regexp2 in its default
// mode. Character classes follow Hugging Face's regex engine, which knows
// newer Unicode than Go: unicode_tables.go records the difference and is
// regenerated with R1_TOKENIZER_GEN_UNICODE=1 go test -run GenerateUnicode.
//
// Tests compare with Hugging Face through Node (testdata/hf, installed by
// scripts/test.sh; they skip without it). R1_TOKENIZER_EXHAUSTIVE=1 adds a
// check of every code point of planes 0–3 and 14 (about a minute).
// Throughput against Hugging Face:
//
//	go test -run XXX -bench 'HF|Encode' -benchtime=3x ./tokenizer
package tokenizer
