// Package configs is where run configuration is loaded, in one place for
// every command: the embedded presets (so that the r1 binary carries them:
// `r1 zero` starts from tiny-zero.yaml, `r1 grpo --config NAME` or
// `--config preset:NAME` reads any GRPO one, `r1 sft --config cold-start`
// the SFT one), strict YAML decoding over a trainer's defaults, and
// `--set key=value` overrides. Trainer packages define their Config structs
// (YAML tags, Default, Validate) and never read files themselves; the CLI
// calls Load.
//
// A preset is typed by the trainer it configures: its top-level
// `trainer:` line (grpo when absent) names the command, and Load refuses
// to fill another trainer's config with it.
package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed *.yaml
var files embed.FS

// Get returns the preset NAME (without .yaml).
func Get(name string) ([]byte, error) {
	data, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no preset %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return data, nil
}

// Names lists the presets.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Trainer is implemented by the configs of trainers that have presets:
// TrainerName is what a preset's trainer: line says to configure them
// (grpo, sft).
type Trainer interface{ TrainerName() string }

// DefaultTrainer is the trainer of a preset without a trainer: line. (A
// file of the user's without one loads into any trainer's config, whose
// strict decoding then checks its keys.)
const DefaultTrainer = "grpo"

// trainerLine is a top-level `trainer: NAME` line (a comment may follow).
var trainerLine = regexp.MustCompile(`(?m)^trainer:[ \t]*([A-Za-z0-9_.-]+)[ \t]*(#.*)?$`)

// CutTrainer returns the trainer a YAML config names on its top-level
// trainer: line ("" when it has none) and the text with that line blanked,
// so that line numbers in decoding errors stay the file's.
func CutTrainer(data []byte) (string, []byte) {
	loc := trainerLine.FindSubmatchIndex(data)
	if loc == nil {
		return "", data
	}
	name := string(data[loc[2]:loc[3]])
	return name, append(append([]byte(nil), data[:loc[0]]...), data[loc[1]:]...) // the newline stays
}

// PresetTrainer is the trainer preset NAME configures.
func PresetTrainer(name string) (string, error) {
	data, err := Get(name)
	if err != nil {
		return "", err
	}
	if t, _ := CutTrainer(data); t != "" {
		return t, nil
	}
	return DefaultTrainer, nil
}

// Load fills v — a config struct already holding its defaults — from src
// and then from overrides. src is "" (defaults only), "preset:NAME" (an
// embedded preset), a YAML file, or NAME alone when no such file exists
// and a preset has that name. overrides are key=value strings with dotted
// YAML keys (sampling.temperature=0.8), as `--set` takes them. Unknown
// keys are errors, so a typo never silently does nothing; so is a preset
// (or a file with a trainer: line) of another trainer than v's.
func Load(src string, overrides []string, v any) error {
	if src != "" {
		var data []byte
		var err error
		preset := false
		if name, ok := strings.CutPrefix(src, "preset:"); ok {
			data, err = Get(name)
			preset = true
		} else if data, err = os.ReadFile(src); errors.Is(err, os.ErrNotExist) && isPreset(src) {
			data, err = Get(src)
			preset = true
		}
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		trainer, rest := CutTrainer(data)
		if trainer == "" && preset {
			trainer = DefaultTrainer
		}
		if t, ok := v.(Trainer); ok && trainer != "" {
			if trainer != t.TrainerName() {
				return fmt.Errorf("config %s: it configures r1 %s (trainer: %s), not r1 %s", src, trainer, trainer, t.TrainerName())
			}
		}
		if err := Decode(rest, v); err != nil {
			return fmt.Errorf("config %s: %w", src, err)
		}
	}
	return Set(v, overrides)
}

// isPreset reports whether name is the name of a preset.
func isPreset(name string) bool {
	_, err := files.ReadFile(name + ".yaml")
	return err == nil && !strings.ContainsAny(name, "/\\")
}

// Decode decodes YAML into v strictly (unknown keys are errors).
func Decode(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Set applies "a.b.c=value" overrides to any YAML-tagged struct: the
// struct is rendered to a YAML tree, the key set (its value parsed as YAML),
// and decoded back strictly.
func Set(v any, overrides []string) error {
	if len(overrides) == 0 {
		return nil
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	var tree map[string]any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		return err
	}
	for _, s := range overrides {
		key, val, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return fmt.Errorf("--set %q: want key=value", s)
		}
		var parsed any = "" // key= sets an empty string, not YAML's null
		if val != "" {
			if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
				return fmt.Errorf("--set %s: value %q: %w", key, val, err)
			}
		}
		parts := strings.Split(key, ".")
		node := tree
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(map[string]any)
			if !ok {
				if _, exists := node[p]; exists && node[p] != nil {
					return fmt.Errorf("--set %s: %q is not a section", key, p)
				}
				next = map[string]any{}
				node[p] = next
			}
			node = next
		}
		node[parts[len(parts)-1]] = parsed
	}
	out, err := yaml.Marshal(tree)
	if err != nil {
		return err
	}
	if err := Decode(out, v); err != nil {
		keys := make([]string, len(overrides))
		for i, s := range overrides {
			keys[i], _, _ = strings.Cut(s, "=")
		}
		return fmt.Errorf("--set %s: %w", strings.Join(keys, ", "), err)
	}
	return nil
}

// YAML renders a resolved config.
func YAML(v any) ([]byte, error) { return yaml.Marshal(v) }
