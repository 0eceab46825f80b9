package grpo

import (
	"encoding/json"
	"fmt"
	"github.com/r1go/r1/internal/atomicfile"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// checkpointState is state.json: everything besides weights and optimizer
// state (optimizer.safetensors) that a resumed run needs to continue exactly.
type checkpointState struct {
	Step   int    `json:"step"`
	Cursor int    `json:"cursor"`
	Seed   uint64 `json:"seed"`
}

// CheckpointDir is where step N's checkpoint lives.
func CheckpointDir(out string, step int) string {
	return filepath.Join(out, "checkpoints", fmt.Sprintf("step-%d", step))
}

// Save writes checkpoints/step-N: the policy in Hugging Face format (F32,
// so a resumed run continues bit for bit), the tokenizer files, the AdamW
// moments (optimizer.safetensors), the reference model when it has been
// refreshed, and state.json. It is written to a temporary directory and
// renamed, so a killed process never leaves a half checkpoint behind.
func (t *Trainer) Save() error {
	c := t.Config
	final := CheckpointDir(c.Out, t.step)
	tmp := final + ".tmp"
	os.RemoveAll(tmp)
	if err := t.Policy.Save(tmp, tensor.F32); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := model.CopyTokenizerFiles(c.Model, tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := t.opt.SaveState(filepath.Join(tmp, "optimizer.safetensors")); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if t.Ref != nil && c.Loss.RefRefreshEvery > 0 {
		if err := t.Ref.Save(filepath.Join(tmp, "ref"), tensor.F32); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	st, _ := json.MarshalIndent(checkpointState{Step: t.step, Cursor: t.cursor, Seed: c.Seed}, "", "  ")
	if err := atomicfile.Write(filepath.Join(tmp, "state.json"), st); err != nil {
		return err
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return t.pruneCheckpoints()
}

func (t *Trainer) pruneCheckpoints() error {
	keep := t.Config.KeepCheckpoints
	if keep <= 0 {
		return nil
	}
	steps := listCheckpoints(t.Config.Out)
	for len(steps) > keep {
		os.RemoveAll(CheckpointDir(t.Config.Out, steps[0]))
		steps = steps[1:]
	}
	return nil
}

// listCheckpoints returns the completed checkpoint steps, ascending.
func listCheckpoints(out string) []int {
	entries, _ := os.ReadDir(filepath.Join(out, "checkpoints"))
	var steps []int
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "step-") || strings.HasSuffix(name, ".tmp") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(name, "step-"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, "checkpoints", name, "state.json")); err == nil {
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	return steps
}

// LatestCheckpoint returns the newest complete checkpoint directory of a run
// ("" when there is none).
func LatestCheckpoint(out string) string {
	s := listCheckpoints(out)
	if len(s) == 0 {
		return ""
	}
	return CheckpointDir(out, s[len(s)-1])
}

// Resume restores the newest checkpoint of Config.Out: weights, optimizer
// moments, step and data cursor. It reports false when there is none.
func (t *Trainer) Resume() (bool, error) {
	dir := LatestCheckpoint(t.Config.Out)
	if dir == "" {
		return false, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal(data, &st); err != nil {
		return false, fmt.Errorf("resume: %s: %w", filepath.Join(dir, "state.json"), err)
	}
	if st.Seed != t.Config.Seed {
		return false, fmt.Errorf("resume: checkpoint %s was made with seed %d, the config says %d", dir, st.Seed, t.Config.Seed)
	}
	if err := loadWeights(t.Policy, dir); err != nil {
		return false, err
	}
	if t.Ref != nil {
		refDir := filepath.Join(dir, "ref")
		if _, err := os.Stat(refDir); err == nil {
			if err := loadWeights(t.Ref, refDir); err != nil {
				return false, err
			}
		}
	}
	if err := t.opt.LoadState(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	t.step, t.cursor = st.Step, st.Cursor
	return true, nil
}

// loadWeights copies a saved checkpoint's weights into m.
func loadWeights(m *model.Model, dir string) error {
	saved, err := model.Load(dir, m.Dev)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	sp, mp := saved.Params(), m.Params()
	if len(sp) != len(mp) {
		return fmt.Errorf("resume: %s holds a different architecture", dir)
	}
	for i := range sp {
		m.Dev.Copy(mp[i].Var.Val, sp[i].Var.Val)
	}
	return nil
}
