package data

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Synthetic preferences for the tiny model's world (R1's final stage in
// miniature): pairs of R1-Zero completions to the synthetic arithmetic
// problems (training half only), drawn with a seed.
//
//   - helpful: what follows </think>, the summary a helpfulness reward
//     model reads (scope summary). The chosen summary states the right
//     result clearly, " <answer> 42 </answer>"; the rejected one states a
//     wrong result (type "wrong") or no clear result (type "unclear": an
//     empty tag, an expression instead of its value, a hedge, a result
//     buried in text).
//   - harmless: whole completions (scope full). Both reason the same way
//     to the same answer, but the rejected reasoning uses the forbidden
//     word "Now" (type "forbidden"): a stand-in for content a
//     harmlessness reward model must catch inside the reasoning, which
//     the summary never shows.
const (
	PrefHelpful  = "helpful"
	PrefHarmless = "harmless"
)

// ForbiddenWord is the harmlessness preferences' forbidden pattern.
const ForbiddenWord = "Now"

// PreferenceRow is one synthetic pair as written to JSONL (ReadPairs reads
// it as {"prompt","chosen","rejected"}; "type" says which preference it
// tests).
type PreferenceRow struct {
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
	Type     string `json:"type"`
}

// SyntheticPreferences draws n pairs of kind (helpful or harmless) for the
// synthetic arithmetic problems of the training half, difficulty 1–3.
func SyntheticPreferences(kind string, n int, seed uint64) ([]PreferenceRow, error) {
	if kind != PrefHelpful && kind != PrefHarmless {
		return nil, fmt.Errorf("preference kind %q: want %s or %s", kind, PrefHelpful, PrefHarmless)
	}
	if n <= 0 {
		return nil, fmt.Errorf("preference pairs: n must be > 0, got %d", n)
	}
	rng := newRNG(seed, "preferences:"+kind)
	out := make([]PreferenceRow, 0, n)
	for len(out) < n {
		var p Problem
		for {
			if p = draw(rng, Arithmetic, MinDifficulty+rng.IntN(MaxDifficulty)); !p.HeldOut() {
				break
			}
		}
		prompt := p.R1ZeroPrompt()
		answer := strconv.Itoa(p.Steps[len(p.Steps)-1].R)
		if kind == PrefHelpful {
			row := PreferenceRow{Prompt: prompt, Chosen: " <answer> " + answer + " </answer>"}
			if rng.IntN(2) == 0 {
				row.Type = "wrong"
				row.Rejected = " <answer> " + strconv.Itoa(slip(rng, p.Steps[len(p.Steps)-1].R)) + " </answer>"
			} else {
				row.Type = "unclear"
				row.Rejected = strings.ReplaceAll(pick(rng, " <answer> </answer>", " <answer> "+p.Expr+" </answer>",
					" <answer> maybe {a} </answer>", " The answer is somewhere above.", " <answer> {a} or so </answer>",
					" I am not sure.", " <answer> see above </answer>"), "{a}", answer)
			}
			out = append(out, row)
			continue
		}
		reasoning, ans := arithmeticSolution(rng, p, false)
		if rng.IntN(2) == 0 {
			reasoning, ans = columnSolution(rng, p, false)
		}
		clean := strings.ReplaceAll(reasoning, ForbiddenWord+" ", "Then ")
		dirty := withForbidden(rng, clean)
		if dirty == clean {
			continue
		}
		out = append(out, PreferenceRow{Prompt: prompt, Type: "forbidden",
			Chosen:   " <think> " + clean + " </think> <answer> " + ans + " </answer>",
			Rejected: " <think> " + dirty + " </think> <answer> " + ans + " </answer>"})
	}
	return out, nil
}

// withForbidden makes one sentence of the reasoning start with the
// forbidden word: a connective replaced, or the word put before a
// sentence.
func withForbidden(rng *rand.Rand, s string) string {
	for _, c := range []string{"Then ", "Next, "} {
		if strings.Contains(s, c) && rng.IntN(2) == 0 {
			return strings.Replace(s, c, ForbiddenWord+" ", 1)
		}
	}
	sents := strings.SplitAfter(s, ". ")
	k := rng.IntN(len(sents))
	first := sents[k]
	if first == "" {
		return s
	}
	if first[0] >= 'A' && first[0] <= 'Z' && !strings.HasPrefix(first, "So ") {
		first = strings.ToLower(first[:1]) + first[1:]
	}
	sents[k] = ForbiddenWord + " " + first
	return strings.Join(sents, "")
}

// ScoredSample is a scored completion as r1 reward writes it (and an RL
// run's samples.jsonl holds): the prompt, the completion and its scores by
// label.
type ScoredSample struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Scores     map[string]struct {
		Value float64 `json:"value"`
	} `json:"scores"`
}

// PairsFromScored builds on-policy preference pairs from a model's own
// scored samples: for each prompt, its completions whose score label is
// ≥ 1 (correct) are paired with those below (incorrect), at most perPrompt
// pairs per prompt (0: min(#correct, #incorrect)), each completion used
// once. Prompts keep their order of first appearance.
func PairsFromScored(samples []ScoredSample, label string, perPrompt int) ([]PreferenceRow, error) {
	type group struct{ good, bad []string }
	groups := map[string]*group{}
	var order []string
	for i, s := range samples {
		sc, ok := s.Scores[label]
		if !ok {
			return nil, fmt.Errorf("sample %d: no score %q (scored: %v)", i+1, label, scoreLabels(s))
		}
		g := groups[s.Prompt]
		if g == nil {
			g = &group{}
			groups[s.Prompt] = g
			order = append(order, s.Prompt)
		}
		if sc.Value >= 1 {
			g.good = append(g.good, s.Completion)
		} else {
			g.bad = append(g.bad, s.Completion)
		}
	}
	var out []PreferenceRow
	for _, p := range order {
		g := groups[p]
		n := min(len(g.good), len(g.bad))
		if perPrompt > 0 {
			n = min(n, perPrompt)
		}
		for k := 0; k < n; k++ {
			if g.good[k] == g.bad[k] {
				continue
			}
			out = append(out, PreferenceRow{Prompt: p, Chosen: g.good[k], Rejected: g.bad[k], Type: "on-policy:" + label})
		}
	}
	return out, nil
}

func scoreLabels(s ScoredSample) []string {
	var ls []string
	for l := range s.Scores {
		ls = append(ls, l)
	}
	return ls
}

// MixedPrompts writes a dataset's problems as user-file rows for a run
// that mixes reasoning and general prompts (grpo's reward_routing): every
// generalEvery-th row (the 2nd, 4th, … for 2) becomes a general prompt,
// {"problem", "kind": "general"}, without its answer; the others keep
// {"problem", "answer"}. Math problems only.
func MixedPrompts(ds *Dataset, generalEvery int) ([]map[string]any, error) {
	if generalEvery < 1 {
		return nil, fmt.Errorf("general_every: must be ≥ 1, got %d", generalEvery)
	}
	out := make([]map[string]any, len(ds.Examples))
	for i, ex := range ds.Examples {
		if ex.Task != TaskMath {
			return nil, fmt.Errorf("dataset %s row %d: task %s; mixed prompts take math problems", ds.Name, i+1, ex.Task)
		}
		if i%generalEvery == generalEvery-1 {
			out[i] = map[string]any{"problem": ex.Input.Question, "kind": KindGeneral}
		} else {
			out[i] = map[string]any{"problem": ex.Input.Question, "answer": ex.Gold}
		}
	}
	return out, nil
}
