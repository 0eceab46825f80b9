// Package language implements the language-consistency reward of the
// DeepSeek-R1 paper, registered as "language": the share of the words of
// the chain of thought that are written in the target language.
//
// Languages are told apart by script, which needs no model and no word
// lists: English, French, … are Latin; Chinese is Han; Japanese is Han,
// Hiragana and Katakana; Russian is Cyrillic; and so on. A word is a run of
// letters of one script; each Han, Hiragana or Katakana character counts as
// a word of its own, since those scripts do not separate words by spaces.
// Digits, punctuation, symbols and LaTeX command names (\frac) are not words.
//
// Params: "language" (a code such as "en", "zh", "ja", or a Unicode script
// name such as "Latin"; default "en"), overridden per sample by
// Fields["language"]; "scope" ("think", the default, scores the think block,
// or the whole completion when there is none; "all" always scores the whole
// completion); "empty" (the value when the scored text has no words,
// default 1). A chain of thought without words — pure arithmetic, or
// nothing — mixes no language, so it is consistent: it scores 1, neither
// rewarded nor punished against a worded one in the target language. (A
// missing or empty chain of thought is the format reward's business.)
package language

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("language", func(params map[string]any) (reward.Func, error) { return New(params) })
}

// scriptsByLang maps ISO 639-1 codes to the scripts their words use.
var scriptsByLang = map[string][]string{}

func init() {
	add := func(scripts []string, codes ...string) {
		for _, c := range codes {
			scriptsByLang[c] = scripts
		}
	}
	add([]string{"Latin"}, "en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "nb", "nn", "fi", "is",
		"pl", "cs", "sk", "sl", "hr", "bs", "ro", "hu", "et", "lv", "lt", "tr", "az", "uz", "vi", "id", "ms", "tl",
		"sw", "ca", "eu", "gl", "ga", "cy", "sq", "mt", "af", "la", "eo")
	add([]string{"Han"}, "zh")
	add([]string{"Han", "Hiragana", "Katakana"}, "ja")
	add([]string{"Hangul"}, "ko")
	add([]string{"Cyrillic"}, "ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "mn", "tg")
	add([]string{"Greek"}, "el")
	add([]string{"Hebrew"}, "he", "yi")
	add([]string{"Arabic"}, "ar", "fa", "ur", "ps")
	add([]string{"Devanagari"}, "hi", "mr", "ne", "sa")
	add([]string{"Bengali"}, "bn")
	add([]string{"Tamil"}, "ta")
	add([]string{"Telugu"}, "te")
	add([]string{"Thai"}, "th")
	add([]string{"Georgian"}, "ka")
	add([]string{"Armenian"}, "hy")
}

// Target is the set of scripts that count as the target language.
type Target []*unicode.RangeTable

// ParseTarget resolves a language code ("en", "zh-CN", "pt_BR") or a Unicode
// script name ("Cyrillic", case-insensitive).
func ParseTarget(lang string) (Target, error) {
	code := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(code, "-_"); i > 0 {
		code = code[:i]
	}
	names, ok := scriptsByLang[code]
	if !ok {
		for name := range unicode.Scripts {
			if strings.EqualFold(name, strings.TrimSpace(lang)) {
				names, ok = []string{name}, true
				break
			}
		}
	}
	if !ok {
		codes := make([]string, 0, len(scriptsByLang))
		for c := range scriptsByLang {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		return nil, fmt.Errorf("unknown language %q: expected a code (%s) or a Unicode script name", lang, strings.Join(codes, ", "))
	}
	t := make(Target, len(names))
	for i, n := range names {
		t[i] = unicode.Scripts[n]
	}
	return t, nil
}

func (t Target) has(r rune) bool {
	for _, tab := range t {
		if unicode.Is(tab, r) {
			return true
		}
	}
	return false
}

// perChar reports scripts whose every character is a word.
func perChar(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// Count returns how many words text has and how many are in the target.
func Count(text string, t Target) (words, target int) {
	inWord := false // inside a run of letters
	runTarget := false
	skip := false // inside a LaTeX command name
	prev := rune(0)
	asciiT := t.has('a') // whether ASCII letters are in the target
	for _, r := range text {
		if r < utf8.RuneSelf {
			// ASCII fast path: most CoT text is ASCII, and the table
			// lookups below dominate the cost otherwise.
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				inWord, skip = false, false
				prev = r
				continue
			}
			if skip {
				prev = r
				continue
			}
			if !inWord && prev == '\\' {
				skip = true
				prev = r
				continue
			}
			if !inWord || asciiT != runTarget {
				words++
				if asciiT {
					target++
				}
			}
			inWord, runTarget = true, asciiT
			prev = r
			continue
		}
		letter := unicode.IsLetter(r)
		if letter && unicode.In(r, unicode.Common, unicode.Inherited) {
			// Script-neutral letters (e.g. the Katakana-Hiragana long vowel
			// mark) extend a word but never start or split one.
			prev = r
			continue
		}
		if !letter {
			if inWord && unicode.In(r, unicode.Mn, unicode.Mc) {
				prev = r
				continue // combining marks stay inside the word
			}
			inWord, skip = false, false
			prev = r
			continue
		}
		if skip {
			prev = r
			continue
		}
		if !inWord && prev == '\\' {
			skip = true
			prev = r
			continue
		}
		isT := t.has(r)
		if !inWord || perChar(r) || isT != runTarget {
			words++
			if isT {
				target++
			}
		}
		inWord, runTarget = !perChar(r), isT
		prev = r
	}
	return words, target
}

// tagStripper removes the format tags, whose names are English words.
var tagStripper = strings.NewReplacer(reward.ThinkOpen, " ", reward.ThinkClose, " ", reward.AnswerOpen, " ", reward.AnswerClose, " ")

// Reward is the language-consistency reward.
type Reward struct {
	lang   string
	target Target
	all    bool
	empty  float64
}

// New builds the reward from params (see the package documentation).
func New(params map[string]any) (*Reward, error) {
	p := reward.NewParams(params)
	r := &Reward{}
	var err error
	if r.lang, err = p.String("language", "en"); err != nil {
		return nil, err
	}
	if r.target, err = ParseTarget(r.lang); err != nil {
		return nil, fmt.Errorf(`param "language": %w`, err)
	}
	scope, err := p.String("scope", "think")
	if err != nil {
		return nil, err
	}
	switch scope {
	case "think":
	case "all":
		r.all = true
	default:
		return nil, fmt.Errorf(`param "scope": expected think or all, got %q`, scope)
	}
	if r.empty, err = p.Float("empty", 1); err != nil {
		return nil, err
	}
	return r, p.Done()
}

// Name implements reward.Func.
func (r *Reward) Name() string { return "language" }

// Score implements reward.Func.
func (r *Reward) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	t := r.target
	if v, ok := s.Fields["language"]; ok && v != nil {
		lang, isStr := v.(string)
		if !isStr {
			return reward.Score{}, fmt.Errorf("fields.language: expected a string, got %T", v)
		}
		var err error
		if t, err = ParseTarget(lang); err != nil {
			return reward.Score{}, fmt.Errorf("fields.language: %w", err)
		}
	}
	text := s.Completion
	if !r.all {
		if think, rest, ok := reward.SplitThink(s); ok {
			text = think
		} else {
			text = rest
		}
	}
	words, target := Count(tagStripper.Replace(text), t)
	v := r.empty
	if words > 0 {
		v = float64(target) / float64(words)
	}
	return reward.Score{Value: v, Parts: map[string]float64{"words": float64(words), "target_words": float64(target)}}, nil
}
