package data

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCheckEquation(t *testing.T) {
	nums := []int{3, 7, 12}
	for _, tc := range []struct {
		expr   string
		target int
		want   string // "" = valid; else part of the error
	}{
		{"(7 - 3) * 12", 48, ""},
		{"12 / (7 - 3)", 3, ""},
		{"12 / 7 * 3", 0, "equals 36/7"},
		{"7*12/3", 28, ""},
		{"12 / 7 * 3", 36, "equals 36/7"},
		{"7 + 12 + 3", 21, "equals 22"},
		{"7 + 12", 19, "uses [7 12]"},
		{"7 + 12 + 3 + 3", 25, "uses"},
		{"12 / (7 - 7) + 3", 0, "divides by zero"},
		{"(7 + 3", 10, "missing ')'"},
		{"7 + 3 12", 10, "unexpected"},
		{"x + 3", 3, "want a number"},
		{"", 0, "ends early"},
		{strings.Repeat("(", 10000) + "3", 3, "nests too deeply"},
		{"99999999999999999999 + 3", 3, "want a number"},
	} {
		err := CheckEquation(tc.expr, nums, tc.target)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q = %d: error %v, want %q", tc.expr, tc.target, err, tc.want)
		}
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "held.jsonl")
	var ps []Problem
	for _, k := range Kinds {
		p, err := SyntheticProblems(k, 20, 2)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p...)
	}
	if err := WriteJSONLFile(path, ps); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"nums":[`)) || !bytes.Contains(raw, []byte(`"answer":"`)) {
		t.Fatalf("file lacks nums/answer fields:\n%s", raw[:200])
	}
	got, err := ReadProblems(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		ps[i].Steps, ps[i].Expr = nil, "" // not stored
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatalf("round trip changed the problems:\n got %+v\nwant %+v", got[0], ps[0])
	}
}

func TestReadProblemsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"badjson", `{"kind":"arithmetic","problem":"What is 1 + 1?","answer":"2"}` + "\n{oops\n", "line 2"},
		{"kind", `{"kind":"chess","problem":"x"}`, `record 1: field "kind"`},
		{"empty", `{"kind":"arithmetic","problem":""}`, `field "problem" is empty`},
		{"countdown", `{"kind":"countdown","problem":"p","answer":"1"}`, `"nums" and "target"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name+".jsonl")
			os.WriteFile(path, []byte(tc.body), 0o644)
			_, err := ReadProblems(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and %q", err, path, tc.want)
			}
		})
	}
}

func TestProblemFields(t *testing.T) {
	ps, err := SyntheticProblems(Countdown, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		f := p.Fields()
		nums := make([]any, len(p.Nums))
		for i, n := range p.Nums {
			nums[i] = float64(n)
		}
		if f["answer"] != p.Answer || !reflect.DeepEqual(f["nums"], nums) || f["target"] != float64(p.Target) {
			t.Errorf("fields %v of %+v", f, p)
		}
		if got := p.R1ZeroPrompt(); !strings.HasSuffix(got, "User: "+p.Problem+". Assistant:") {
			t.Errorf("prompt %q", got)
		}
	}
	a := Problem{Kind: Arithmetic, Answer: "7"}
	if _, ok := a.Fields()["nums"]; ok {
		t.Errorf("arithmetic fields have nums: %v", a.Fields())
	}
}

// Hostile equations never panic; valid ones are re-checked against their
// own value.
func FuzzCheckEquation(f *testing.F) {
	for _, s := range []string{"(7 - 3) * 12", "((((", "1/0", "3 + + 4", ")", "12 / (7 - 3)", "9999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		err := CheckEquation(expr, []int{3, 7, 12}, 48)
		if err == nil && CheckEquation(expr, []int{3, 7, 12}, 47) == nil {
			t.Fatalf("%q equals both 48 and 47", expr)
		}
	})
}
