package data

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/r1go/r1/chat"
)

// The row parsers turn one JSON object of a dataset file into an Example.
// Their errors name the field and what was expected; Dataset.read adds
// the file and line.

// gsm8kRow reads GSM8K: "question", and "answer", a worked solution that
// ends in "#### <number>". The gold is that number without thousands
// separators, in training and evaluation alike; a solution without the
// marker is an error, never a gold answer made of the whole solution.
func gsm8kRow(r map[string]any, _ string) (Example, bool, error) {
	q, err := str(r, "question")
	if err != nil {
		return Example{}, false, err
	}
	a, err := str(r, "answer")
	if err != nil {
		return Example{}, false, err
	}
	gold, err := GSM8KGold(a)
	if err != nil {
		return Example{}, false, fmt.Errorf(`field "answer": %w`, err)
	}
	return mathExample("", q, gold, r), true, nil
}

// GSM8KGold extracts the gold answer from a GSM8K solution: the text after
// the last "####", trimmed, with thousands separators removed.
func GSM8KGold(solution string) (string, error) {
	i := strings.LastIndex(solution, "####")
	if i < 0 {
		return "", fmt.Errorf(`expected a solution ending in "#### <number>", found no "####"`)
	}
	gold := strings.ReplaceAll(strings.TrimSpace(solution[i+4:]), ",", "")
	if gold == "" {
		return "", fmt.Errorf(`expected a number after "####", found nothing`)
	}
	return gold, nil
}

// mathRow reads MATH-500, AIME and AMC rows: "problem", "answer" (string
// or number) and an id in idField.
func mathRow(idField string) func(r map[string]any, _ string) (Example, bool, error) {
	return func(r map[string]any, _ string) (Example, bool, error) {
		q, err := str(r, "problem")
		if err != nil {
			return Example{}, false, err
		}
		gold, err := answerText(r["answer"])
		if err != nil {
			return Example{}, false, fmt.Errorf(`field "answer": %w`, err)
		}
		return mathExample(idText(r[idField]), q, gold, r), true, nil
	}
}

// mathExample builds a math example; the row's "answer" becomes the
// normalised gold, which the math reward and reports both read.
func mathExample(id, question, gold string, r map[string]any) Example {
	r["answer"] = gold
	return Example{ID: id, Input: chat.PromptInput{Question: question}, Gold: gold, Task: TaskMath, Fields: r}
}

// countdownRow reads a Countdown row: "nums" and "target"; the question is
// the row's "problem" (or "question", "prompt") when it has one, else
// TinyZero's task wording.
func countdownRow(r map[string]any, _ string) (Example, bool, error) {
	nums, target, err := countdownTask(r)
	if err != nil {
		return Example{}, false, err
	}
	q, _, err := question(r)
	if err != nil {
		return Example{}, false, err
	}
	if q == "" {
		q = chat.CountdownTask(nums, target)
	}
	return Example{ID: idText(r["id"]), Input: chat.PromptInput{Question: q, Numbers: nums, Target: target},
		Gold: strconv.Itoa(target), Task: TaskCountdown, Fields: r}, true, nil
}

// humanEvalStops are the stop sequences of the HumanEval paper's
// evaluation (top-level statements after the function).
var humanEvalStops = []string{"\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint("}

// humanEvalRow reads HumanEval: "prompt" (signature and docstring),
// "test" and "entry_point", which the code reward runs.
func humanEvalRow(r map[string]any, _ string) (Example, bool, error) {
	prompt, err := str(r, "prompt")
	if err != nil {
		return Example{}, false, err
	}
	for _, f := range []string{"test", "entry_point"} {
		if _, err := str(r, f); err != nil {
			return Example{}, false, err
		}
	}
	q := "Complete the following Python function. Reply with the whole function in a ```python code block.\n\n```python\n" +
		prompt + "```"
	id, _ := r["task_id"].(string)
	return Example{ID: id, Input: chat.PromptInput{Question: q}, Continuation: prompt, ContinuationStops: humanEvalStops,
		Task: TaskCode, Fields: r}, true, nil
}

// mbppSplits are the official MBPP splits by task id (1..10 are the
// few-shot prompt examples, in no split here).
var mbppSplits = map[string][2]int{SplitTest: {11, 510}, "validation": {511, 600}, SplitTrain: {601, 974}}

