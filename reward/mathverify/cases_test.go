package mathverify

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"testing"
)

// publicCase is one (gold, prediction, expected) triple ported from the
// public Math-Verify test suite (testdata/mathverify_cases.jsonl).
type publicCase struct {
	Source     string         `json:"source"`
	Gold       string         `json:"gold"`
	Prediction string         `json:"prediction"`
	Expected   bool           `json:"expected"`
	Options    map[string]any `json:"options"`
}

func loadPublicCases(t testing.TB) []publicCase {
	f, err := os.Open("testdata/mathverify_cases.jsonl")
	if err != nil {
		t.Fatalf("open cases: %v", err)
	}
	defer f.Close()
	var out []publicCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		var c publicCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("testdata/mathverify_cases.jsonl line %d: %v", line, err)
		}
		out = append(out, c)
	}
	return out
}

// knownDisagreements are public cases where this verifier knowingly
// differs from Math-Verify: per-call options this API does not expose
// (precision 2/4, one-sided set/relation comparison), inline math split
// across lines, glued words, and one case Math-Verify accepts by accident.
var knownDisagreements = map[int]string{
	31:  "inline $...$ spanning lines: we still take the last number",
	32:  "inline \\(...\\) spanning lines: we still take the last number",
	133: "needs precision=2",
	139: "needs precision=2",
	186: "needs allow_set_relation_comp=true",
	217: "W(x)=1orW(x)=-1 glued words",
	261: "Math-Verify accepts 1-1/e == 1+1/e; we do not",
}

func TestPublicCases(t *testing.T) {
	cases := loadPublicCases(t)
	fails := 0
	for i, c := range cases {
		got := Verify(context.Background(), c.Gold, c.Prediction)
		if got != c.Expected {
			fails++
			if _, known := knownDisagreements[i]; !known {
				t.Errorf("case %d (%s): Verify(%.80q, %.80q) = %v, want %v", i, c.Source, c.Gold, c.Prediction, got, c.Expected)
			}
			if os.Getenv("MV_SHOW") != "" {
				g, _ := goldAnswer(c.Gold)
				p, _ := ExtractAnswer(c.Prediction)
				t.Logf("case %d (%s): expected %v got %v\n  gold=%.150q -> %q\n  pred=%.150q -> %q", i, c.Source, c.Expected, got, c.Gold, g, c.Prediction, p)
			}
		}
	}
	t.Logf("%d/%d public cases agree", len(cases)-fails, len(cases))
}
