package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
)

// Mix draws the general rows to add beside kept reasoning rows, as R1 added
// non-reasoning data (chat without a chain of thought) to its stage-3 SFT
// set: round(ratio × kept) rows of general, drawn without replacement in
// an order fixed by seed, each marked "kind": "general". Rows must be SFT
// rows (messages, prompt/completion or text); too few is an error.
func Mix(general []map[string]json.RawMessage, name string, kept int, ratio float64, seed uint64) ([]map[string]json.RawMessage, error) {
	if !(ratio >= 0) || math.IsInf(ratio, 0) {
		return nil, fmt.Errorf("mix ratio %v: expected a number ≥ 0 (general rows per reasoning row)", ratio)
	}
	want := int(math.Round(ratio * float64(kept)))
	if want > len(general) {
		return nil, fmt.Errorf("%s: mix ratio %v × %d kept rows needs %d general rows, but the file has %d", name, ratio, kept, want, len(general))
	}
	for i, r := range general {
		if r["messages"] == nil && r["completion"] == nil && r["text"] == nil {
			return nil, fmt.Errorf(`%s:%d: a general row needs "messages", "prompt"/"completion" or "text" (an SFT row)`, name, i+1)
		}
	}
	order := rand.New(rand.NewPCG(seed, 0x6d6978)).Perm(len(general))
	out := make([]map[string]json.RawMessage, 0, want)
	for _, i := range order[:want] {
		row := make(map[string]json.RawMessage, len(general[i])+1)
		for k, v := range general[i] {
			row[k] = v
		}
		row["kind"] = json.RawMessage(`"general"`)
		out = append(out, row)
	}
	return out, nil
}
