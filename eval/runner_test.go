package eval

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/data"
)

// fakeGen answers each prompt with the completions listed for the first
// key the prompt contains, counting the prompts it was asked for.
type fakeGen struct {
	answers map[string][]string
	calls   int
	prompts int
	failAt  int // fail the call with this 1-based number (0: never)
	cancel  func()
}

func (f *fakeGen) Generate(ctx context.Context, prompts []string, n int, onSample func()) ([][]Completion, error) {
	f.calls++
	if f.calls == f.failAt {
		if f.cancel != nil {
			f.cancel() // as Ctrl-C would
			return nil, ctx.Err()
		}
		return nil, errors.New("generator broke")
	}
	out := make([][]Completion, len(prompts))
	for i, p := range prompts {
		f.prompts++
		for key, list := range f.answers {
			if strings.Contains(p, key) {
				for j := 0; j < n; j++ {
					out[i] = append(out[i], Completion{Text: list[j%len(list)], FinishReason: "stop", Tokens: 5})
					if onSample != nil {
						onSample()
					}
				}
			}
		}
	}
	return out, nil
}

func fixtureBench(t *testing.T) *data.Dataset {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.jsonl")
	body := `{"problem": "What is 1+1?", "answer": "2"}` + "\n" + `{"problem": "What is 2+3?", "answer": 5}` + "\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := data.Open(p, "", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureGen() *fakeGen {
	return &fakeGen{answers: map[string][]string{
		// 2 of 4 right; the first two answers tie 2–3 and the earlier (2) wins.
		"1+1": {`\boxed{2}`, `\boxed{3}`, `\boxed{2}`, `no idea`},
		// 2 of 4 right; the first two agree on the wrong 4.
		"2+3": {`\boxed{4}`, `\boxed{4}`, `\boxed{5}`, `\boxed{5.0}`},
	}}
}

func fixtureConfig(out string) Config {
	return Config{Settings: Settings{Model: "fake", Prompt: "plain", K: 2, Samples: 4, Temperature: 0.6, TopP: 0.95, MaxNewTokens: 16},
		Out: out, Chunk: 1}
}

func checkFixtureResults(t *testing.T, res *Results) {
	t.Helper()
	b, ok := res.Benchmarks["tiny"]
	if !ok {
		t.Fatalf("results lack benchmark tiny: %+v", res)
	}
	// Per problem: pass@1 = 2/4, pass@2 = 1 - C(2,2)/C(4,2) = 5/6; cons@2 = 1 then 0.
	if b.N != 2 || b.K != 2 || b.Samples != 4 || math.Abs(b.PassAt1-0.5) > 1e-12 || math.Abs(b.PassAtK-5.0/6) > 1e-12 ||
		math.Abs(b.ConsAtK-0.5) > 1e-12 || b.MeanTokens != 5 {
		t.Fatalf("tiny = %+v", b)
	}
}

