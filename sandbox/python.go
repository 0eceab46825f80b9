package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Python is an interpreter resolved on the host for use inside a sandbox.
type Python struct {
	// Path is the interpreter's real path (no shims, no symlinks).
	Path string
	// Binds are the host paths it needs besides the system directories.
	Binds []string
	// Version is sys.version_info as "3.11.7".
	Version string
}

var (
	pythonMu    sync.Mutex
	pythonCache = map[string]Python{}
)

// ErrNoPython is returned by FindPython when no interpreter can be found.
var ErrNoPython = errors.New("python interpreter not found")

// FindPython resolves name (e.g. "python3") from PATH to the real
// interpreter and the prefixes it loads its standard library from. Shims such
// as pyenv's are followed by asking the interpreter itself. Results are
// cached per name.
func FindPython(ctx context.Context, name string) (Python, error) {
	pythonMu.Lock()
	defer pythonMu.Unlock()
	if p, ok := pythonCache[name]; ok {
		return p, nil
	}
	exe, err := exec.LookPath(name)
	if err != nil {
		return Python{}, fmt.Errorf("%w: %s: %v", ErrNoPython, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	const probe = "import os,sys\nprint(os.path.realpath(sys.executable))\n" +
		"for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix): print(os.path.realpath(p))\n" +
		"print('%d.%d.%d' % sys.version_info[:3])\n"
	out, err := exec.CommandContext(ctx, exe, "-I", "-c", probe).Output()
	if err != nil {
		return Python{}, fmt.Errorf("%w: %s -c: %v", ErrNoPython, exe, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 6 || !filepath.IsAbs(lines[0]) {
		return Python{}, fmt.Errorf("%w: %s printed %q, expected its executable, 4 prefixes and version", ErrNoPython, exe, out)
	}
	p := Python{Path: lines[0], Version: lines[5]}
	seen := map[string]bool{}
	for _, b := range append([]string{filepath.Dir(lines[0])}, lines[1:5]...) {
		if b == "/" || b == "" || seen[b] || strings.HasPrefix(b+"/", "/usr/") {
			continue
		}
		seen[b] = true
		p.Binds = append(p.Binds, b)
	}
	pythonCache[name] = p
	return p, nil
}
