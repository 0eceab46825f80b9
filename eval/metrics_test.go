package eval

import (
	"math"
	"slices"
	"testing"
)

func TestPassAtK(t *testing.T) {
	tests := []struct {
		n, c, k int
		want    float64
	}{
		{1, 0, 1, 0},
		{1, 1, 1, 1},
		{5, 2, 1, 0.4},     // k=1 is c/n
		{16, 5, 1, 0.3125}, // k=1 is c/n
		{5, 2, 2, 0.7},     // 1 - C(3,2)/C(5,2) = 1 - 3/10
		{4, 0, 2, 0},       // nothing correct
		{4, 3, 2, 1},       // n-c < k: every pair has a correct one
		{10, 1, 10, 1},     // k = n with one correct
		{6, 1, 3, 0.5},     // 1 - C(5,3)/C(6,3) = 1 - 10/20
		{200, 3, 100, 1 - float64(100*99*98)/float64(200*199*198)},
	}
	for _, tt := range tests {
		got, err := PassAtK(tt.n, tt.c, tt.k)
		if err != nil {
			t.Fatalf("PassAtK(%d,%d,%d): %v", tt.n, tt.c, tt.k, err)
		}
		if math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("PassAtK(%d,%d,%d) = %v, want %v", tt.n, tt.c, tt.k, got, tt.want)
		}
	}
}

// The product form must agree with the binomial definition where the
// binomials are small enough to compute exactly, and stay finite for n in
// the thousands where they overflow.
func TestPassAtKMatchesBinomials(t *testing.T) {
	binom := func(n, r int) float64 {
		if r < 0 || r > n {
			return 0
		}
		out := 1.0
		for i := 1; i <= r; i++ {
			out = out * float64(n-r+i) / float64(i)
		}
		return out
	}
	for n := 1; n <= 20; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				want := 1 - binom(n-c, k)/binom(n, k)
				got, err := PassAtK(n, c, k)
				if err != nil || math.Abs(got-want) > 1e-9 {
					t.Fatalf("PassAtK(%d,%d,%d) = %v, %v; want %v", n, c, k, got, err, want)
				}
			}
		}
	}
	got, err := PassAtK(5000, 7, 1000)
	if err != nil || math.IsNaN(got) || got <= 0 || got > 1 {
		t.Fatalf("PassAtK(5000,7,1000) = %v, %v: want a probability", got, err)
	}
}

func TestPassAtKErrors(t *testing.T) {
	for _, tt := range [][3]int{{0, 0, 1}, {3, 1, 0}, {3, 1, 4}, {3, 4, 1}, {3, -1, 1}, {-2, 0, 1}} {
		if _, err := PassAtK(tt[0], tt[1], tt[2]); err == nil {
			t.Errorf("PassAtK(%d,%d,%d): want an error", tt[0], tt[1], tt[2])
		}
	}
}

func TestVoteMath(t *testing.T) {
	v := mathVoter(t)
	tests := []struct {
		name     string
		answers  []string
		winner   int
		clusters int
	}{
		{"equivalent forms vote together; 2-2 tie goes to the earliest", []string{"1/2", "0.5", "3", "3"}, 0, 2},
		{"tie, other order", []string{"3", "1/2", "0.5", "3"}, 0, 2},
		{"majority beats first", []string{"4", "\\frac{1}{2}", "0.5", "1/2", "4"}, 1, 2},
		{"Equal merges groups Key keeps apart", []string{`\sin^2 x + \cos^2 x`, "2", "2", "1", "1"}, 0, 2},
		{"missing answers do not vote", []string{"", "", "7", ""}, 2, 1},
		{"no answers", []string{"", ""}, -1, 0},
		{"k=1", []string{"42"}, 0, 1},
		{"zero-padded equals plain", []string{"25", "073", "73"}, 1, 2},
	}
	for _, tt := range tests {
		w, cl := v.Vote(tt.answers)
		if w != tt.winner || len(cl) != tt.clusters {
			t.Errorf("%s: Vote(%q) = %d with %d clusters %v, want %d with %d", tt.name, tt.answers, w, len(cl), cl, tt.winner, tt.clusters)
		}
	}
}

func TestVoteTextAndMerge(t *testing.T) {
	// Key by first letter, Equal merges "a…" with "b…": groups a{0,3}, c{1,2},
	// b{4} become clusters {0,3,4} and {1,2}.
	v := Voter{
		Key:   func(s string) string { return s[:1] },
		Equal: func(a, b string) bool { return (a[0] == 'a' && b[0] == 'b') || (a[0] == 'b' && b[0] == 'a') },
	}
	w, cl := v.Vote([]string{"a1", "c1", "c2", "a2", "b1"})
	if w != 0 || len(cl) != 2 || !slices.Equal(cl[0].Members, []int{0, 3, 4}) || !slices.Equal(cl[1].Members, []int{1, 2}) {
		t.Fatalf("Vote = %d %v, want 0 [{0 3 4} {1 2}]", w, cl)
	}
	// Without a Key, answers group by exact text.
	w, _ = Voter{}.Vote([]string{"x", "y", "y"})
	if w != 1 {
		t.Fatalf("Vote by text = %d, want 1", w)
	}
}

func TestScore(t *testing.T) {
	v := mathVoter(t)
	tests := []struct {
		name    string
		correct []bool
		answers []string
		k       int
		want    ProblemMetrics
	}{
		{"tie between a wrong and a right answer: the earlier (wrong) wins",
			[]bool{false, true, true, false}, []string{"5", "7", "7", "5"}, 4,
			ProblemMetrics{N: 4, Correct: 2, PassAt1: 0.5, PassAtK: 1, ConsAtK: 0, Voted: 0}},
		{"majority right",
			[]bool{true, false, false, true, true}, []string{"7", "5", "5", "7", "7"}, 5,
			ProblemMetrics{N: 5, Correct: 3, PassAt1: 0.6, PassAtK: 1, ConsAtK: 1, Voted: 0}},
		{"k=1 votes on the first sample only; pass@1 uses all n",
			[]bool{false, true, true, true}, []string{"5", "7", "7", "7"}, 1,
			ProblemMetrics{N: 4, Correct: 3, PassAt1: 0.75, PassAtK: 0.75, ConsAtK: 0, Voted: 0}},
		{"pass@2 of 4 with 2 correct; vote over the first 2",
			[]bool{true, false, true, false}, []string{"2", "3", "2", ""}, 2,
			ProblemMetrics{N: 4, Correct: 2, PassAt1: 0.5, PassAtK: 1 - 1.0/6, ConsAtK: 1, Voted: 0}},
		{"no answers at all",
			[]bool{false, false}, []string{"", ""}, 2,
			ProblemMetrics{N: 2, Correct: 0, PassAt1: 0, PassAtK: 0, ConsAtK: 0, Voted: -1}},
	}
	for _, tt := range tests {
		got, err := Score(tt.correct, tt.answers, tt.k, v)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got.N != tt.want.N || got.Correct != tt.want.Correct || got.Voted != tt.want.Voted || got.ConsAtK != tt.want.ConsAtK ||
			math.Abs(got.PassAt1-tt.want.PassAt1) > 1e-12 || math.Abs(got.PassAtK-tt.want.PassAtK) > 1e-12 {
			t.Errorf("%s: Score = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if _, err := Score([]bool{true}, []string{"1", "2"}, 1, v); err == nil {
		t.Error("Score with mismatched lengths: want an error")
	}
	if _, err := Score([]bool{true}, []string{"1"}, 2, v); err == nil {
		t.Error("Score with k > n: want an error")
	}
}
