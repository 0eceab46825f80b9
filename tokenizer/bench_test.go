package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	benchOnce sync.Once
	benchBody string
)

// benchText is ≥ 3 MB of real text: GSM8K train (questions and worked
// answers), MATH-500 (LaTeX), MBPP (Python) and the generated multilingual
// corpus, so that numbers reflect English, math, code and Unicode.
func benchText(b *testing.B) string {
	dir := sharedData(b)
	benchOnce.Do(func() {
		var sb strings.Builder
		add := func(file string, fields ...string) {
			f, err := os.Open(filepath.Join(dir, file))
			if err != nil {
				return
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<24)
			for sc.Scan() {
				var rec map[string]any
				if json.Unmarshal(sc.Bytes(), &rec) != nil {
					continue
				}
				for _, k := range fields {
					if s, ok := rec[k].(string); ok {
						sb.WriteString(s)
						sb.WriteString("\n\n")
					}
				}
			}
		}
		add("gsm8k/train.jsonl", "question", "answer")
		add("math500/test.jsonl", "problem", "solution")
		add("code/mbpp.jsonl", "text", "code")
		for _, s := range corpus(4000, 99, []string{"<|im_start|>"}) {
			sb.WriteString(s)
			sb.WriteString("\n")
		}
		benchBody = sb.String()
	})
	if len(benchBody) < 3_000_000 {
		b.Skipf("benchmark text is only %d bytes", len(benchBody))
	}
	return benchBody
}

// benchChunk is the size of the pieces batched encoding is given; both r1
// and Hugging Face get the same pieces: whole lines, cut after the first
// line that reaches the size.
const benchChunk = 64 << 10

func chunks(s string, size int) []string {
	var out []string
	for len(s) > 0 {
		n := min(size, len(s))
		if n < len(s) {
			if j := strings.IndexByte(s[n-1:], '\n'); j >= 0 {
				n += j
			} else {
				n = len(s)
			}
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"qwen3", "llama3", "deepseek_v3"} {
		tk := sharedTokenizer(b, name)
		text := benchText(b)
		b.Run(name+"/single", func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tk.Encode(text, false)
			}
		})
		b.Run(name+"/batch", func(b *testing.B) {
			parts := chunks(text, benchChunk)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tk.EncodeBatch(parts, false)
			}
		})
	}
}

// hfResult caches one Node measurement per tokenizer, because the
// benchmark framework calls a benchmark more than once.
var hfResult = map[string][2]float64{}

// BenchmarkHF runs Hugging Face's Rust tokenizer through Node on the same
// text as BenchmarkEncode, once per tokenizer (best of 2 runs inside Node),
// and reports its MB/s as hf-single-MB/s and hf-batch-MB/s. The ns/op of
// this benchmark is meaningless.
func BenchmarkHF(b *testing.B) {
	hfAvailable(b)
	text := benchText(b)
	file := filepath.Join(b.TempDir(), "bench.txt")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"qwen3", "llama3", "deepseek_v3"} {
		tk := sharedTokenizer(b, name)
		b.Run(name, func(b *testing.B) {
			r, ok := hfResult[name]
			if !ok {
				abs, _ := filepath.Abs(tk.path)
				cmd := exec.Command("node", "hf.js", "bench", abs, file, "2", fmt.Sprint(benchChunk))
				cmd.Dir = hfDir
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("node hf.js bench: %v", err)
				}
				var res struct {
					Bytes  int     `json:"bytes"`
					Tokens int     `json:"tokens"`
					Single float64 `json:"single_mb_s"`
					Batch  float64 `json:"batch_mb_s"`
				}
				if err := json.Unmarshal(out, &res); err != nil {
					b.Fatalf("node output %q: %v", out, err)
				}
				if res.Bytes != len(text) {
					b.Fatalf("node read %d bytes, want %d", res.Bytes, len(text))
				}
				if ours := len(tk.Encode(text, false)); ours != res.Tokens {
					b.Errorf("token count differs on the benchmark text: r1 %d, hf %d", ours, res.Tokens)
				}
				r = [2]float64{res.Single, res.Batch}
				hfResult[name] = r
			}
			b.ReportMetric(r[0], "hf-single-MB/s")
			b.ReportMetric(r[1], "hf-batch-MB/s")
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	dir := filepath.Join(sharedData(b), "tokenizers", "qwen3")
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
