// Package filter keeps the good samples of a teacher for rejection
// sampling and distillation (DeepSeek-R1 §2.3.3: only correct, readable,
// single-language chains of thought are fine-tuned on). Each filter is
// named and configured in Config, and a Set reports how many rows it kept
// and how many each filter dropped, by reason:
//
//	incorrect   the dataset's judge (data.Judge, the one notion of
//	            correctness r1 has) rejects the answer, or a named score
//	            (a judge or reward-model reward) is under min_score
//	format      not one non-empty think block followed by a tag-free
//	            summary (the "format_summary" reward; "format" for R1-Zero's
//	            <answer> tags)
//	language    under min_language of the words of the reasoning or of the
//	            summary are in the target language (reward/language's
//	            measure), i.e. a mixed-language chain of thought
//	length      the response's characters outside [min_chars, max_chars],
//	            or generation stopped at its token limit (truncated)
//	repetition  some word n-gram (repeat_ngram words) occurs max_repeats or
//	            more times: a generation loop
//	duplicate   the same response as a kept row of the same prompt after
//	            whitespace normalisation, or a near duplicate: estimated
//	            Jaccard similarity of character 5-gram sets ≥ near_dup
//	            (MinHash, 128 permutations; near_dup 0.8 by default: a
//	            one-clause rewording of a 100-character answer is above it,
//	            a different derivation well below) with a kept row of the same
//	            prompt
//	over_cap    the prompt already has per_prompt kept rows
//
// Filters run in that order, so a row is counted under the first reason
// that drops it, and duplicates and caps count only rows that passed the
// quality filters.
package filter

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/reward"
	_ "github.com/r1go/r1/reward/all" // the judges and format rewards, by name
	"github.com/r1go/r1/reward/language"
)

// Config selects and tunes the filters. The zero value of a field turns
// its filter off, except where noted; Defaults is what r1 generate uses.
type Config struct {
	// Correct: "judge" (the dataset's judge), "score" (Scores[ScoreName] ≥
	// MinScore) or "" (off).
	Correct   string  `yaml:"correct"`
	ScoreName string  `yaml:"score_name"`
	MinScore  float64 `yaml:"min_score"`
	// Format is the format reward a response must get full marks from
	// ("format_summary", "format"; "" off).
	Format string `yaml:"format"`
	// Language is the target language ("en", "zh", a script name; "" off);
	// MinLanguage the share of words both the reasoning and the summary
	// must have in it.
	Language    string  `yaml:"language"`
	MinLanguage float64 `yaml:"min_language"`
	// MinChars, MaxChars bound the response's length (0: no bound);
	// DropTruncated drops responses cut at the token limit.
	MinChars      int  `yaml:"min_chars"`
	MaxChars      int  `yaml:"max_chars"`
	DropTruncated bool `yaml:"drop_truncated"`
	// RepeatNGram, MaxRepeats: an n-gram of RepeatNGram words seen
	// MaxRepeats times is a loop (0: off).
	RepeatNGram int `yaml:"repeat_ngram"`
	MaxRepeats  int `yaml:"max_repeats"`
	// Dedup drops exact duplicates; NearDup (in (0, 1]) also near ones.
	Dedup   bool    `yaml:"dedup"`
	NearDup float64 `yaml:"near_dup"`
	// PerPrompt keeps at most this many rows per prompt (0: all).
	PerPrompt int `yaml:"per_prompt"`
}

// Defaults are r1 generate's filters: correct by the judge, R1 format,
// English, no truncated responses, no loops, no (near) duplicates.
func Defaults() Config {
	return Config{Correct: "judge", Format: "format_summary", Language: "en", MinLanguage: 0.95,
		DropTruncated: true, RepeatNGram: 8, MaxRepeats: 4, Dedup: true, NearDup: 0.8}
}

