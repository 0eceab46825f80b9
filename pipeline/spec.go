// Package pipeline runs the DeepSeek-R1 recipe as stages from one YAML:
// cold-start SFT, reasoning RL, rejection sampling + SFT, reward models,
// final RL, distillation and evaluation, each stage the same trainer or
// tool a single r1 command runs (its block decodes strictly into that
// command's Config through package configs), wired together by references
// to earlier stages' outputs (${cold_start.output}).
//
//	stages:
//	  - name: cold_start
//	    kind: sft
//	    preset: cold-start          # optional: start from a preset of that trainer
//	    config: {data: ${zero.samples}, epochs: 1}
//
// A pipeline directory DIR holds one directory per stage (DIR/NAME, the
// stage's run directory), DIR/pipeline.yaml (the resolved stages),
// DIR/.pipeline/NAME.json (each stage's config hash and whether it
// finished) and the report (report.md, report.html). A stage whose record
// says it finished with the hash of its current config (which covers the
// hashes of the stages it reads from) is skipped; one that started with
// that hash and did not finish resumes (the trainers from their newest
// checkpoint, generation from its .partial file); any other starts over.
package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/r1go/r1/configs"
)

// Spec is a pipeline file: the stages, in the order they run (a stage
// that reads a later one's output waits for it).
type Spec struct {
	Stages []StageSpec `yaml:"stages"`
}

// TrainerName types the pipeline presets in configs/ (trainer: pipeline).
func (Spec) TrainerName() string { return "pipeline" }

// StageSpec is one stage as written.
type StageSpec struct {
	// Name is how other stages refer to this one (${NAME.output}); also
	// the stage's directory under the pipeline's.
	Name string `yaml:"name"`
	// Kind is the command the stage runs (Kinds lists them).
	Kind string `yaml:"kind"`
	// Preset, when set, is loaded before Config, as --config NAME is
	// before --set (a preset of the kind's trainer, e.g. tiny-zero).
	Preset string `yaml:"preset,omitempty"`
	// Config is the stage's block: the keys of the command's config file.
	Config yaml.Node `yaml:"config"`
}

// Stage is a stage resolved: its config decoded over the kind's
// defaults with every reference replaced, its directory and outputs.
type Stage struct {
	Name, Kind string
	Dir        string            // the stage's run directory, DIR/NAME
	Config     any               // *sft.Config, *grpo.Config, …
	Outputs    map[string]string // output, dir, and per kind samples, …
	Deps       []string          // stages it reads from
	Hash       string            // of kind, resolved config and deps' hashes
	kind       *Kind
}

// Plan is a pipeline resolved, stages in running order.
type Plan struct {
	Dir    string
	Stages []*Stage
}

