package reward

import (
	"context"
	"strings"
)

// Answerer is implemented by the rewards that judge a final answer (math,
// countdown, code). Evaluation reports and majority-votes (cons@k) on the
// answer the reward itself judged, so a sample's "answer" and its
// correctness can never come from two different extractors.
type Answerer interface {
	Func
	// Answer returns the final answer a completion states: the text the
	// reward judges, trimmed; "" when it states none.
	Answer(completion string) string
	// AnswerKey maps an answer to a key for grouping votes: answers with
	// equal keys are the same answer.
	AnswerKey(answer string) string
}

// AnswerMatcher is implemented by Answerers whose keys miss some
// equivalences (mathverify: sin^2 x + cos^2 x and 1 have different keys),
// so voting also merges groups whose answers SameAnswer equates.
type AnswerMatcher interface {
	// SameAnswer reports whether two answers are equivalent. It honours
	// ctx and bounds its own work.
	SameAnswer(ctx context.Context, a, b string) bool
}

// SpaceKey is an AnswerKey for answers without a cheaper equivalence
// test than their text (equations, programs): whitespace runs collapse to
// one space.
func SpaceKey(answer string) string { return strings.Join(strings.Fields(answer), " ") }
