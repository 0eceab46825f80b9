package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	for _, content := range []string{`{"a":1}`, `{"a":2, "longer": true}`, ``} {
		if err := Write(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("got %q, want %q", got, content)
		}
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in dir, want 1 (temp files left behind?)", len(ents))
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir", "x.json")
	if err := Write(missing, []byte("x")); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing dir: got %v, want an error naming %s", err, missing)
	}
	// Renaming over a directory fails; the old directory and no temp file
	// must remain.
	target := filepath.Join(dir, "occupied")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, []byte("x")); err == nil || !strings.Contains(err.Error(), target) {
		t.Errorf("rename over a dir: got %v, want an error naming %s", err, target)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in dir, want 1 (temp file left behind?)", len(ents))
	}
}
