package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// A checkpoint is checkpoints/step-N/ in the run directory:
//
//	config.json, model.safetensors   the weights, Hugging Face format, F32 so a resume is exact
//	  or adapter_config.json,         with Config.Weights (LoRA): only the trained adapter,
//	  adapter_model.safetensors       in PEFT's layout, and what its resume needs
//	tokenizer files                  when Config.TokenizerDir is set: a complete HF model directory
//	optimizer.safetensors            AdamW moments, fp32 masters and step count
//	state.json                       step, seed and the algorithm's state (data cursor)
//	...                              whatever the algorithm's Extras add
//
// It is written to step-N.tmp and renamed, so a killed process never leaves
// a half checkpoint under a final name; .tmp directories are ignored and
// replaced. checkpoints/latest names the newest one.

// checkpointState is state.json.
type checkpointState struct {
	Step  int             `json:"step"`
	Seed  uint64          `json:"seed"`
	State json.RawMessage `json:"state,omitempty"`
}

// CheckpointDir is where step's checkpoint of the run in out lives.
func CheckpointDir(out string, step int) string {
	return filepath.Join(out, "checkpoints", fmt.Sprintf("step-%d", step))
}

// Save writes the checkpoint of the current step and prunes old ones.
func (t *Trainer) Save() error {
	state, err := json.Marshal(t.Algo.State())
	if err != nil {
		return fmt.Errorf("state.json: %w", err)
	}
	return t.save(state)
}

// save writes the checkpoint of the current step with the algorithm's
// state given as JSON.
func (t *Trainer) save(state []byte) error {
	c := t.Config
	final := CheckpointDir(c.Out, t.step)
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := t.writeCheckpoint(tmp, state); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("checkpoint %s: %w", final, err)
	}
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.Out, "checkpoints", "latest"), []byte(filepath.Base(final)+"\n")); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return t.prune()
}

func (t *Trainer) writeCheckpoint(dir string, algo json.RawMessage) error {
	c := t.Config
	if c.Weights != nil {
		if err := c.Weights.SaveCheckpoint(dir); err != nil {
			return err
		}
	} else if err := t.Model.Save(dir, CheckpointDType(t.Model.DType)); err != nil {
		return err
	}
	if c.TokenizerDir != "" {
		if err := model.CopyTokenizerFiles(c.TokenizerDir, dir); err != nil {
			return err
		}
	}
	if err := t.Opt.SaveState(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		return err
	}
	if e, ok := t.Algo.(Extras); ok {
		if err := e.SaveExtras(dir); err != nil {
			return err
		}
	}
	st, _ := json.MarshalIndent(checkpointState{Step: t.step, Seed: c.Seed, State: algo}, "", "  ")
	return atomicfile.Write(filepath.Join(dir, "state.json"), append(st, '\n'))
}

// CheckpointDType is the dtype weights stored as d are saved in: as they
// are (F32 on the CPU; a 16-bit model's, e.g. BF16 on a GPU, in 16 bits,
// its fp32 master copy being in the optimizer state), so a resume is exact
// either way.
func CheckpointDType(d tensor.DType) tensor.DType {
	if d == tensor.BF16 || d == tensor.F16 {
		return d
	}
	return tensor.F32
}

func (t *Trainer) prune() error {
	keep := t.Config.KeepCheckpoints
	if keep <= 0 {
		return nil
	}
	steps := Checkpoints(t.Config.Out)
	for len(steps) > keep {
		if err := os.RemoveAll(CheckpointDir(t.Config.Out, steps[0])); err != nil {
			return fmt.Errorf("checkpoint: pruning: %w", err)
		}
		steps = steps[1:]
	}
	return nil
}

// Checkpoints returns the steps of the complete checkpoints of the run in
// out, ascending (a directory without state.json, or a .tmp one, is not
// complete).
func Checkpoints(out string) []int {
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

// LatestCheckpoint is the newest complete checkpoint directory of the run
// in out ("" when there is none).
func LatestCheckpoint(out string) string {
	s := Checkpoints(out)
	if len(s) == 0 {
		return ""
	}
	return CheckpointDir(out, s[len(s)-1])
}

// Resume restores the newest checkpoint of Config.Out: weights (or
// Config.Weights), optimizer moments, step and the algorithm's state. It reports false when there is
// none.
func (t *Trainer) Resume() (bool, error) {
	dir := LatestCheckpoint(t.Config.Out)
	if dir == "" {
		return false, nil
	}
	path := filepath.Join(dir, "state.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal(data, &st); err != nil {
		return false, fmt.Errorf("resume: %s: %w", path, err)
	}
	if st.Seed != t.Config.Seed {
		return false, fmt.Errorf("resume: checkpoint %s was made with seed %d, the config says %d", dir, st.Seed, t.Config.Seed)
	}
	if w := t.Config.Weights; w != nil {
		if err := w.LoadCheckpoint(dir); err != nil {
			return false, fmt.Errorf("resume: %w", err)
		}
	} else if err := LoadWeights(t.Model, dir); err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	if err := t.Opt.LoadState(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	if e, ok := t.Algo.(Extras); ok {
		if err := e.LoadExtras(dir); err != nil {
			return false, fmt.Errorf("resume: %w", err)
		}
	}
	if err := t.Algo.Restore(st.State); err != nil {
		return false, fmt.Errorf("resume: %s: state: %w", path, err)
	}
	t.step = st.Step
	return true, nil
}

// LoadWeights copies the weights of the checkpoint in dir into m, which
// must have the same architecture.
func LoadWeights(m *model.Model, dir string) error {
	saved, err := model.Load(dir, m.Dev)
	if err != nil {
		return err
	}
	sp, mp := saved.Params(), m.Params()
	if len(sp) != len(mp) {
		return fmt.Errorf("%s holds a different architecture (%d weights, the model has %d)", dir, len(sp), len(mp))
	}
	defer func() {
		for _, p := range sp {
			m.Dev.Free(p.Var.Val)
		}
	}()
	for i := range sp {
		if sp[i].Name != mp[i].Name || !slices.Equal(sp[i].Var.Val.Shape, mp[i].Var.Val.Shape) {
			return fmt.Errorf("%s: weight %s %v does not match the model's %s %v", dir, sp[i].Name, sp[i].Var.Val.Shape, mp[i].Name, mp[i].Var.Val.Shape)
		}
		m.Dev.Copy(mp[i].Var.Val, sp[i].Var.Val)
	}
	return nil
}

// Prepare readies out for a run that is not resumed. A directory that
// already holds a run (metrics.jsonl or checkpoints) is refused, since
// starting over would truncate its logs and its checkpoints would be pruned
// in favour of the new run's lower step numbers; with overwrite, that
// run's checkpoints, logs and TensorBoard events are deleted first. Other
// files (a pretraining run's tokenizer, a user's notes) are left alone.
func Prepare(out string, overwrite bool) error {
	var found []string
	for _, name := range []string{"metrics.jsonl", "checkpoints"} {
		if _, err := os.Stat(filepath.Join(out, name)); err == nil {
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return nil
	}
	if !overwrite {
		return fmt.Errorf("%s already holds a run (%s): continue it with --resume, or start over with --overwrite (deletes its checkpoints and logs)",
			out, strings.Join(found, ", "))
	}
	events, _ := filepath.Glob(filepath.Join(out, "events.out.tfevents.*"))
	for _, p := range append([]string{filepath.Join(out, "checkpoints"), filepath.Join(out, "metrics.jsonl"), filepath.Join(out, "samples.jsonl")}, events...) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("--overwrite: %w", err)
		}
	}
	return nil
}
