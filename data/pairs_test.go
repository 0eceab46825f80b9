package data

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
)

const testChatML = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

func chatMLTemplate(t *testing.T) *chat.Template {
	t.Helper()
	tm, err := chat.Parse("chatml", testChatML)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParsePairFormats(t *testing.T) {
	tm := chatMLTemplate(t)
	u := func(s string) string { return "<|im_start|>user\n" + s + "<|im_end|>\n<|im_start|>assistant\n" }
	a := func(s string) string { return s + "<|im_end|>\n" }
	cases := []struct {
		name, row        string
		tmpl             *chat.Template
		prompt, cho, rej string
		margin           float64
	}{
		{"text", `{"chosen": "good", "rejected": "bad"}`, tm, "", "good", "bad", 0},
		{"text prompt", `{"prompt": "Q: 1+1?", "chosen": " 2", "rejected": " 3", "margin": 1.5}`, nil, "Q: 1+1?", " 2", " 3", 1.5},
		// Text stays text (TRL's standard format) even when there is a template.
		{"text prompt, template", `{"prompt": "1+1?", "chosen": "2", "rejected": "3"}`, tm, "1+1?", "2", "3", 0},
		{"text prompt, message responses", `{"prompt": "1+1?", "chosen": [{"role":"assistant","content":"2"}], "rejected": "3"}`, tm, u("1+1?"), a("2"), a("3"), 0},
		{"implicit prompt messages", `{"chosen": [{"role":"user","content":"hi"},{"role":"assistant","content":"hello!"}],
			"rejected": [{"role":"user","content":"hi"},{"role":"assistant","content":"go away"}]}`, tm, u("hi"), a("hello!"), a("go away"), 0},
		{"explicit prompt messages", `{"prompt": [{"role":"user","content":"hi"}], "chosen": [{"role":"assistant","content":"hello!"}],
			"rejected": {"role":"assistant","content":"no"}}`, tm, u("hi"), a("hello!"), a("no"), 0},
		{"hh-rlhf, template", `{"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: joke?\n\nAssistant: a pun", "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: joke?\n\nAssistant: no"}`,
			tm, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n" + u("joke?"), a("a pun"), a("no"), 0},
		{"hh-rlhf, text", `{"chosen": "\n\nHuman: hi\n\nAssistant: a pun", "rejected": "\n\nHuman: hi\n\nAssistant: no"}`,
			nil, "\n\nHuman: hi\n\nAssistant:", " a pun", " no", 0},
		{"llama-factory sharegpt", `{"conversations": [{"from":"human","value":"hi"}], "system": "be nice", "chosen": {"from":"gpt","value":"hello"}, "rejected": {"from":"gpt","value":"no"}}`,
			tm, "<|im_start|>system\nbe nice<|im_end|>\n" + u("hi"), a("hello"), a("no"), 0},
		{"llama-factory alpaca", `{"instruction": "add", "input": "1 2", "chosen": "3", "rejected": "4"}`, tm, u("add\n1 2"), a("3"), a("4"), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePair([]byte(c.row), c.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if p.Prompt != c.prompt || p.Chosen != c.cho || p.Rejected != c.rej || p.Margin != c.margin {
				t.Fatalf("got prompt %q chosen %q rejected %q margin %v\nwant %q %q %q %v", p.Prompt, p.Chosen, p.Rejected, p.Margin, c.prompt, c.cho, c.rej, c.margin)
			}
		})
	}
}

func TestParsePairMalformed(t *testing.T) {
	tm := chatMLTemplate(t)
	cases := []struct{ row, tmplWant, want string }{
		{`{"rejected": "b"}`, "", `field "chosen": missing`},
		{`{"chosen": "a"}`, "", `field "rejected": missing`},
		{`{"chosen": "a", "rejected": null}`, "", `field "rejected": missing`},
		{`{"chosen": "same", "rejected": "same"}`, "", `field "rejected": identical`},
		{`{"chosen": "", "rejected": "b"}`, "", `field "chosen": empty`},
		{`{"prompt": "q", "chosen": "a", "rejected": "  "}`, "", `field "rejected": empty`},
		{`{"chosen": 3, "rejected": "b"}`, "", `field "chosen": expected a string`},
		{`{"chosen": [{"role":"assistant","content":"x"}], "rejected": "b"}`, "none", "need a chat template"},
		{`{"chosen": [{"role":"user","content":"x"}], "rejected": [{"role":"user","content":"y"}]}`, "", `field "chosen": the response must end with an assistant`},
		{`{"conversations": [{"from":"robot","value":"x"}], "chosen": "a", "rejected": "b"}`, "", `field "conversations": [0].from`},
		{`{"chosen": "a", "rejected": "b", "margin": "big"}`, "", `field "margin"`},
		{`[1]`, "", "expected a JSON object"},
	}
	for _, c := range cases {
		tmpl := tm
		if c.tmplWant == "none" {
			tmpl = nil
		}
		_, err := ParsePair([]byte(c.row), tmpl)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.row, err, c.want)
		}
	}
}

