// Package reward scores completions for reinforcement learning. A reward is
// a Func that scores one Sample; Batch scores many concurrently with a time
// limit per sample. Concrete rewards live in subpackages (format, countdown,
// mathverify, code, language, length, remote, rm) and register themselves by name
// so that configs can refer to them.
package reward

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Sample is one completion to score, with the dataset row it answers.
type Sample struct {
	// Prompt is the exact text the model was conditioned on (after templating).
	Prompt string `json:"prompt"`
	// Completion is the generated text only, without the prompt.
	Completion string `json:"completion"`
	// Fields holds the dataset row: "answer" (gold), "nums"/"target"
	// (Countdown), "test"/"entry_point"/"test_list" (code), and so on.
	Fields map[string]any `json:"fields,omitempty"`
	// Truncated is true when generation stopped at max_new_tokens.
	Truncated bool `json:"truncated,omitempty"`
	// Tokens is the completion's length in tokens (length rewards use it).
	Tokens int `json:"tokens,omitempty"`
}

// RawPart names the Parts entry of a normalised reward (e.g. rm with
// normalize: whiten) that holds its value before normalisation; trainers
// log its mean as reward/LABEL/raw_mean, since whitened values average 0.
const RawPart = "raw"

// Score is what one reward gives one sample.
type Score struct {
	Value float64 `json:"value"`
	// Parts breaks Value down for logging (e.g. "think_tag": 0.25).
	Parts map[string]float64 `json:"parts,omitempty"`
	// Err is set when scoring failed or timed out; Value is then 0.
	Err string `json:"err,omitempty"`
}

// Func is a reward function.
type Func interface {
	// Name is the registry name, used in logs and metrics.
	Name() string
	// Score scores one sample. It must honour ctx's deadline. An error
	// means "could not score" (scored 0 and logged), never "wrong answer".
	Score(ctx context.Context, s Sample) (Score, error)
}

// Factory builds a reward from its parameters in a config (may be nil).
type Factory func(params map[string]any) (Func, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a reward available by name. It panics on a duplicate name,
// which is a programming error caught at init time.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("reward: Register called twice for " + name)
	}
	registry[name] = f
}

// Registered reports whether a reward called name is registered.
func Registered(name string) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	_, ok := registry[name]
	return ok
}

// New builds the registered reward called name.
func New(name string, params map[string]any) (Func, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown reward %q (known: %v)", name, Names())
	}
	fn, err := f(params)
	if err != nil {
		return nil, fmt.Errorf("reward %q: %w", name, err)
	}
	return fn, nil
}

// Names lists the registered rewards, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
