package mathverify

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestEqualHugeValues: values beyond float64 are compared exactly (big
// integers and rationals), and a value that overflows or underflows in
// floating point is unknown (not equal), never equal to every other
// overflowed value.
func TestEqualHugeValues(t *testing.T) {
	tests := []struct {
		gold, pred string
		want       bool
	}{
		// factorials
		{"1000!", "999!", false},
		{"1000!", "1000!", true},
		{"201!", "202!", false},
		{"3000!", "3000 \\cdot 2999!", true},
		{"3000!", "2999!", false},
		{"5000!", "5001!", false}, // beyond exact evaluation: unknown
		{"1000!", "1000 \\times 999!", true},
		// huge powers and their signs
		{"3^{5000}", "-(3^{5000})", false},
		{"3^5000", "-(3^5000)", false}, // a digit run after ^ is one exponent
		{"3^{5000}", "-3^{5000}", false},
		{"3^{5000}", "3^{5000}", true},
		{"3^{5000}", "9^{2500}", true},
		{"-3^{5001}", "(-3)^{5001}", true},
		{"(-1)^{1000001}", "-1", true},
		{"(-1)^{1000000}", "1", true},
		{"2^{3000}", "2^{3000}+1", false},
		{"2^{3000}", "2 \\cdot 2^{2999}", true},
		{"10^{400}", "10^{400}+1", false},
		{"2^10", "1024", true},
		{"2^{100000}", "2^{100000}+1", false}, // beyond exact evaluation: unknown
		{"2^{100000}", "2^{100001}", false},
		// huge and tiny rationals
		{`\frac{1}{3^{5000}}`, "0", false},
		{`\frac{1}{3^{5000}}`, `3^{-5000}`, true},
		{`\frac{2^{3000}}{2^{2999}}`, "2", true},
		{`\frac{10^{400}+1}{10^{400}}`, "1", false},
		{"10^{-400}", "0", false},
		{`1.5 \cdot 10^{400}`, `2.5 \cdot 10^{400}`, false},
		{`1.5 \cdot 10^{400}`, `\frac{3}{2} \cdot 10^{400}`, true},
		// floating point overflow is unknown, not equal
		{"e^{1000}", "e^{1001}", false},
		{"e^{1000}", "-e^{1000}", false},
		{`\pi^{1000}`, `\pi^{1001}`, false},
		{`\frac{\pi}{10^{100000}}`, "0", false},
		// genuine infinities still compare
		{`\infty`, `\infty`, true},
		{`-\infty`, `\infty`, false},
		{`(-\infty, 5)`, `(-\infty, 5)`, true},
	}
	ctx := context.Background()
	for _, tc := range tests {
		start := time.Now()
		if got := Equal(ctx, tc.gold, tc.pred); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.gold, tc.pred, got, tc.want)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Errorf("Equal(%q, %q) took %v", tc.gold, tc.pred, el)
		}
		// Symmetric: the order of gold and prediction does not matter here.
		if got := Equal(ctx, tc.pred, tc.gold); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.pred, tc.gold, got, tc.want)
		}
	}
}

// TestVerifyHugeValues runs the same through Verify, as r1 verify does.
func TestVerifyHugeValues(t *testing.T) {
	for _, tc := range []struct {
		gold, pred string
		want       bool
	}{
		{"1000!", "The answer is $\\boxed{999!}$", false},
		{"3^5000", "-(3^5000)", false},
		{"3^{5000}", "so \\boxed{3^{5000}}", true},
	} {
		if got := Verify(context.Background(), tc.gold, tc.pred); got != tc.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", tc.gold, tc.pred, got, tc.want)
		}
	}
}

// TestExactWorkIsBounded: an answer repeating a big factorial many times is
// refused by the exact evaluator's budget instead of computed for seconds.
func TestExactWorkIsBounded(t *testing.T) {
	long := "3000!" + strings.Repeat("+3000!", 2000)
	start := time.Now()
	Equal(context.Background(), long, "2001 \\cdot 3000!")
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
}