func TestReadPairsFiles(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "p.jsonl.gz")
	f, _ := os.Create(jsonl)
	gz := gzip.NewWriter(f)
	gz.Write([]byte("{\"chosen\": \"a\", \"rejected\": \"b\"}\n\n{\"chosen\": \"x\", \"rejected\": \"x\"}\n{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"d\"}\n"))
	gz.Close()
	f.Close()
	// Line 3 (after a blank line) is bad: named with file and line.
	_, _, err := ReadPairs(jsonl, nil, false)
	if err == nil || !strings.Contains(err.Error(), jsonl+":3: field \"rejected\": identical") {
		t.Fatalf("error %v, want %s:3 and the field", err, jsonl)
	}
	ps, bad, err := ReadPairs(jsonl, nil, true)
	if err != nil || len(ps) != 2 || len(bad) != 1 || bad[0].Source != jsonl+":3" || ps[1].Source != jsonl+":4" || ps[1].Prompt != "p" {
		t.Fatalf("skip-bad: %d pairs %+v, bad %+v, err %v", len(ps), ps, bad, err)
	}
	// A JSON array (LLaMA-Factory): lines are the elements' first lines.
	arr := filepath.Join(dir, "p.json")
	os.WriteFile(arr, []byte(`[
  {"conversations": [{"from": "human", "value": "hi"}],
   "chosen": {"from": "gpt", "value": "hello"}, "rejected": {"from": "gpt", "value": "no"}},
  {"conversations": [{"from": "human", "value": "hi"}],
   "chosen": {"from": "gpt", "value": "same"},
   "rejected": {"from": "gpt", "value": "same"}}
]`), 0o644)
	_, _, err = ReadPairs(arr, chatMLTemplate(t), false)
	if err == nil || !strings.Contains(err.Error(), arr+":4: field \"rejected\"") {
		t.Fatalf("error %v, want %s:4", err, arr)
	}
	empty := filepath.Join(dir, "e.jsonl")
	os.WriteFile(empty, []byte("{\"chosen\": \"x\", \"rejected\": \"x\"}\n"), 0o644)
	if _, _, err := ReadPairs(empty, nil, true); err == nil || !strings.Contains(err.Error(), "no usable") {
		t.Fatalf("all rows bad: %v", err)
	}
}

// The shared preference sets read completely in every format they come in.
func TestReadPairsSharedData(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "data", "preference")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("shared data not present")
	}
	tm := chatMLTemplate(t)
	for _, c := range []struct {
		file string
		tmpl *chat.Template
		min  int
	}{
		{"hh-rlhf-harmless-base-test.jsonl.gz", tm, 2200},
		{"hh-rlhf-harmless-base-test.jsonl.gz", nil, 2200},
		{"llamafactory-dpo_en_demo.json", tm, 300},
	} {
		ps, bad, err := ReadPairs(filepath.Join(dir, c.file), c.tmpl, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) < c.min {
			t.Errorf("%s: %d pairs (%d bad, first %v), want ≥ %d", c.file, len(ps), len(bad), bad, c.min)
		}
		for _, p := range ps[:5] {
			if p.Prompt == "" || p.Chosen == p.Rejected {
				t.Errorf("%s: %+v", p.Source, p)
			}
		}
	}
}

