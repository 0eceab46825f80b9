package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every training command can serve the live dashboard of its run.
func TestTrainingCommandsTakeDashboard(t *testing.T) {
	for _, args := range [][]string{{"grpo"}, {"zero"}, {"ppo"}, {"sft"}, {"rm", "train"}, {"dpo"}, {"pipeline"}} {
		_, stderr, code := runCLI(t, "", append(args, "-h")...)
		if code != 0 || !strings.Contains(stderr, "-dashboard") {
			t.Errorf("r1 %s -h: exit %d, no --dashboard in:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}

// serveDashboard serves the runs under its directory and says where.
func TestServeDashboard(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "cold_start"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cold_start", "metrics.jsonl"), []byte(`{"step":1,"loss":0.5}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	stop, err := serveDashboard("", root, &out)
	if err != nil || out.Len() != 0 {
		t.Fatalf("no address: err %v, printed %q", err, out.String())
	}
	stop()
	stop, err = serveDashboard("127.0.0.1:0", root, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	url, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "dashboard: ")
	if !ok {
		t.Fatalf("printed %q", out.String())
	}
	resp, err := http.Get(url + "api/runs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var runs any
	if err := json.NewDecoder(resp.Body).Decode(&runs); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(runs); !strings.Contains(string(b), "cold_start") {
		t.Errorf("/api/runs = %s, want the cold_start run", b)
	}
}
