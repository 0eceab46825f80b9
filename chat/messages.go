package chat

import (
	"fmt"
)

// DecodeMessages reads a JSON conversation: an array of OpenAI/transformers
// style messages {"role", "content", "reasoning_content"?, "tool_calls"?}.
// A null content stays None for the template (Extra["content"] = nil);
// other unknown keys go to Extra. Tool-call arguments may be an object (kept
// in key order) or a JSON string (kept as a string, as transformers does).
func DecodeMessages(data []byte) ([]Message, error) {
	v, err := ParseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("messages: expected a JSON array of messages, got %s", jsonKind(v))
	}
	out := make([]Message, 0, len(list))
	for i, item := range list {
		d, ok := item.(*Dict)
		if !ok {
			return nil, fmt.Errorf("messages[%d]: expected an object, got %s", i, jsonKind(item))
		}
		var m Message
		for _, k := range d.keys {
			val := d.m[k]
			switch k {
			case "role":
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("messages[%d].role: expected a string, got %s", i, jsonKind(val))
				}
				m.Role = s
			case "content":
				switch c := val.(type) {
				case string:
					m.Content = c
				default:
					// null, or a list of content parts: pass through unchanged.
					if m.Extra == nil {
						m.Extra = map[string]any{}
					}
					m.Extra["content"] = c
				}
			case "reasoning_content":
				s, ok := val.(string)
				if !ok && val != nil {
					return nil, fmt.Errorf("messages[%d].reasoning_content: expected a string, got %s", i, jsonKind(val))
				}
				m.ReasoningContent = s
			case "tool_calls":
				calls, ok := val.([]any)
				if !ok {
					return nil, fmt.Errorf("messages[%d].tool_calls: expected an array, got %s", i, jsonKind(val))
				}
				for j, c := range calls {
					cd, ok := c.(*Dict)
					if !ok {
						return nil, fmt.Errorf("messages[%d].tool_calls[%d]: expected an object, got %s", i, j, jsonKind(c))
					}
					var tc ToolCall
					tc.ID, _ = cd.m["id"].(string)
					tc.Type, _ = cd.m["type"].(string)
					fn, ok := cd.m["function"].(*Dict)
					if !ok {
						return nil, fmt.Errorf("messages[%d].tool_calls[%d].function: expected an object with name and arguments", i, j)
					}
					if tc.Name, ok = fn.m["name"].(string); !ok {
						return nil, fmt.Errorf("messages[%d].tool_calls[%d].function.name: expected a string", i, j)
					}
					tc.Arguments = fn.m["arguments"]
					m.ToolCalls = append(m.ToolCalls, tc)
				}
			default:
				if m.Extra == nil {
					m.Extra = map[string]any{}
				}
				m.Extra[k] = val
			}
		}
		if m.Role == "" {
			return nil, fmt.Errorf("messages[%d].role: missing", i)
		}
		out = append(out, m)
	}
	return out, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "an array"
	case *Dict:
		return "an object"
	}
	return "a number"
}
