// Package configs embeds the preset run configurations so that the r1
// binary carries them: `r1 zero` starts from tiny-zero.yaml, and
// `r1 grpo --config preset:NAME` reads any of them.
package configs

import (
	"embed"
	"fmt"
	"sort"
	"strings"
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
