package mathverify

import (
	"context"
	"strings"
	"testing"

	"github.com/r1go/r1/reward"
)

func TestMathReward(t *testing.T) {
	f, err := reward.New("math", nil)
	if err != nil {
		t.Fatalf("reward.New(math): %v", err)
	}
	if f.Name() != "math" {
		t.Errorf("Name() = %q", f.Name())
	}
	tests := []struct {
		name    string
		answer  any
		text    string
		want    float64
		wantErr string
	}{
		{"string gold", `\frac{1}{2}`, `so \boxed{0.5}`, 1, ""},
		{"wrong", "3", `\boxed{4}`, 0, ""},
		{"number gold (AMC)", float64(-1), `the answer is $\boxed{-1}$`, 1, ""},
		{"int gold", 25, "#### 25", 1, ""},
		{"zero-padded AIME gold", "025", `\boxed{25}`, 1, ""},
		{"no answer in completion", "7", "I am not sure.", 0, ""},
		{"missing gold", nil, "7", 0, `"answer"`},
		{"bad gold type", []int{1}, "7", 0, "expected a string or number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]any{}
			if tc.answer != nil {
				fields["answer"] = tc.answer
			}
			s, err := f.Score(context.Background(), reward.Sample{Completion: tc.text, Fields: fields})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Score: %v", err)
			}
			if s.Value != tc.want {
				t.Errorf("Value = %v, want %v", s.Value, tc.want)
			}
		})
	}
}

func TestMathRewardParams(t *testing.T) {
	good := []map[string]any{{"field": "gold"}, {"timeout": "250ms"}, {"timeout": 2.0}, {"timeout": 1}}
	for _, p := range good {
		if _, err := reward.New("math", p); err != nil {
			t.Errorf("params %v: %v", p, err)
		}
	}
	bad := []map[string]any{{"field": ""}, {"timeout": "soon"}, {"timeout": -1.0}, {"colour": "red"}}
	for _, p := range bad {
		if _, err := reward.New("math", p); err == nil {
			t.Errorf("params %v: expected an error", p)
		}
	}
	f, _ := reward.New("math", map[string]any{"field": "gold"})
	s, err := f.Score(context.Background(), reward.Sample{Completion: `\boxed{2}`, Fields: map[string]any{"gold": "2"}})
	if err != nil || s.Value != 1 {
		t.Errorf("custom field: %v, %v", s, err)
	}
}