// Stage returns the stage called name (nil when none is).
func (p *Plan) Stage(name string) *Stage {
	for _, s := range p.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ref is ${stage.key}.
var ref = regexp.MustCompile(`\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}`)

var stageName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// LoadSpec reads a pipeline: src is a YAML file, or the name of a preset
// (or preset:NAME) with a trainer: pipeline line.
func LoadSpec(src string) (*Spec, error) {
	var s Spec
	if err := configs.Load(src, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Resolve checks the stages (known kinds, unique names, references to
// stages that exist, no cycle), orders them so that every stage runs
// after those it reads from (otherwise in the order written), decodes
// each block into its kind's config with the references filled in, and
// hashes them. dir is the pipeline directory.
func Resolve(s *Spec, dir string) (*Plan, error) {
	if len(s.Stages) == 0 {
		return nil, fmt.Errorf("stages: none given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	specs := map[string]*StageSpec{}
	index := map[string]int{}
	for i := range s.Stages {
		st := &s.Stages[i]
		switch {
		case !stageName.MatchString(st.Name):
			return nil, fmt.Errorf("stages[%d]: name %q: expected letters, digits, _ or -", i, st.Name)
		case specs[st.Name] != nil:
			return nil, fmt.Errorf("stage %s: name used twice (stages[%d] and stages[%d])", st.Name, index[st.Name], i)
		case Kinds[st.Kind] == nil:
			return nil, fmt.Errorf("stage %s: kind %q: expected one of %s", st.Name, st.Kind, strings.Join(KindNames(), ", "))
		}
		specs[st.Name], index[st.Name] = st, i
	}
	// Dependencies, from the references in each block.
	deps := map[string][]string{}
	blocks := map[string]*yaml.Node{}
	for _, st := range s.Stages {
		blocks[st.Name] = cloneNode(&st.Config)
		seen := map[string]bool{}
		var bad error
		walkScalars(blocks[st.Name], func(v string) {
			for _, m := range ref.FindAllStringSubmatch(v, -1) {
				if specs[m[1]] == nil && bad == nil {
					bad = fmt.Errorf("stage %s: %s refers to stage %q, which does not exist", st.Name, m[0], m[1])
				}
				if m[1] == st.Name && bad == nil {
					bad = fmt.Errorf("stage %s: %s refers to the stage itself (a cycle)", st.Name, m[0])
				}
				if !seen[m[1]] {
					seen[m[1]] = true
					deps[st.Name] = append(deps[st.Name], m[1])
				}
			}
		})
		if bad != nil {
			return nil, bad
		}
	}
	order, err := topo(s.Stages, deps, index)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Dir: abs}
	done := map[string]*Stage{}
	for _, name := range order {
		sp := specs[name]
		k := Kinds[sp.Kind]
		st := &Stage{Name: name, Kind: sp.Kind, Dir: filepath.Join(abs, name), Deps: deps[name], kind: k}
		node := blocks[name]
		var bad error
		walkScalarNodes(node, func(n *yaml.Node) {
			n.Value = ref.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := ref.FindStringSubmatch(m)
				v, ok := done[sub[1]].Outputs[sub[2]]
				if !ok && bad == nil {
					bad = fmt.Errorf("stage %s: %s: stage %s (%s) has no output %q (it has %s)", name, m, sub[1], done[sub[1]].Kind, sub[2],
						strings.Join(sortedKeys(done[sub[1]].Outputs), ", "))
				}
				return v
			})
		})
		if bad != nil {
			return nil, bad
		}
		cfg := k.New()
		if sp.Preset != "" {
			if err := configs.Load("preset:"+sp.Preset, nil, cfg); err != nil {
				return nil, fmt.Errorf("stage %s: %w", name, err)
			}
		}
		if node.Kind != 0 {
			raw, err := yaml.Marshal(node)
			if err != nil {
				return nil, fmt.Errorf("stage %s: %w", name, err)
			}
			if err := configs.Decode(raw, cfg); err != nil {
				return nil, fmt.Errorf("stage %s (%s): config: %s", name, sp.Kind, fileLines(err.Error(), node))
			}
		}
		if err := k.Prepare(cfg, st.Dir); err != nil {
			return nil, fmt.Errorf("stage %s (%s): %w", name, sp.Kind, err)
		}
		st.Config = cfg
		st.Outputs = k.Outputs(cfg, st.Dir)
		st.Outputs["dir"] = st.Dir
		y, err := configs.YAML(cfg)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s\n%s\n", sp.Kind, y)
		for _, d := range st.Deps {
			fmt.Fprintf(h, "%s=%s\n", d, done[d].Hash)
		}
		st.Hash = hex.EncodeToString(h.Sum(nil)[:8])
		done[name] = st
		plan.Stages = append(plan.Stages, st)
	}
	return plan, nil
}

// topo orders the stages so that each follows its dependencies, keeping
// the written order otherwise; a cycle is an error naming a stage on it.
func topo(stages []StageSpec, deps map[string][]string, index map[string]int) ([]string, error) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var order []string
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch color[name] {
		case grey:
			i := 0
			for path[i] != name {
				i++
			}
			return fmt.Errorf("stage %s: references form a cycle: %s", name, strings.Join(append(path[i:], name), " → "))
		case black:
			return nil
		}
		color[name] = grey
		ds := append([]string(nil), deps[name]...)
		sort.Slice(ds, func(a, b int) bool { return index[ds[a]] < index[ds[b]] })
		for _, d := range ds {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		color[name] = black
		order = append(order, name)
		return nil
	}
	for _, st := range stages {
		if err := visit(st.Name, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// unknownField is yaml's message for a key strict decoding refused.
var unknownField = regexp.MustCompile(`line \d+: field (\S+) not found`)

// fileLines rewrites the line numbers of a block's decoding errors, which
// count lines of the block as re-encoded, into the pipeline file's, found
// by the key each names.
func fileLines(msg string, block *yaml.Node) string {
	return unknownField.ReplaceAllStringFunc(msg, func(m string) string {
		key := unknownField.FindStringSubmatch(m)[1]
		line := 0
		var find func(n *yaml.Node)
		find = func(n *yaml.Node) {
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content) && line == 0; i += 2 {
					if n.Content[i].Value == key {
						line = n.Content[i].Line
					}
				}
			}
			for _, c := range n.Content {
				if line == 0 {
					find(c)
				}
			}
		}
		find(block)
		if line == 0 {
			return m
		}
		return fmt.Sprintf("line %d: field %s not found", line, key)
	})
}

func walkScalars(n *yaml.Node, fn func(string)) {
	walkScalarNodes(n, func(s *yaml.Node) { fn(s.Value) })
}

func walkScalarNodes(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode {
		fn(n)
	}
	for _, c := range n.Content {
		walkScalarNodes(c, fn)
	}
}

// cloneNode deep-copies a YAML tree with its aliases replaced by copies
// of what they name, so that a stage's block stands alone (an anchor in
// one stage may be merged into another's with <<: *name).
func cloneNode(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return cloneNode(n.Alias)
	}
	c := *n
	c.Anchor = ""
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, cloneNode(k))
	}
	return &c
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Describe writes the resolved plan: every stage's directory, outputs and
// full config, as YAML (what --dry-run prints and DIR/pipeline.yaml holds).
func (p *Plan) Describe() ([]byte, error) {
	type stageOut struct {
		Name    string            `yaml:"name"`
		Kind    string            `yaml:"kind"`
		Dir     string            `yaml:"dir"`
		Hash    string            `yaml:"hash"`
		After   []string          `yaml:"after,omitempty"`
		Status  string            `yaml:"status"`
		Outputs map[string]string `yaml:"outputs"`
		Config  any               `yaml:"config"`
	}
	var out struct {
		Dir    string     `yaml:"dir"`
		Stages []stageOut `yaml:"stages"`
	}
	out.Dir = p.Dir
	for _, s := range p.Stages {
		out.Stages = append(out.Stages, stageOut{s.Name, s.Kind, s.Dir, s.Hash, s.Deps, p.Status(s), s.Outputs, s.Config})
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Status is what running s now would do: done (skipped), resume, run
// (from the start) or rerun (its config changed since it ran).
func (p *Plan) Status(s *Stage) string {
	r, err := p.record(s.Name)
	switch {
	case err != nil:
		return "run"
	case r.Hash != s.Hash:
		return "rerun (config changed)"
	case r.Done && outputsExist(s):
		return "done"
	default:
		return "resume"
	}
}

func outputsExist(s *Stage) bool {
	if _, err := os.Stat(s.Outputs["output"]); err != nil {
		return false
	}
	return true
}

// Validate resolves the pipeline as --dry-run does (in a directory it
// does not create), so that a pipeline preset is checked like any other.
func (s Spec) Validate() error {
	_, err := Resolve(&s, "pipeline-validate")
	return err
}
