package testmodel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Metrics returns a run directory's metrics.jsonl records as canonical
// JSON, without the wall-clock fields (time, tokens_per_s): what an exact
// resume must reproduce record for record.
func Metrics(dir string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	var recs []string
	for i, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", filepath.Join(dir, "metrics.jsonl"), i+1, err)
		}
		delete(m, "time")
		delete(m, "tokens_per_s")
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		recs = append(recs, string(b))
	}
	return recs, nil
}
