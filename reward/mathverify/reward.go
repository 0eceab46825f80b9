package mathverify

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("math", newReward)
}

// DefaultTimeout bounds one verification when the caller's context has no
// earlier deadline, so a pathological completion cannot stall a batch.
const DefaultTimeout = time.Second

// Reward is the "math" accuracy reward: 1 when the completion's extracted
// answer is equivalent to the sample's Fields["answer"], else 0.
type Reward struct {
	// Field names the dataset field holding the gold answer ("answer").
	Field string
	// Timeout bounds one check.
	Timeout time.Duration
}

func newReward(params map[string]any) (reward.Func, error) {
	r := &Reward{Field: "answer", Timeout: DefaultTimeout}
	for k, v := range params {
		switch k {
		case "field":
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("param %q: expected a non-empty string, got %v", k, v)
			}
			r.Field = s
		case "timeout":
			switch t := v.(type) {
			case string:
				d, err := time.ParseDuration(t)
				if err != nil || d <= 0 {
					return nil, fmt.Errorf("param %q: expected a positive duration like \"1s\", got %q", k, t)
				}
				r.Timeout = d
			case float64:
				if t <= 0 {
					return nil, fmt.Errorf("param %q: expected positive seconds, got %v", k, t)
				}
				r.Timeout = time.Duration(t * float64(time.Second))
			case int:
				if t <= 0 {
					return nil, fmt.Errorf("param %q: expected positive seconds, got %v", k, t)
				}
				r.Timeout = time.Duration(t) * time.Second
			default:
				return nil, fmt.Errorf("param %q: expected a duration string or seconds, got %T", k, v)
			}
		default:
			return nil, fmt.Errorf("unknown param %q (known: field, timeout)", k)
		}
	}
	return r, nil
}

// Name implements reward.Func.
func (r *Reward) Name() string { return "math" }

// Score implements reward.Func. A missing or unusable gold answer is an
// error (the dataset is wrong), a wrong or missing prediction scores 0.
func (r *Reward) Score(ctx context.Context, s reward.Sample) (reward.Score, error) {
	field := r.Field
	if field == "" {
		field = "answer"
	}
	v, ok := s.Fields[field]
	if !ok {
		return reward.Score{}, fmt.Errorf("sample field %q: missing gold answer", field)
	}
	gold, err := goldString(v)
	if err != nil {
		return reward.Score{}, fmt.Errorf("sample field %q: %w", field, err)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if Verify(ctx, gold, s.Completion) {
		return reward.Score{Value: 1}, nil
	}
	if err := ctx.Err(); err != nil {
		return reward.Score{}, fmt.Errorf("math verification: %w", err)
	}
	return reward.Score{Value: 0}, nil
}

// goldString turns a dataset answer (JSON string or number) into text.
func goldString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case int32:
		return strconv.FormatInt(int64(t), 10), nil
	case fmt.Stringer:
		return t.String(), nil
	default:
		return "", fmt.Errorf("expected a string or number, got %T", v)
	}
}