func TestRunAndResume(t *testing.T) {
	out := t.TempDir()
	ctx := context.Background()
	g := fixtureGen()
	res, err := Run(ctx, fixtureConfig(out), g, []*data.Dataset{fixtureBench(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkFixtureResults(t, res)
	if g.prompts != 2 {
		t.Fatalf("generated %d prompts, want 2", g.prompts)
	}

	// results.json carries the names scripts rely on.
	js, err := os.ReadFile(filepath.Join(out, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	bm, _ := raw["benchmarks"].(map[string]any)
	tiny, _ := bm["tiny"].(map[string]any)
	for _, k := range []string{"n", "k", "pass@1", "pass@k", "cons@k"} {
		if _, ok := tiny[k]; !ok {
			t.Errorf("results.json benchmarks.tiny lacks %q: %s", k, js)
		}
	}
	if raw["model"] != "fake" || raw["settings"] == nil {
		t.Errorf("results.json lacks model or settings: %s", js)
	}
	recs, err := ReadRecords(filepath.Join(out, SamplesFile))
	if err != nil || len(recs) != 2 || len(recs[0].Samples) != 4 || recs[0].Samples[0].Answer != "2" || !recs[0].Samples[0].Correct {
		t.Fatalf("samples.jsonl: %v, %+v", err, recs)
	}
	if md, err := os.ReadFile(filepath.Join(out, ReportFile)); err != nil || !strings.Contains(string(md), "| tiny | 2 | 50.0 | 83.3 | 50.0 |") {
		t.Fatalf("report.md: %v\n%s", err, md)
	}

	// A second run finds everything cached.
	g2 := fixtureGen()
	res, err = Run(ctx, fixtureConfig(out), g2, []*data.Dataset{fixtureBench(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkFixtureResults(t, res)
	if g2.calls != 0 {
		t.Fatalf("resumed run generated %d times, want 0", g2.calls)
	}

	// Other settings are refused, then accepted with Fresh.
	cfg := fixtureConfig(out)
	cfg.Settings.Temperature = 1
	if _, err := Run(ctx, cfg, fixtureGen(), []*data.Dataset{fixtureBench(t)}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("run with other settings: %v, want a refusal", err)
	}
	cfg.Fresh = true
	g3 := fixtureGen()
	if _, err := Run(ctx, cfg, g3, []*data.Dataset{fixtureBench(t)}); err != nil || g3.prompts != 2 {
		t.Fatalf("fresh run: %v, %d prompts", err, g3.prompts)
	}
}

func TestRunInterruptedResumes(t *testing.T) {
	out := t.TempDir()
	ctx := context.Background()
	g := fixtureGen()
	g.failAt = 2 // the second chunk (problem 2) is interrupted
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.cancel = cancel
	if _, err := Run(cctx, fixtureConfig(out), g, []*data.Dataset{fixtureBench(t)}); !errors.Is(err, context.Canceled) ||
		!strings.Contains(err.Error(), "1 problems are saved") {
		t.Fatalf("interrupted run: %v, want context.Canceled and how much was saved", err)
	}
	// Simulate a kill in the middle of the next append: a torn last line.
	f, err := os.OpenFile(filepath.Join(out, SamplesFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"bench":"tiny","index":1,"sett`)
	f.Close()

	g2 := fixtureGen()
	res, err := Run(ctx, fixtureConfig(out), g2, []*data.Dataset{fixtureBench(t)})
	if err != nil {
		t.Fatal(err)
	}
	if g2.prompts != 1 {
		t.Fatalf("resumed run generated %d prompts, want 1 (the unfinished problem)", g2.prompts)
	}
	checkFixtureResults(t, res)
	recs, err := ReadRecords(filepath.Join(out, SamplesFile))
	if err != nil || len(recs) != 2 {
		t.Fatalf("samples.jsonl after resume: %v, %d records", err, len(recs))
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	b := fixtureBench(t)
	tests := []struct {
		name string
		mod  func(*Config)
		gen  Generator
		want string
	}{
		{"k=0", func(c *Config) { c.Settings.K = 0 }, fixtureGen(), "k = 0"},
		{"samples<k", func(c *Config) { c.Settings.Samples = 1 }, fixtureGen(), "samples = 1"},
		{"chat without template", func(c *Config) { c.Settings.Prompt = "chat" }, fixtureGen(), "chat template"},
		{"short generator", func(c *Config) {}, &fakeGen{answers: map[string][]string{"1+1": {"x"}}}, "returned 0 samples"},
		{"broken generator", func(c *Config) {}, &fakeGen{failAt: 1}, "generator broke"},
	}
	for _, tt := range tests {
		cfg := fixtureConfig(t.TempDir())
		tt.mod(&cfg)
		if _, err := Run(ctx, cfg, tt.gen, []*data.Dataset{b}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Run = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	// A corrupt line in the middle of the cache is reported, not skipped.
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, SamplesFile), []byte("garbage\n{}\n"), 0o644)
	if _, err := Run(ctx, fixtureConfig(out), fixtureGen(), []*data.Dataset{b}); err == nil || !strings.Contains(err.Error(), SamplesFile+":1") {
		t.Errorf("corrupt cache: %v", err)
	}
}

// A non-default KV cache dtype changes the samples, so it changes the
// settings hash (no resuming across it); the default leaves the settings,
// and so the hash of every earlier run, as they were.
func TestSettingsHashKVCacheDType(t *testing.T) {
	s := Settings{Model: "m", Prompt: "r1-zero", K: 1, Samples: 1, Temperature: 0.6, TopP: 0.95, MaxNewTokens: 64, Seed: 1}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), "kv_cache_dtype") {
		t.Fatalf("default settings serialise the KV cache dtype: %s", b)
	}
	bf := s
	bf.KVCacheDType = "bf16"
	if bf.Hash() == s.Hash() {
		t.Fatal("a bf16 KV cache does not change the settings hash")
	}
}
