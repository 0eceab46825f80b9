package mathverify

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestEqualTruthTable covers each kind of equivalence with cases that must
// hold and near misses that must not.
func TestEqualTruthTable(t *testing.T) {
	tests := []struct {
		gold, pred string
		want       bool
	}{
		// integers, rationals, decimals
		{"72", "72", true},
		{"72", "72.0", true},
		{"72", "73", false},
		{"1000000", "1000001", false},
		{`\frac{1}{2}`, "0.5", true},
		{`\frac{1}{2}`, "1/2", true},
		{`\dfrac{3}{4}`, `\tfrac34`, true},
		{`\frac{1}{3}`, "0.333333", true},
		{`\frac{1}{3}`, "0.33", false},
		{"1000000.5", "1000001.5", false},
		{`\frac{1}{12}`, "0.0833333333333333", true},
		{`-\frac{24}{25}`, `\frac{-24}{25}`, true},
		{`-\frac{24}{25}`, `\frac{24}{25}`, false},
		{"025", "25", true},
		{"0.5", ".5", true},
		{"7425000", "7,425,000", true},
		{`10,\!080`, "10080", true},
		{`\$32,\!348`, "32348", true},
		{`\$18.90`, "18.9", true},
		// mixed numbers
		{`137 \frac{1}{2}`, "275/2", true},
		{`1\frac{4}{5}`, "1.8", true},
		{`-2\frac{1}{2}`, "-2.5", true},
		{`2\frac{1}{2}`, "1", false},
		{`3\frac{\pi}{2}`, `\frac{3\pi}{2}`, true},
		// radicals, constants, complex numbers
		{`3\sqrt{13}`, `\sqrt{117}`, true},
		{`\sqrt{2}+\sqrt{5}`, `\sqrt 2+\sqrt 5`, true},
		{`\frac{\sqrt{3}}{3}`, `\frac{1}{\sqrt3}`, true},
		{`\frac{\sqrt{3}}{3}`, `\sqrt3`, false},
		{`\sqrt[3]{-8}`, "-2", true},
		{`\frac{9}{4}\pi`, `\frac94\pi`, true},
		{`12\pi`, `12 \cdot \pi`, true},
		{`12\pi`, `37.699111843`, true},
		{"-2 + 7i", "7i-2", true},
		{"-2 + 7i", "-2 - 7i", false},
		{`2^{10}`, "1024", true},
		{`5!`, "120", true},
		{`\binom{5}{2}`, "10", true},
		{`\log_2 8`, "3", true},
		// symbolic
		{`\frac{x+2}{7}`, `\frac{x}{7}+\frac{2}{7}`, true},
		{`(a+5)(b+2)`, `ab + 2a + 5b + 10`, true},
		{`x^3+3x-6`, `3x + x^3 - 6`, true},
		{`x^3+3x-6`, `x^3+3x+6`, false},
		{`\tan^2(y)+1`, `\sec^2(y)`, true},
		{`2 \sin b \cos a`, `2\cos a \sin b`, true},
		{`\cot x`, `\frac{\cos x}{\sin x}`, true},
		{`x+2n+1`, `x+1`, false},
		// degrees, percent, units, text
		{`90^\circ`, "90", true},
		{`90^\circ`, `90^{\circ}`, true},
		{`28\%`, "28", true},
		{`28\%`, "0.28", true},
		{`28\%`, "28 percent", true},
		{`28\%`, "29%", false},
		{`15\mbox{ cm}^2`, "15", true},
		{`5.4 \text{ cents}`, "5.4", true},
		{"15", `15\mathrm{cm}`, true},
		{"15", `15\,\mathrm{m}^2`, true},
		{"15", `15\,\mathrm{m}x`, false},
		{`\text{Evelyn}`, "Evelyn", true},
		{`\text{Evelyn}`, `\text{evelyn}`, true},
		{`\text{Evelyn}`, "Navin", false},
		{`\text{(C)}`, "C", true},
		{`\text{(C)}`, `\text{(B)}`, false},
		{`\text{E}`, "e", true},
		// tuples, sets, intervals
		{`\left( 3, \frac{\pi}{2} \right)`, `(3, \pi/2)`, true},
		{`\left( 3, \frac{\pi}{2} \right)`, `(\pi/2, 3)`, false},
		{`(6,31,-1)`, `(6, 31, -1)`, true},
		{`\{1\pm\sqrt{5},-2\}`, `-2, 1-\sqrt5, 1+\sqrt5`, true},
		{`1 \pm \sqrt{19}`, `1+\sqrt{19}, 1-\sqrt{19}`, true},
		{`1 \pm \sqrt{19}`, `1+\sqrt{19}`, false},
		{`-2,1`, `1, -2`, true},
		{`-2,1`, `1, 2`, false},
		{`(-\infty, 0]`, `(-\infty,0]`, true},
		{`(-\infty, 0]`, `(-\infty,0)`, false},
		{`(2,12) \cup (12,102)`, `(12,102)\cup(2,12)`, true},
		{`(2,12) \cup (12,102)`, `(2,102)`, false},
		{`\left(\frac{3}{5},\frac{8}{3}\right]`, `(0.6, 8/3]`, true},
		{`x \in [-2,7]`, `[-2,7]`, true},
		{`x \in [-2,7]`, `-2 \le x \le 7`, false}, // gold interval, predicted inequality: as Math-Verify
		{`-2 \le x \le 7`, `x \in [-2,7]`, true},
		{`x > 5`, `(5,\infty)`, true},
		{`(5,\infty)`, `x > 5`, false},
		{"101", "a+2z = 2z + a = 101", true},
		{"a+2z = 2z + a = 101", "101", false},
		{`(5,\infty)`, `x \ge 5`, false},
		// matrices
		{`\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}`, `\begin{bmatrix}-1&0\\0&-1\end{bmatrix}`, true},
		{`\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}`, `\begin{pmatrix} -\frac13 \\ \frac23 \\ \frac53 \end{pmatrix}`, true},
		{`\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}`, `\begin{pmatrix} 1 & 2 \\ 3 & 5 \end{pmatrix}`, false},
		{`\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}`, `\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}`, false},
		// equations and inequalities
		{"x=5", "5", true},
		{"5", "x=5", true},
		{"y = 2x + 3", "y=3+2x", true},
		{"y = 2x + 3", "2x - y + 3 = 0", true},
		{"y = 2x + 3", "y = 2x - 3", false},
		{"5x - 7y + 11z + 4 = 0", "-5x + 7y - 11z - 4 = 0", true},
		{"x < 1", "1 > x", true},
		{"x < 1", "-x > -1", true},
		{"x < 1", "x > 1", false},
		{`x \le 1`, "x < 1", false},
		{"7 = 11a+c", "11a+c", false},
		{"a + 3z = 0", "0", false},
		// from the Hendrycks MATH equivalence tests (order-sensitive list
		// cases excluded: lists compare as sets here, as in Math-Verify)
		{`\tfrac{1}{2} + \frac1{72}`, `\\frac{1}{2} + 2/3`, false},
		{`\tfrac{1}{2} +\! \frac1{72}`, `\\dfrac{1}{2} +\frac{1}{72}`, true},
		{`10\text{ units}`, "10 ", true},
		{`10\text{ units}`, "100 ", false},
		{"10", `\$10`, true},
		{`\left(x-2\right)\left(x+2\right)`, "(x-2)(x+2)", true},
		{"0.1, 4, 2", "4, .1, 2", true},
		{"0.1", ".1", true},
		{`10\%`, "10", true},
		{`10\sqrt{3} + \sqrt4`, `10\sqrt3 + \sqrt{4}`, true},
		{`\frac34i`, `\frac{3}{4}i`, true},
		{`\tfrac83`, `\frac{8}{3}`, true},
		{"5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", false},
		{"1/2", `\frac{1}{2}`, true},
		// from the Qwen2.5-Math grader tests
		{"x = y", "x = z", false},
		{"10%", "0.1", true},
		{"[1, 2, 3]", "[1, 2, 4]", false},
		{`-\frac{2(x^2+6)}{9(x^2-2)\sqrt[3]{x^2-2}^2}`, `-\frac{8x^2}{9(x^2-2)^{5/3}}+\frac{2}{3(x^2-2)^{2/3}}`, true},
		{"1\\,000", "1000", true},
		{`x=\pm 2`, "2, -2", true},
		{`x = 2 \text{ or } x = -3`, "-3, 2", true},
		{`x = 2 \text{ or } x = -3`, "3, -2", false},
		// plain-text and grouping forms
		{"8", "2**3", true},
		{"p=5,q=2;p=7,q=2", "(5,2),(7,2)", true},
		{"p=5,q=2;p=7,q=2", "(5,2),(2,7)", false},
		{`1\leq|z|\leq \frac{3}{2}`, `[-\frac32,-1]\cup[1,\frac32]`, true},
		{`1\leq|z|\leq \frac{3}{2}`, `[1,\frac32]`, false},
		// expressions in k, p, q
		{"2k+2", "2(k+1)", true},
		{"p - q", "-q + p", true},
		{"p - q", "q - p", false},
		{"8n^2 + 4n + 1", "4n + 8n^2 + 1", true},
	}
	for _, tc := range tests {
		if got := Equal(context.Background(), tc.gold, tc.pred); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.gold, tc.pred, got, tc.want)
		}
	}
}