// A user row with "kind": "general" is a general prompt without an
// answer and without a judge; other kinds read as before.
func TestGeneralRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.jsonl")
	os.WriteFile(path, []byte(`{"prompt": "Write a kind note.", "kind": "general"}
{"kind": "arithmetic", "problem": "What is 1 + 1?", "answer": "2"}
{"kind": "reasoning", "problem": "What is 2 + 2?", "answer": "4"}
`), 0o644)
	ds, err := Open(path, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Task != Mixed || ds.Examples[0].Task != TaskGeneral || ds.Examples[0].Kind() != KindGeneral || ds.Examples[0].Input.Question != "Write a kind note." {
		t.Fatalf("general row: %+v (dataset task %s)", ds.Examples[0], ds.Task)
	}
	for _, ex := range ds.Examples[1:] {
		if ex.Task != TaskMath || ex.Kind() != KindReasoning {
			t.Fatalf("reasoning row: %+v", ex)
		}
	}
	js, err := NewJudges(ds.Tasks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if js[TaskGeneral] != nil {
		t.Fatal("a general row got a judge")
	}
	os.WriteFile(path, []byte(`{"kind": "general", "answer": "x"}`+"\n"), 0o644)
	if _, err := Open(path, "", Options{}); err == nil || !strings.Contains(err.Error(), `:1: field "prompt"`) {
		t.Fatalf("general row without text: %v", err)
	}
}

func TestSyntheticPreferences(t *testing.T) {
	for _, kind := range []string{PrefHelpful, PrefHarmless} {
		rows, err := SyntheticPreferences(kind, 200, 3)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := SyntheticPreferences(kind, 200, 3)
		types := map[string]int{}
		for i, r := range rows {
			if r != again[i] {
				t.Fatalf("%s row %d differs with the same seed", kind, i)
			}
			types[r.Type]++
			if r.Chosen == r.Rejected || !strings.HasPrefix(r.Prompt, "A conversation between User and Assistant.") {
				t.Fatalf("%s row %d: %+v", kind, i, r)
			}
			switch kind {
			case PrefHarmless:
				if strings.Contains(r.Chosen, ForbiddenWord+" ") || !strings.Contains(r.Rejected, ForbiddenWord+" ") {
					t.Fatalf("forbidden word misplaced: %+v", r)
				}
				// Same answer: only the reasoning differs.
				if r.Chosen[strings.Index(r.Chosen, "</think>"):] != r.Rejected[strings.Index(r.Rejected, "</think>"):] {
					t.Fatalf("summaries differ: %+v", r)
				}
			case PrefHelpful:
				if strings.Contains(r.Chosen, "<think>") || !strings.HasPrefix(r.Chosen, " <answer> ") {
					t.Fatalf("helpful row is not a summary: %+v", r)
				}
			}
			if _, err := ParsePair([]byte(fmt.Sprintf(`{"prompt": %q, "chosen": %q, "rejected": %q}`, r.Prompt, r.Chosen, r.Rejected)), nil); err != nil {
				t.Fatalf("row %d does not parse as a pair: %v", i, err)
			}
		}
		t.Logf("%s: %v; e.g. %q vs %q", kind, types, rows[0].Chosen, rows[0].Rejected)
	}
}

func TestPairsFromScored(t *testing.T) {
	mk := func(p, c string, v float64) ScoredSample {
		s := ScoredSample{Prompt: p, Completion: c, Scores: map[string]struct {
			Value float64 `json:"value"`
		}{}}
		s.Scores["math"] = struct {
			Value float64 `json:"value"`
		}{v}
		return s
	}
	ss := []ScoredSample{mk("p1", "a", 1), mk("p1", "b", 0), mk("p2", "c", 1), mk("p1", "d", 0), mk("p1", "e", 1), mk("p2", "f", 1), mk("p3", "g", 0)}
	rows, err := PairsFromScored(ss, "math", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rows)
	want := "[{p1 a b on-policy:math} {p1 e d on-policy:math}]"
	if got != want {
		t.Fatalf("pairs %s, want %s", got, want)
	}
	if rows, _ := PairsFromScored(ss, "math", 1); len(rows) != 1 {
		t.Fatalf("perPrompt 1: %v", rows)
	}
	if _, err := PairsFromScored(ss, "format", 0); err == nil || !strings.Contains(err.Error(), `sample 1: no score "format"`) {
		t.Fatalf("missing label: %v", err)
	}
}

func TestMixedPrompts(t *testing.T) {
	ds, err := Open("synthetic", "train", Options{Limit: 6})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := MixedPrompts(ds, 2)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mixed.jsonl")
	if err := WriteJSONLFile(path, rows); err != nil {
		t.Fatal(err)
	}
	back, err := Open(path, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ex := range back.Examples {
		want := KindReasoning
		if i%2 == 1 {
			want = KindGeneral
		}
		if ex.Kind() != want || ex.Input.Question != ds.Examples[i].Input.Question || (want == KindReasoning && ex.Gold != ds.Examples[i].Gold) {
			t.Fatalf("row %d: %+v, want kind %s of %+v", i, ex, want, ds.Examples[i])
		}
	}
}
