package code

import (
	"strings"

	"github.com/r1go/r1/reward"
)

var _ reward.Answerer = (*Reward)(nil)

// Answer implements reward.Answerer: the program Score runs.
func (r *Reward) Answer(completion string) string { return strings.TrimSpace(ExtractCode(completion)) }

// AnswerKey implements reward.Answerer: programs vote by their text.
func (r *Reward) AnswerKey(answer string) string { return reward.SpaceKey(answer) }
