package mathverify

import (
	"context"

	"github.com/r1go/r1/reward"
)

var (
	_ reward.Answerer      = (*Reward)(nil)
	_ reward.AnswerMatcher = (*Reward)(nil)
)

// Answer implements reward.Answerer: the answer Score verifies.
func (r *Reward) Answer(completion string) string {
	if a, ok := ExtractAnswer(completion); ok {
		return a
	}
	return ""
}

// AnswerKey implements reward.Answerer with Key.
func (r *Reward) AnswerKey(answer string) string { return Key(answer) }

// SameAnswer implements reward.AnswerMatcher with Equal, bounded by the
// reward's timeout so a pathological pair cannot stall a vote.
func (r *Reward) SameAnswer(ctx context.Context, a, b string) bool {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return Equal(ctx, a, b)
}
