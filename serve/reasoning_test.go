package serve

import (
	"math/rand/v2"
	"testing"
)

func TestSplitReasoning(t *testing.T) {
	for _, c := range []struct {
		text       string
		open       bool
		reas, cont string
	}{
		{" <think> 20 - 4 = 16. </think> <answer> 16 </answer>", false, "20 - 4 = 16.", "16"},
		{"<think>\nstep\n</think>\n\nThe answer is 4.", false, "step", "The answer is 4."},
		{"step one\n</think>\n\n4", true, "step one", "4"},       // the template opened <think>
		{" <think> still thinking", false, "still thinking", ""}, // cut by max_tokens
		{"still thinking", true, "still thinking", ""},
		{" no tags at all. 16", false, "", "no tags at all. 16"},
		{" 16 </think> x", false, "", "16 </think> x"}, // no opening tag: all content
		{" <think> a </think> Therefore <answer> 7 </answer>", false, "a", "Therefore  7"},
		{"", false, "", ""},
	} {
		r, ct := splitReasoning(c.text, c.open)
		if r != c.reas || ct != c.cont {
			t.Errorf("splitReasoning(%q, %v) = %q, %q; want %q, %q", c.text, c.open, r, ct, c.reas, c.cont)
		}
	}
}

// Streaming the text in pieces cut anywhere (inside tags, inside stop
// strings) sends deltas that add up to the split of the whole text, cut at
// the first stop string: what a non-streaming response holds.
func TestStreamDeltasAddUp(t *testing.T) {
	texts := []struct {
		text  string
		open  bool
		stops []string
	}{
		{" <think> 20 - 4 = 16. </think> <answer> 16 </answer>", false, nil},
		{" <think> 20 - 4 = 16. </think> <answer> 16 </answer> trailing", false, []string{"</answer>"}},
		{"<think>\nfirst, 3 * 4 = 12\nwait\n</think>\n\n**12**", false, []string{"STOP"}},
		{"a thought </think> the answer END more", true, []string{"END", "nope"}},
		{" plain text without tags <thin and a half tag", false, nil},
		{" <think> a <answer> b", false, []string{"<answer>"}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range texts {
		whole := stream{open: c.open, split: true, stops: c.stops}
		wr, wc := whole.push(c.text, true)
		for try := 0; try < 200; try++ {
			s := stream{open: c.open, split: true, stops: c.stops}
			var r, ct string
			for rest := c.text; len(rest) > 0; {
				n := 1 + rng.IntN(min(len(rest), 6))
				dr, dc := s.push(rest[:n], false)
				r, ct, rest = r+dr, ct+dc, rest[n:]
			}
			dr, dc := s.push("", true)
			r, ct = r+dr, ct+dc
			if r != wr || ct != wc {
				t.Fatalf("%q streamed: %q, %q; whole: %q, %q", c.text, r, ct, wr, wc)
			}
		}
	}
	// Without splitting (/v1/completions) the text is sent as is, cut
	// before a stop string, never showing part of it.
	s := stream{stops: []string{"</answer>"}}
	var got string
	for _, piece := range []string{" <answer> 4 </", "ans", "wer> more"} {
		_, dc := s.push(piece, false)
		got += dc
		if got != " <answer> 4 "[:len(got)] {
			t.Fatalf("sent %q: part of the stop string leaked", got)
		}
	}
	_, dc := s.push("", true)
	if got += dc; got != " <answer> 4 " {
		t.Fatalf("completion text %q, want %q", got, " <answer> 4 ")
	}
}
