package tokenizer

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	arrays := []string{
		`[]`, ` [ ] `, `["a"]`, `["Ġ t", "a b"]`, "[\n  \"x y\",\n  \"\\u0120 \\u00e9\"\n]",
		`["\"q\" \\", "\/ \ud83d\ude00"]`, `["a",]`, `["a" "b"]`, `[1]`, `["a"] x`, `["\x"]`, "[\"\x01\"]", `["abc`,
		"[\"\xff\"]",
	}
	for _, in := range arrays {
		want := []string(nil)
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := fastStringArray([]byte(in))
		if err != nil {
			// The caller falls back to encoding/json; only agreement on
			// accepted input matters.
			continue
		}
		if wantErr != nil {
			t.Errorf("fastStringArray(%q) accepted input encoding/json rejects (%v)", in, wantErr)
		} else if !slices.Equal(got, want) {
			t.Errorf("fastStringArray(%q) = %q, want %q", in, got, want)
		}
	}
	objects := []string{
		`{}`, `{"a": 1, "b":2}`, "{\n \"\\u0120the\": 279,\n \"x\": 0\n}", `{"a": 1, "a": 2}`, `{"a": -3}`,
		`{"a": 1.5}`, `{"a": 1e3}`, `{"a": "1"}`, `{"a" 1}`, `{"a": 1,}`, `{"a": 1} {}`, `{"\u00e9\"": 7}`,
	}
	for _, in := range objects {
		var want map[string]int
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := fastStringIntObject([]byte(in))
		if err != nil {
			continue
		}
		if wantErr != nil {
			t.Errorf("fastStringIntObject(%q) accepted input encoding/json rejects (%v)", in, wantErr)
		} else if !maps.Equal(got, want) {
			t.Errorf("fastStringIntObject(%q) = %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{`["a b", "c d"]`, `[["a","b"],["Ġ", "Ġ"]]`, `["a b", ["c", "d"]]`, `[]`, `["ab"]`, `[["a"]]`, `[["a","b","c"]]`, `["a b c"]`, `[["a", 1]]`} {
		got, err := fastMerges([]byte(in))
		want, wantErr := parseMerges(json.RawMessage(in))
		if err != nil {
			continue
		}
		if wantErr != nil || !slices.Equal(got, want) {
			t.Errorf("fastMerges(%q) = %q, parseMerges gives %q, %v", in, got, want, wantErr)
		}
	}
	// The fast path must actually take the common shapes.
	if _, err := fastMerges([]byte(`[["Ġ", "t"], ["a", "b"]]`)); err != nil {
		t.Errorf("fast path refused a pair merges list: %v", err)
	}
	if _, err := fastStringArray([]byte(`["Ġ t", "\u00e9 x"]`)); err != nil {
		t.Errorf("fast path refused a plain merges list: %v", err)
	}
	if _, err := fastStringIntObject([]byte(`{"Ġthe": 279, "\"": 1}`)); err != nil {
		t.Errorf("fast path refused a plain vocabulary: %v", err)
	}
}
