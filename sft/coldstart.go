package sft

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
)

// ColdStartOptions select and shape cold-start rows (DeepSeek-R1 §2.3.1:
// a few thousand long, readable chains of thought in the R1 output format,
// the reasoning followed by a summary).
type ColdStartOptions struct {
	// Correct is the score label whose value ≥ 1 marks a sample correct
	// ("math" for math problems, "countdown" for Countdown). Set in an SFT
	// config (cold_start.correct), it makes data an RL run's samples.
	Correct string `yaml:"correct"`
	// MinThink and MaxThink bound the reasoning's length in characters
	// (0 = no bound): too short is no chain of thought, too long is
	// rambling the cold start should not teach.
	MinThink int `yaml:"min_think"`
	MaxThink int `yaml:"max_think"`
}

// Enabled reports whether data is an RL run's samples to convert.
func (o *ColdStartOptions) Enabled() bool { return o.Correct != "" }

// Validate checks the options, naming the key under cold_start.
func (o *ColdStartOptions) Validate() error {
	if o.MinThink < 0 || o.MaxThink < 0 {
		return fmt.Errorf("cold_start.min_think and cold_start.max_think: must be ≥ 0 (0 = no bound), got %d and %d", o.MinThink, o.MaxThink)
	}
	return nil
}

// ColdStartFile is the file in the run directory that holds the
// cold-start rows a run trains on (kept for inspection and reuse).
const ColdStartFile = "cold_start.jsonl"

// coldStartData converts the scored RL samples of c.Data into cold-start
// rows written to OUT/cold_start.jsonl, and returns that file.
func coldStartData(c Config) (string, ColdStartStats, error) {
	f, err := os.Open(c.Data)
	if err != nil {
		return "", ColdStartStats{}, fmt.Errorf("cold_start: %w", err)
	}
	defer f.Close()
	rows, st, err := ColdStart(f, c.ColdStart)
	if err != nil {
		return "", st, fmt.Errorf("cold_start: %s: %w", c.Data, err)
	}
	if len(rows) == 0 {
		return "", st, fmt.Errorf("cold_start: %s: no sample kept (%s)", c.Data, st)
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return "", st, err
	}
	path := filepath.Join(c.Out, ColdStartFile)
	return path, st, data.WriteJSONLFile(path, rows)
}

// ColdStartStats counts what ColdStart kept and why it dropped the rest.
type ColdStartStats struct {
	Read, Kept                                 int
	Incorrect, Truncated, Malformed, OutOfSize int
}

func (s ColdStartStats) String() string {
	return fmt.Sprintf("%d samples read, %d kept; dropped: %d incorrect, %d truncated, %d not in <think>/<answer> format, %d outside the length bounds",
		s.Read, s.Kept, s.Incorrect, s.Truncated, s.Malformed, s.OutOfSize)
}

// ColdStart turns an RL run's samples (the samples.jsonl of r1 grpo and
// r1 zero, or r1 sample output scored by r1 reward: rows with "prompt",
// "completion" and "scores") into cold-start SFT rows: the question as a
// user message and, as the assistant's answer, the sample's reasoning in
// the R1 output format followed by a readable summary that states the
// answer boxed, so the answer checkers still find it. Only correct,
// complete, well-formed samples within the length bounds are kept.
func ColdStart(r io.Reader, o ColdStartOptions) ([]map[string]any, ColdStartStats, error) {
	var st ColdStartStats
	var rows []map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var s struct {
			Prompt       string `json:"prompt"`
			Completion   string `json:"completion"`
			FinishReason string `json:"finish_reason"`
			Scores       map[string]struct {
				Value float64 `json:"value"`
			} `json:"scores"`
		}
		if err := json.Unmarshal([]byte(text), &s); err != nil {
			return nil, st, fmt.Errorf("line %d: %w", line, err)
		}
		if s.Scores == nil {
			return nil, st, fmt.Errorf(`line %d: no "scores": cold start needs scored samples (an RL run's samples.jsonl, or r1 sample output scored by r1 reward)`, line)
		}
		st.Read++
		score, ok := s.Scores[o.Correct]
		switch {
		case !ok:
			return nil, st, fmt.Errorf("line %d: no score %q (the sample has %v)", line, o.Correct, keys(s.Scores))
		case score.Value < 1:
			st.Incorrect++
			continue
		case s.FinishReason == "length":
			st.Truncated++
			continue
		}
		reasoning, answer, ok := thinkAnswer(s.Completion)
		if !ok {
			st.Malformed++
			continue
		}
		if len(reasoning) < o.MinThink || (o.MaxThink > 0 && len(reasoning) > o.MaxThink) {
			st.OutOfSize++
			continue
		}
		question := s.Prompt
		if q, ok := chat.ParseR1Zero(s.Prompt); ok {
			question = q
		}
		summary := "The answer is $\\boxed{" + answer + "}$."
		rows = append(rows, map[string]any{"messages": []map[string]string{
			{"role": "user", "content": question},
			{"role": "assistant", "content": chat.FormatReasoning(reasoning, summary)},
		}})
		st.Kept++
	}
	return rows, st, sc.Err()
}

// thinkAnswer splits "<think> r </think> <answer> a </answer>" (an opening
// <think> the prompt supplied may be missing) into r and a, both trimmed
// and non-empty, with nothing but whitespace around the blocks.
func thinkAnswer(c string) (reasoning, answer string, ok bool) {
	c = strings.TrimSpace(c)
	c = strings.TrimPrefix(c, "<think>")
	reasoning, rest, ok := strings.Cut(c, "</think>")
	if !ok || strings.Contains(reasoning, "<think>") {
		return "", "", false
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "<answer>") || !strings.HasSuffix(rest, "</answer>") {
		return "", "", false
	}
	answer = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(rest, "<answer>"), "</answer>"))
	reasoning = strings.TrimSpace(reasoning)
	if reasoning == "" || answer == "" || strings.ContainsAny(answer, "<>") {
		return "", "", false
	}
	return reasoning, answer, true
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