func TestExtractAnswer(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`so $x = \boxed{\frac{1}{2}}$.`, `\frac{1}{2}`, true},
		{`first \boxed{1} then finally \boxed{\left( 3, \frac{\pi}{2} \right)}.`, `\left( 3, \frac{\pi}{2} \right)`, true},
		{`\fbox{42}`, "42", true},
		{`nested \boxed{\frac{a}{\sqrt{b}}} end`, `\frac{a}{\sqrt{b}}`, true},
		{`roots \boxed{-2} and \boxed{1}.`, "-2, 1", true},
		{`<think>maybe 3</think><answer>7</answer>`, "7", true},
		{`<answer> $\frac{3}{4}$ </answer>`, `\frac{3}{4}`, true},
		{"The answer is 34.", "34", true},
		{"Final Answer: The final answer is $28 \\%$. I hope it is correct.", `28 \%`, true},
		{"Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72", true},
		{"#### 1,234", "1234", true},
		{"there were 3 cats and 5 dogs", "5", true},
		{"it costs $1,000.99 now", "1000.99", true},
		{"", "", false},
		{"no numbers here at all", "", false},
	}
	for _, tc := range tests {
		got, ok := ExtractAnswer(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ExtractAnswer(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestVerifyCompletions(t *testing.T) {
	tests := []struct {
		gold, completion string
		want             bool
	}{
		{"18", "Janet has 16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.\n#### 18", true},
		{"18", "Janet makes \\boxed{20} dollars", false},
		{`\frac{14}{3}`, `$=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$`, true},
		{`3 \pm 2 \sqrt{2}`, `the roots are $x = \boxed{3 \pm 2 \sqrt{2}}.$`, true},
		{"(1,2)", "<think>the pair</think>\n<answer>(1, 2)</answer>", true},
		{"B", "The answer is (B).", true},
		{"B", "The answer is (C).", false},
		{"", `\boxed{1}`, false},
		{"The answer is 5", `\boxed{5}`, true},
		{"$2*\\pi*r$", "so that x == 1 or x == 2, thus the result is $2*\\pi*r$", true},
		{"25", "Here is the result.\nAnswer: 25", true},
		{"3", "**Final Answer**\n\n\\[\n\\boxed{3}\n\\]", true},
		{"-1", "$a_{2023} = -1$", true},
		{"C", "The correct option is \\boxed{\\text{(C)}}", true},
		{"3.14", "\\boxed{\\pi}", false},
		{"4", "The answer is 5", false},
		{"no solution", `\boxed{\text{No solution}}`, true},
		{"no solution", `\boxed{5}`, false},
	}
	for _, tc := range tests {
		if got := Verify(context.Background(), tc.gold, tc.completion); got != tc.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", tc.gold, tc.completion, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	same := [][2]string{
		{`\frac{1}{2}`, "0.5"},
		{"x+1", "1+x"},
		{`\boxed{}`, `\boxed{}`},
		{"(1,2)", `\left(1, 2\right)`},
		{"1,2", "2,1"},
	}
	for _, p := range same {
		if Key(p[0]) != Key(p[1]) {
			t.Errorf("Key(%q)=%q != Key(%q)=%q", p[0], Key(p[0]), p[1], Key(p[1]))
		}
	}
	diff := [][2]string{{"1", "2"}, {"(1,2)", "(2,1)"}, {"x+1", "x-1"}, {`\text{A}`, `\text{B}`}}
	for _, p := range diff {
		if Key(p[0]) == Key(p[1]) {
			t.Errorf("Key(%q) == Key(%q) = %q", p[0], p[1], Key(p[0]))
		}
	}
}

// TestBounded checks that hostile inputs finish quickly with an answer
// instead of hanging or panicking.
func TestBounded(t *testing.T) {
	huge := []string{
		`10^{10^{10}}`,
		`2^{2^{2^{2^{2^{2}}}}}`,
		`(((((((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))))`,
		strings.Repeat(`\frac{1}{`, 500) + "2" + strings.Repeat("}", 500),
		strings.Repeat("x+", 3000) + "1",
		strings.Repeat(`\sqrt{`, 300) + "2" + strings.Repeat("}", 300),
		strings.Repeat("(", 10000),
		strings.Repeat(`\pm 1`, 50),
		`9999999999999999999999!`,
		strings.Repeat(`\begin{pmatrix}1&1\\1&1\end{pmatrix}`, 40),
		strings.Repeat(`\begin{pmatrix}x&1\\1&x\end{pmatrix}+`, 40) + "1",
		strings.Repeat(`(x+1)`, 300),
		strings.Repeat(`\sin(`, 150) + "x" + strings.Repeat(")", 150),
		strings.Repeat(`\boxed{1} no `, 20000),
		strings.Repeat(`\( \[ $$ `, 30000),
		strings.Repeat("the answer is ", 20000),
		strings.Repeat("$x$ ", 30000) + "#### 5",
		strings.Repeat("{", 100000),
		strings.Repeat("1,", 2000) + "1",
		`\begin{pmatrix}` + strings.Repeat("1 & ", 500) + `1\end{pmatrix}^{100}`,
	}
	for _, h := range huge {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		_ = Verify(ctx, h, h+"+1")
		_ = Equal(ctx, h, "1")
		_ = Key(h)
		cancel()
		if d := time.Since(start); d > 3*time.Second || testing.Verbose() {
			t.Logf("input %.40q took %v", h, d)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("input %.40q took %v", h, d)
		}
	}
	// A cancelled context gives false, not a guess.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Equal(ctx, "1", "1") {
		t.Error("Equal with a cancelled context returned true")
	}
}

func TestCluster(t *testing.T) {
	tests := []struct {
		answers []string
		want    []int
	}{
		{[]string{`\frac12`, "0.5", "1/2", "2", `\frac{4}{2}`, "x"}, []int{0, 0, 0, 1, 1, 2}},
		{[]string{"x+1", "1+x", `(x+1)`, "x-1"}, []int{0, 0, 0, 1}},
		{[]string{`\sin^2 x + \cos^2 x`, "1", "2"}, []int{0, 0, 1}},
		{nil, []int{}},
	}
	for _, tc := range tests {
		got := Cluster(context.Background(), tc.answers)
		if len(got) != len(tc.want) {
			t.Fatalf("Cluster(%q) = %v, want %v", tc.answers, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("Cluster(%q) = %v, want %v", tc.answers, got, tc.want)
				break
			}
		}
	}
}

// TestConcurrentUse checks that Verify gives the same answers when called
// from many goroutines at once (the reward scorer does this); run it with
// -race to check for shared state.
func TestConcurrentUse(t *testing.T) {
	pairs := [][2]string{
		{`\frac12`, `\boxed{0.5}`}, {"x > 5", "$5 < x$"}, {"(1,2)", `\boxed{(2,1)}`},
		{`\begin{pmatrix}1\\2\end{pmatrix}`, `\boxed{\begin{pmatrix}1\\2\end{pmatrix}}`}, {"72", "#### 72"},
	}
	want := make([]bool, len(pairs))
	for i, p := range pairs {
		want[i] = Verify(context.Background(), p[0], p[1])
	}
	errs := make(chan string, 64)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for k := 0; k < 50; k++ {
				i := (g + k) % len(pairs)
				if got := Verify(context.Background(), pairs[i][0], pairs[i][1]); got != want[i] {
					errs <- pairs[i][0]
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Errorf("concurrent Verify disagreed for gold %q", e)
	}
}