// Validate checks the config, naming the field.
func (c Config) Validate() error {
	switch c.Correct {
	case "", "judge":
	case "score":
		if c.ScoreName == "" {
			return fmt.Errorf(`filter.correct: "score" needs filter.score_name (the score to threshold)`)
		}
	default:
		return fmt.Errorf(`filter.correct: expected judge, score or "" (off), got %q`, c.Correct)
	}
	if c.Format != "" && !reward.Registered(c.Format) {
		return fmt.Errorf("filter.format: no reward %q (expected format_summary or format)", c.Format)
	}
	if c.Language != "" {
		if _, err := language.ParseTarget(c.Language); err != nil {
			return fmt.Errorf("filter.language: %w", err)
		}
		if !(c.MinLanguage > 0 && c.MinLanguage <= 1) {
			return fmt.Errorf("filter.min_language: expected a share in (0, 1], got %v", c.MinLanguage)
		}
	}
	switch {
	case c.MinChars < 0 || c.MaxChars < 0 || (c.MaxChars > 0 && c.MaxChars < c.MinChars):
		return fmt.Errorf("filter.min_chars %d, max_chars %d: expected 0 ≤ min ≤ max (0 = no bound)", c.MinChars, c.MaxChars)
	case c.RepeatNGram < 0 || c.MaxRepeats < 0 || (c.RepeatNGram > 0) != (c.MaxRepeats > 0):
		return fmt.Errorf("filter.repeat_ngram %d, max_repeats %d: expected both > 0 (on) or both 0 (off)", c.RepeatNGram, c.MaxRepeats)
	case c.MaxRepeats == 1:
		return fmt.Errorf("filter.max_repeats: 1 would drop every row; expected ≥ 2")
	case c.NearDup < 0 || c.NearDup > 1:
		return fmt.Errorf("filter.near_dup %v: expected a Jaccard similarity in (0, 1], or 0 (off)", c.NearDup)
	case c.PerPrompt < 0:
		return fmt.Errorf("filter.per_prompt %d: expected ≥ 0 (0 = no cap)", c.PerPrompt)
	}
	return nil
}

// Row is one teacher sample to filter.
type Row struct {
	// Prompt is the prompt's index (duplicates and caps are per prompt);
	// Example its dataset row, which the judge reads.
	Prompt  int
	Example data.Example
	// Conditioned is the exact text the teacher was conditioned on ("" for
	// a chat endpoint); Response the whole answer with its reasoning in a
	// think block: "<think>\nreasoning\n</think>\n\nsummary".
	Conditioned string
	Response    string
	Truncated   bool
	Tokens      int
	// Scores holds scores computed before filtering (a judge, a reward
	// model); the filters add theirs ("correct", "format", "language").
	Scores map[string]float64
}

// Reasons in the order filters run.
var Reasons = []string{"incorrect", "format", "language", "length", "repetition", "duplicate", "over_cap"}

// Stats count the rows a Set saw.
type Stats struct {
	Seen, Kept int
	Dropped    map[string]int
}

