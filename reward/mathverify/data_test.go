package mathverify

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dataDir is /work/shared/data relative to this package; tests skip
// without it.
func dataDir(t testing.TB) string {
	d := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared data not found at %s", d)
	}
	return d
}

func readJSONL(t testing.TB, path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s line %d: %v", path, line, err)
		}
		rows = append(rows, m)
	}
	return rows
}

// TestDatasetSelfCheck verifies every gold answer against itself and
// against the reference solution text; both must agree in at least 99% of
// rows.
func TestDatasetSelfCheck(t *testing.T) {
	dir := dataDir(t)
	type pair struct{ gold, pred string }
	sets := map[string][]pair{}
	math500 := readJSONL(t, filepath.Join(dir, "math500", "test.jsonl"))
	for _, r := range math500 {
		g, _ := r["answer"].(string)
		s, _ := r["solution"].(string)
		sets["math500/self"] = append(sets["math500/self"], pair{g, g})
		sets["math500/solution"] = append(sets["math500/solution"], pair{g, s})
	}
	// Near misses: a gold answer against other problems' solutions must
	// almost never verify (a few golds are genuinely equivalent, e.g.
	// "x=5" and "5").
	var cross []pair
	for i, r := range math500 {
		for d := 1; d <= 3; d++ {
			o := math500[(i+d*37)%len(math500)]
			if o["answer"] != r["answer"] {
				cross = append(cross, pair{r["answer"].(string), o["solution"].(string)})
			}
		}
	}
	wrong := 0
	for _, p := range cross {
		if Verify(context.Background(), p.gold, p.pred) {
			wrong++
			t.Logf("math500/cross: %q verified against a solution with a different answer", p.gold)
		}
	}
	t.Logf("math500/cross: %d/%d false matches", wrong, len(cross))
	if wrong*100 > len(cross) {
		t.Errorf("math500/cross: %d/%d false matches, want <= 1%%", wrong, len(cross))
	}
	for _, r := range readJSONL(t, filepath.Join(dir, "gsm8k", "test.jsonl")) {
		a, _ := r["answer"].(string)
		i := strings.LastIndex(a, "####")
		if i < 0 {
			t.Fatalf("gsm8k/test.jsonl: answer without ####: %q", a)
		}
		g := strings.TrimSpace(a[i+4:])
		sets["gsm8k/self"] = append(sets["gsm8k/self"], pair{g, g})
		sets["gsm8k/solution"] = append(sets["gsm8k/solution"], pair{g, a})
	}
	for _, name := range []string{"aime24", "amc23"} {
		for _, r := range readJSONL(t, filepath.Join(dir, "competition_math", name+".jsonl")) {
			g := fmt.Sprint(r["answer"])
			sets[name+"/self"] = append(sets[name+"/self"], pair{g, g})
			sets[name+"/boxed"] = append(sets[name+"/boxed"], pair{g, `so the answer is $\boxed{` + g + `}$.`})
		}
	}
	for name, ps := range sets {
		bad := 0
		for _, p := range ps {
			if !Verify(context.Background(), p.gold, p.pred) {
				bad++
				if os.Getenv("MV_SHOW") != "" {
					x, _ := ExtractAnswer(p.pred)
					t.Logf("%s: gold %q, extracted %q", name, p.gold, x)
				}
			}
		}
		rate := float64(len(ps)-bad) / float64(len(ps))
		t.Logf("%s: %d/%d equal (%.2f%%)", name, len(ps)-bad, len(ps), 100*rate)
		if rate < 0.99 {
			t.Errorf("%s: only %.2f%% of gold answers verify, want >= 99%%", name, 100*rate)
		}
	}
}
