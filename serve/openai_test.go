package serve

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
)

// The official openai npm client (serve/testdata/openai, installed by
// scripts/test.sh) talks to the server: models, chat completions streamed
// and not with n > 1, reasoning_content split on </think>, stop strings,
// usage, and errors as its typed exceptions. Skips when node or the
// package is absent.
func TestOpenAINodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := filepath.Join("testdata", "openai")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		t.Skip("the openai npm package is not installed (scripts/test.sh installs it: cd serve/testdata/openai && npm install)")
	}
	_, url := startServer(t, tinyOptions(t, cpu.New()))
	cmd := exec.Command(node, "client.js", url+"/v1")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.js: %v\n%s\n%s", err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var res struct {
		OK              bool   `json:"ok"`
		Split           int    `json:"split"`
		ReasoningTokens int    `json:"reasoning_tokens"`
		StopText        string `json:"stop_text"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || !res.OK || res.Split == 0 || res.ReasoningTokens == 0 {
		t.Fatalf("client summary: %v %s", err, out)
	}
	t.Logf("openai client: %s", lines[len(lines)-1])
}
