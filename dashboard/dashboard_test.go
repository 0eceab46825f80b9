package dashboard

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyRuns copies the fixture runs to a temporary directory the test may
// append to.
func copyRuns(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk("testdata/runs", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/runs", path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

func TestAPI(t *testing.T) {
	root := copyRuns(t)
	hs := httptest.NewServer(New(root))
	defer hs.Close()

	var runs []string
	getJSON(t, hs.URL+"/api/runs", &runs)
	if strings.Join(runs, ",") != "zero-a,zero-b" {
		t.Fatalf("runs %v", runs)
	}
	var smp struct {
		Steps   []int            `json:"steps"`
		Step    int              `json:"step"`
		Samples []map[string]any `json:"samples"`
	}
	getJSON(t, hs.URL+"/api/samples?run=zero-a", &smp)
	if len(smp.Steps) != 2 || smp.Step != 20 || len(smp.Samples) != 2 || smp.Samples[0]["step"].(float64) != 20 {
		t.Fatalf("latest samples: %+v", smp)
	}
	getJSON(t, hs.URL+"/api/samples?run=zero-a&step=10", &smp)
	if smp.Step != 10 || len(smp.Samples) != 2 {
		t.Fatalf("step 10: %+v", smp)
	}
	var ev map[string]map[string]any
	getJSON(t, hs.URL+"/api/evals?run=zero-a", &ev)
	if ev["summary.json"]["after"] == nil {
		t.Fatalf("evals: %v", ev)
	}
	var e map[string]string
	for _, bad := range []string{"../x", "/etc", "..", "nope"} {
		if code := getJSON(t, hs.URL+"/api/samples?run="+bad, &e); code != 404 || e["error"] == "" {
			t.Fatalf("run %q: %d %v", bad, code, e)
		}
	}
	resp, err := http.Get(hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<script src="app.js">`) {
		t.Fatalf("index page: %s", page)
	}
}

// The event stream sends every existing metric line, then "ready", then
// lines appended later — but not a half-written line until it is whole —
// and runs that appear later.
func TestEventsFollowAppends(t *testing.T) {
	root := copyRuns(t)
	s := New(root)
	s.Poll = 10 * time.Millisecond
	hs := httptest.NewServer(s)
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	next := func() (string, map[string]any) {
		var event string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				var d map[string]any
				if err := json.Unmarshal([]byte(v), &d); err != nil {
					t.Fatal(err)
				}
				return event, d
			}
		}
	}
	counts := map[string]int{}
	for {
		ev, d := next()
		if ev == "ready" {
			break
		}
		if ev == "metric" {
			counts[d["run"].(string)]++
		}
	}
	if counts["zero-a"] != 20 || counts["zero-b"] != 20 {
		t.Fatalf("initial lines: %v", counts)
	}
	f, err := os.OpenFile(filepath.Join(root, "zero-a", "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step": 21, "accuracy": 0.9`) // half a line: not sent yet
	time.Sleep(5 * s.Poll)
	f.WriteString("}\n")
	f.Close()
	ev, d := next()
	row, _ := d["row"].(map[string]any)
	if ev != "metric" || d["run"] != "zero-a" || row["step"].(float64) != 21 || row["accuracy"].(float64) != 0.9 {
		t.Fatalf("after the append: %s %v", ev, d)
	}
	os.MkdirAll(filepath.Join(root, "zero-c"), 0o755)
	os.WriteFile(filepath.Join(root, "zero-c", "metrics.jsonl"), []byte(`{"step": 1, "loss": 2}`+"\n"), 0o644)
	if ev, d := next(); ev != "run" || d["run"] != "zero-c" {
		t.Fatalf("new run: %s %v", ev, d)
	}
	if ev, d := next(); ev != "metric" || d["run"] != "zero-c" {
		t.Fatalf("new run's line: %s %v", ev, d)
	}
}
