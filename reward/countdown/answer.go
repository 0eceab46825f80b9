package countdown

import "github.com/r1go/r1/reward"

var _ reward.Answerer = (*Reward)(nil)

// Answer implements reward.Answerer: the equation Score checks (the last
// <answer> block of the last line), "" when there is none. With full_text
// the reward reads the prompt too, but the answer is always in the
// completion.
func (r *Reward) Answer(completion string) string {
	eq, _ := ExtractAnswer(completion)
	return eq
}

// AnswerKey implements reward.Answerer: equations vote by their text.
func (r *Reward) AnswerKey(answer string) string { return reward.SpaceKey(answer) }
