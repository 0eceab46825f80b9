package grpo

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/tensor"
)

// stepMetrics runs n trainer steps on dev and returns each step's metrics
// without the timing ones; after each step it calls check.
func stepMetrics(t *testing.T, c Config, dev tensor.Backend, n int, check func(step int)) []map[string]float64 {
	t.Helper()
	tr, err := New(c, dev)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]float64
	for i := 0; i < n; i++ {
		m, err := tr.Step(context.Background())
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		for k := range m {
			if strings.HasPrefix(k, "time/") || k == "tokens_per_s" {
				delete(m, k)
			}
		}
		out = append(out, m)
		if check != nil {
			check(i + 1)
		}
	}
	return out
}

// A GRPO step (rollouts, reference and old-policy log-probs, μ = 2 updates,
// AdamW) leaves device memory where the previous step left it: after step 1
// has created the lasting state (gradients), steps 2 and 3 add nothing. The
// metrics equal those of an unchecked run, so no tensor was read after
// being freed (it would have been poisoned to NaN).
func TestStepMemoryIsFlat(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, modelDir, writeData(t, dir), filepath.Join(dir, "run"))
	want := stepMetrics(t, c, cpu.New(), 3, nil)

	mc := memcheck.Wrap(cpu.New())
	var after1 memcheck.Stats
	var mark memcheck.Mark
	got := stepMetrics(t, c, mc, 3, func(step int) {
		st := mc.Stats()
		if step == 1 {
			after1, mark = st, mc.Mark()
			return
		}
		if st.Live != after1.Live || st.LiveBytes != after1.LiveBytes {
			t.Fatalf("after step %d: %d tensors / %d B live, after step 1: %d / %d; new since step 1:\n%q",
				step, st.Live, st.LiveBytes, after1.Live, after1.LiveBytes, mc.Since(mark))
		}
	})
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
	if st := mc.Stats(); st.PeakBytes <= st.LiveBytes || st.Frees == 0 {
		t.Fatalf("stats %+v: the steps' temporaries were not counted", st)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("step %d: %d metrics through memcheck, %d without", i+1, len(got[i]), len(want[i]))
		}
		for k, w := range want[i] {
			if g := got[i][k]; g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
				t.Fatalf("step %d %s = %v through memcheck, %v without", i+1, k, g, w)
			}
		}
	}
	if want[2]["grad_norm"] == 0 {
		t.Fatal("no gradient flowed: the test would not see a freed gradient")
	}
}
