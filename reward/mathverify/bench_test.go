package mathverify

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// benchPairs mixes GSM8K (#### n) and MATH-500 (\boxed{} in a solution)
// gold/completion pairs.
func benchPairs(b *testing.B) [][2]string {
	dir := dataDir(b)
	var pairs [][2]string
	for _, r := range readJSONL(b, filepath.Join(dir, "math500", "test.jsonl")) {
		g, _ := r["answer"].(string)
		s, _ := r["solution"].(string)
		// A short completion tail, as a model would end its answer.
		if len(s) > 400 {
			s = s[len(s)-400:]
		}
		pairs = append(pairs, [2]string{g, s})
	}
	for i, r := range readJSONL(b, filepath.Join(dir, "gsm8k", "test.jsonl")) {
		if i >= 500 {
			break
		}
		a, _ := r["answer"].(string)
		g := strings.TrimSpace(a[strings.LastIndex(a, "####")+4:])
		pairs = append(pairs, [2]string{g, a})
	}
	return pairs
}

// BenchmarkVerify reports whole checks (extraction + parse + compare) per
// second over a GSM8K/MATH-500 mix.
func BenchmarkVerify(b *testing.B) {
	pairs := benchPairs(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pairs[i%len(pairs)]
		Verify(ctx, p[0], p[1])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkVerifyParallel is BenchmarkVerify on all cores (the reward
// scores a batch concurrently).
func BenchmarkVerifyParallel(b *testing.B) {
	pairs := benchPairs(b)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p := pairs[i%len(pairs)]
			Verify(ctx, p[0], p[1])
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkEqual measures comparing already-extracted answers.
func BenchmarkEqual(b *testing.B) {
	pairs := benchPairs(b)
	ans := make([][2]string, len(pairs))
	for i, p := range pairs {
		a, _ := ExtractAnswer(p[1])
		ans[i] = [2]string{p[0], a}
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := ans[i%len(ans)]
		Equal(ctx, p[0], p[1])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

func ExampleVerify() {
	fmt.Println(Verify(context.Background(), `\frac{1}{2}`, `so $x = \boxed{0.5}$`))
	fmt.Println(Verify(context.Background(), "72", "48 + 24 = 72\n#### 72"))
	fmt.Println(Verify(context.Background(), `(3, \frac{\pi}{2})`, `\boxed{(\pi/2, 3)}`))
	// Output:
	// true
	// true
	// false
}