// mbppRow reads MBPP: "task_id", "text" and "test_list" (assert
// statements), keeping the rows of split.
func mbppRow(r map[string]any, split string) (Example, bool, error) {
	idf, ok := r["task_id"].(float64)
	if !ok {
		return Example{}, false, fmt.Errorf(`field "task_id": expected a number, got %v`, r["task_id"])
	}
	if span := mbppSplits[split]; idf < float64(span[0]) || idf > float64(span[1]) {
		return Example{}, false, nil
	}
	text, err := str(r, "text")
	if err != nil {
		return Example{}, false, err
	}
	raw, _ := r["test_list"].([]any)
	var tests []string
	for _, t := range raw {
		if s, ok := t.(string); ok {
			tests = append(tests, s)
		}
	}
	if len(tests) == 0 {
		return Example{}, false, fmt.Errorf(`field "test_list": expected a list of assert strings`)
	}
	q := text + " Your code should pass these tests:\n\n" + strings.Join(tests, "\n") +
		"\n\nReply with the code in a ```python code block."
	return Example{ID: strconv.Itoa(int(idf)), Input: chat.PromptInput{Question: q}, Continuation: q + "\n", Task: TaskCode,
		Fields: r}, true, nil
}

// userRow reads a row of a user file: a Countdown row when it has "nums"
// (and "target"), else a math row with "problem", "question" or "prompt"
// and "answer"; "id", when present, names it in reports. A row with
// "kind": "general" is a general prompt ("problem", "question" or
// "prompt"; no answer needed); any other "kind" (reasoning, or the
// synthetic files' arithmetic/countdown) is one of the above.
func userRow(r map[string]any) (Example, error) {
	if r["kind"] == KindGeneral {
		q, field, err := question(r)
		if err != nil {
			return Example{}, err
		}
		if field == "" {
			return Example{}, fmt.Errorf(`field "prompt": missing (a general row needs its text in "prompt", "question" or "problem")`)
		}
		return Example{ID: idText(r["id"]), Input: chat.PromptInput{Question: q}, Task: TaskGeneral, Fields: r}, nil
	}
	if _, ok := r["nums"]; ok {
		ex, _, err := countdownRow(r, "")
		return ex, err
	}
	q, field, err := question(r)
	if err != nil {
		return Example{}, err
	}
	if field == "" {
		return Example{}, fmt.Errorf(`field "problem": missing (expected the question text in "problem", "question" or "prompt", or "nums" and "target" for Countdown)`)
	}
	gold, err := answerText(r["answer"])
	if err != nil {
		return Example{}, fmt.Errorf(`field "answer": %w`, err)
	}
	return mathExample(idText(r["id"]), q, gold, r), nil
}

// question returns the first of "problem", "question" and "prompt" that the
// row has, and which it was; a present field that is not a non-empty
// string is an error. field is "" when the row has none.
func question(r map[string]any) (q, field string, err error) {
	for _, f := range []string{"problem", "question", "prompt"} {
		if _, ok := r[f]; ok {
			q, err := str(r, f)
			return q, f, err
		}
	}
	return "", "", nil
}

// answerText turns a JSON answer into text: AMC answers are numbers
// (27.0 → "27"), AIME answers zero-padded strings, kept as they are
// because mathverify compares them numerically.
func answerText(v any) (string, error) {
	switch a := v.(type) {
	case string:
		if strings.TrimSpace(a) == "" {
			return "", fmt.Errorf("expected a non-empty answer")
		}
		return a, nil
	case float64:
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return "", fmt.Errorf("expected a finite number, got %v", a)
		}
		return strconv.FormatFloat(a, 'f', -1, 64), nil
	case nil:
		return "", fmt.Errorf("missing (expected the gold answer, a string or number)")
	}
	return "", fmt.Errorf("expected a string or number, got %T", v)
}

// idText renders an id field (string or number); "" when absent.
func idText(v any) string {
	switch id := v.(type) {
	case string:
		return id
	case float64:
		return strconv.FormatFloat(id, 'f', -1, 64)
	}
	return ""
}

func str(r map[string]any, field string) (string, error) {
	v, ok := r[field]
	if !ok {
		return "", fmt.Errorf("field %q: missing", field)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("field %q: expected a non-empty string, got %s", field, describe(v))
	}
	return s, nil
}

// describe names a JSON value for an error: its type, or "an empty
// string".
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if x == "" {
			return "an empty string"
		}
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// countdownTask reads "nums" (a non-empty list of integers) and "target"
// (an integer).
func countdownTask(r map[string]any) ([]int, int, error) {
	raw, ok := r["nums"].([]any)
	if !ok || len(raw) == 0 {
		return nil, 0, fmt.Errorf(`field "nums": expected a non-empty list of integers, got %s`, describe(r["nums"]))
	}
	nums := make([]int, len(raw))
	for i, x := range raw {
		f, ok := x.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			return nil, 0, fmt.Errorf(`field "nums"[%d]: expected an integer, got %v`, i, x)
		}
		nums[i] = int(f)
	}
	t, ok := r["target"].(float64)
	if !ok || t != math.Trunc(t) || math.Abs(t) > 1e9 {
		return nil, 0, fmt.Errorf(`field "target": expected an integer, got %v`, r["target"])
	}
	return nums, int(t), nil
}