func (s Stats) String() string {
	var parts []string
	for _, r := range Reasons {
		if n := s.Dropped[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	drop := "none"
	if len(parts) > 0 {
		drop = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d of %d kept; dropped: %s", s.Kept, s.Seen, drop)
}

// Set is a configured sequence of filters with its counts. Rows must be
// offered in a deterministic order (prompt, then sample) for the same
// rows to be kept every time.
type Set struct {
	cfg    Config
	judges data.Judges
	format reward.Func
	lang   language.Target
	seen   map[int]*promptState
	stats  Stats
}

type promptState struct {
	kept   int
	exact  map[string]bool
	hashes [][]uint64
}

// New builds the filters for examples of the given tasks (the judge
// needs them).
func New(cfg Config, tasks []data.Task) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Set{cfg: cfg, seen: map[int]*promptState{}, stats: Stats{Dropped: map[string]int{}}}
	var err error
	if cfg.Correct == "judge" {
		if s.judges, err = data.NewJudges(tasks, nil); err != nil {
			return nil, fmt.Errorf("filter.correct: %w", err)
		}
	}
	if cfg.Format != "" {
		if s.format, err = reward.New(cfg.Format, map[string]any{"think_in_prompt": "no"}); err != nil {
			return nil, fmt.Errorf("filter.format: %w", err)
		}
	}
	if cfg.Language != "" {
		s.lang, _ = language.ParseTarget(cfg.Language)
	}
	return s, nil
}

// Stats returns the counts so far.
func (s *Set) Stats() Stats { return s.stats }

// Keep runs the filters on r and says why it is dropped ("" = kept). It
// records the scores it computed in r.Scores.
func (s *Set) Keep(ctx context.Context, r *Row) string {
	s.stats.Seen++
	reason := s.check(ctx, r)
	if reason == "" {
		s.stats.Kept++
	} else {
		s.stats.Dropped[reason]++
	}
	return reason
}

func (s *Set) check(ctx context.Context, r *Row) string {
	if r.Scores == nil {
		r.Scores = map[string]float64{}
	}
	reasoning, summary, _ := chat.ParseReasoning(r.Response)
	switch s.cfg.Correct {
	case "judge":
		v := s.judges.Check(ctx, r.Example, data.Attempt{Prompt: r.Conditioned, Completion: r.Response, Truncated: r.Truncated, Tokens: r.Tokens})
		r.Scores["correct"] = b2f(v.Correct)
		if !v.Correct {
			return "incorrect"
		}
	case "score":
		v, ok := r.Scores[s.cfg.ScoreName]
		if !ok || v < s.cfg.MinScore {
			return "incorrect"
		}
	}
	if s.format != nil {
		sc, err := s.format.Score(ctx, reward.Sample{Completion: r.Response})
		r.Scores["format"] = sc.Value
		if err != nil || sc.Value < 1 {
			return "format"
		}
	}
	if s.lang != nil {
		share := min(languageShare(reasoning, s.lang), languageShare(summary, s.lang))
		r.Scores["language"] = share
		if share < s.cfg.MinLanguage {
			return "language"
		}
	}
	if n := len(r.Response); (s.cfg.DropTruncated && r.Truncated) || n < s.cfg.MinChars || (s.cfg.MaxChars > 0 && n > s.cfg.MaxChars) {
		return "length"
	}
	if s.cfg.RepeatNGram > 0 && MaxNGramCount(r.Response, s.cfg.RepeatNGram) >= s.cfg.MaxRepeats {
		return "repetition"
	}
	ps := s.seen[r.Prompt]
	if ps == nil {
		ps = &promptState{exact: map[string]bool{}}
		s.seen[r.Prompt] = ps
	}
	if s.cfg.Dedup || s.cfg.NearDup > 0 {
		key := strings.Join(strings.Fields(r.Response), " ")
		if ps.exact[key] {
			return "duplicate"
		}
		var sig []uint64
		if s.cfg.NearDup > 0 {
			sig = MinHash(key)
			for _, h := range ps.hashes {
				if Similarity(sig, h) >= s.cfg.NearDup {
					return "duplicate"
				}
			}
		}
		if s.cfg.PerPrompt == 0 || ps.kept < s.cfg.PerPrompt {
			ps.exact[key] = true
			if sig != nil {
				ps.hashes = append(ps.hashes, sig)
			}
		}
	}
	if s.cfg.PerPrompt > 0 && ps.kept >= s.cfg.PerPrompt {
		return "over_cap"
	}
	ps.kept++
	return ""
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// tagStripper removes the format tags, whose names are English words.
var tagStripper = strings.NewReplacer(reward.ThinkOpen, " ", reward.ThinkClose, " ", reward.AnswerOpen, " ", reward.AnswerClose, " ")

// languageShare is the share of text's words in the target language, as
// the language reward measures it; text without words mixes nothing (1).
func languageShare(text string, t language.Target) float64 {
	words, target := language.Count(tagStripper.Replace(text), t)
	if words == 0 {
		return 1
	}
	return float64(target) / float64(words)
}

// MaxNGramCount is how often the most frequent n-gram of words occurs in
// text.
func MaxNGramCount(text string, n int) int {
	w := strings.Fields(text)
	counts := map[string]int{}
	best := 0
	for i := 0; i+n <= len(w); i++ {
		k := strings.Join(w[i:i+n], "\x00")
		counts[k]++
		best = max(best, counts[k])
	}
	return best
}

// MinHash permutations and shingle size.
const (
	minHashes = 128
	shingle   = 5
)

// MinHash is the MinHash signature of text's set of character 5-grams
// (runes; a text shorter than that is one shingle): minHashes seeded
// FNV-1a hashes, each keeping its minimum. The share of equal positions of
// two signatures estimates the Jaccard similarity of the sets, with a
// standard error of at most 0.5/√128 ≈ 0.044.
func MinHash(text string) []uint64 {
	sig := make([]uint64, minHashes)
	for i := range sig {
		sig[i] = ^uint64(0)
	}
	r := []rune(text)
	add := func(s []rune) {
		base := fnv(string(s))
		for i := range sig {
			// Permutation i: a cheap mix of the base hash with seed i
			// (splitmix64's finaliser), independent enough for MinHash.
			h := mix(base ^ (uint64(i+1) * 0x9e3779b97f4a7c15))
			sig[i] = min(sig[i], h)
		}
	}
	if len(r) < shingle {
		add(r)
		return sig
	}
	for i := 0; i+shingle <= len(r); i++ {
		add(r[i : i+shingle])
	}
	return sig
}

// Similarity estimates the Jaccard similarity of two MinHash signatures.
func Similarity(a, b []uint64) float64 {
	eq := 0
	for i := range a {
		if a[i] == b[i] {
			eq++
		}
	}
	return float64(eq) / float64(len(a))
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Sorted returns reasons with a count, in filter order (for reports).
func (s Stats) Sorted() []string {
	var out []string
	for r := range s.Dropped {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return index(out[i]) < index(out[j]) })
	return out
}

func index(r string) int {
	for i, x := range Reasons {
		if x == r {
			return i
		}
	}
	return len(Reasons)
}
