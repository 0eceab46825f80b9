package chat

import (
	"strings"
	"testing"
)

func TestDecodeMessages(t *testing.T) {
	tmpl := "{% for m in messages %}{{ m.role }}:{{ m.content }}|{{ m.reasoning_content is defined }}|" +
		"{% for c in m.tool_calls or [] %}{{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}|{{ m.name }};{% endfor %}"
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"basic", `[{"role":"user","content":"hi"},{"role":"assistant","content":"yo","reasoning_content":"r"}]`,
			"user:hi|False||;assistant:yo|True||;", ""},
		{"tool_call_object_args_keep_order", `[{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{"z":1,"a":2}}}]}]`,
			`assistant:None|False|f{"z": 1, "a": 2}|;`, ""},
		{"tool_call_string_args", `[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{\"a\": 1}"}}]}]`,
			`assistant:|False|f"{\"a\": 1}"|;`, ""},
		{"extra_key", `[{"role":"tool","content":"42","name":"calc"}]`, "tool:42|False||calc;", ""},
		{"not_array", `{"role":"user"}`, "", "expected a JSON array"},
		{"bad_role", `[{"role":1}]`, "", "messages[0].role: expected a string"},
		{"missing_role", `[{"content":"x"}]`, "", "messages[0].role: missing"},
		{"bad_tool_call", `[{"role":"assistant","tool_calls":[{"function":{}}]}]`, "", "function.name"},
		{"bad_json", `[{"role":`, "", "messages:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := DecodeMessages([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Render(tmpl, msgs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
