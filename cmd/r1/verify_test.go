package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestVerifyJSONL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // expected output lines
		wantErr string   // "" = success
	}{
		{
			name: "order and values",
			in: `{"gold": "\\frac{1}{2}", "prediction": "so the answer is \\boxed{0.5}"}
{"gold": "72", "prediction": "Natalia sold 48/2 = 24 clips in May.\n#### 72"}
{"gold": "3", "prediction": "\\boxed{4}"}
{"gold": 25, "prediction": "The final answer is $25$."}
`,
			want: []string{`{"equal":true}`, `{"equal":true}`, `{"equal":false}`, `{"equal":true}`},
		},
		{
			name: "bad lines keep alignment",
			in:   "not json\n\n{\"gold\": \"1\"}\n{\"gold\": \"(1,2)\", \"prediction\": \"$(1, 2)$\"}",
			want: []string{`{"equal":false,"error":"stdin line 1:`, `{"equal":false,"error":"stdin line 2: blank line`,
				`{"equal":false,"error":"stdin line 3: field \"prediction\"`, `{"equal":true}`},
			wantErr: "3 line(s) could not be checked",
		},
		{
			name:    "blank lines are answered too",
			in:      "\n{\"gold\": \"2\", \"prediction\": \"2\"}\n  \n",
			want:    []string{`{"equal":false,"error":"stdin line 1: blank line`, `{"equal":true}`, `{"equal":false,"error":"stdin line 3: blank line`},
			wantErr: "stdin line 1: blank line",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runVerify(context.Background(), []string{"--jsonl"}, strings.NewReader(tc.in), &out, &errb)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("runVerify: %v (stderr %s)", err, errb.String())
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("runVerify: err %v, want %q", err, tc.wantErr)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d lines %q, want %d", len(lines), lines, len(tc.want))
			}
			for i, l := range lines {
				if !strings.HasPrefix(l, tc.want[i]) {
					t.Errorf("line %d = %s, want prefix %s", i+1, l, tc.want[i])
				}
				var r map[string]any
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Errorf("line %d is not JSON: %v", i+1, err)
				}
			}
		})
	}
}

// TestVerifyJSONLOrder feeds more lines than one parallel chunk and checks
// that every answer comes back on its own line, in order.
func TestVerifyJSONLOrder(t *testing.T) {
	var in strings.Builder
	var want []bool
	for i := 0; i < 700; i++ {
		eq := i%3 != 0
		pred := i
		if !eq {
			pred = i + 1
		}
		fmt.Fprintf(&in, "{\"gold\": \"%d\", \"prediction\": \"so \\\\boxed{%d}\"}\n", i, pred)
		want = append(want, eq)
	}
	for _, workers := range []string{"1", "3"} {
		var out, errb bytes.Buffer
		if err := runVerify(context.Background(), []string{"--jsonl", "-workers", workers}, strings.NewReader(in.String()), &out, &errb); err != nil {
			t.Fatalf("workers=%s: %v (%s)", workers, err, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != len(want) {
			t.Fatalf("workers=%s: got %d lines, want %d", workers, len(lines), len(want))
		}
		for i, l := range lines {
			var r struct{ Equal bool }
			if err := json.Unmarshal([]byte(l), &r); err != nil || r.Equal != want[i] {
				t.Fatalf("workers=%s line %d = %s, want equal=%v", workers, i+1, l, want[i])
			}
		}
	}
}

func TestVerifySingle(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-gold", `\left( 3, \frac{\pi}{2} \right)`, "-prediction", `$\boxed{(3, \pi/2)}$`}, "true\n"},
		{[]string{"-gold", "x > 5", "-prediction", "$5 < x$"}, "true\n"},
		{[]string{"-gold", "x > 5", "-prediction", "$x < 5$"}, "false\n"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		if err := runVerify(context.Background(), tc.args, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if out.String() != tc.want {
			t.Errorf("%v: got %q want %q", tc.args, out.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	if err := runVerify(context.Background(), []string{"-h"}, strings.NewReader(""), &out, &errb); err != errHelp {
		t.Errorf("-h: got %v, want errHelp", err)
	}
	if !strings.Contains(errb.String(), "-jsonl") {
		t.Errorf("-h output lacks -jsonl: %s", errb.String())
	}
}

// FuzzVerifyJSONL: any input gives one output line per input line, each a
// JSON object, and no panic.
func FuzzVerifyJSONL(f *testing.F) {
	for _, s := range []string{`{"gold": "1", "prediction": "1"}`, "not json\n\n{\"gold\": 2}", `{"gold": null, "prediction": [1]}`,
		`{"gold": 1e999, "prediction": "x"}`, "\n\n\n", `{"gold": "\\frac{1}{2}", "prediction": "0.5"}` + "\r\n" + `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var out, errb bytes.Buffer
		check := func(g, p string) bool { return g == p }
		_ = verifyJSONL(context.Background(), strings.NewReader(in), &out, &errb, 2, check)
		want := strings.Count(in, "\n")
		if in != "" && !strings.HasSuffix(in, "\n") {
			want++
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		if len(lines) != want {
			t.Fatalf("%q: %d output lines for %d input lines", in, len(lines), want)
		}
		for _, l := range lines {
			var r map[string]any
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%q: output %q is not JSON", in, l)
			}
		}
	})
}
