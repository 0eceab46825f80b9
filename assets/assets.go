// Package assets carries the built-in tiny base model inside the r1 binary
// (about 2.5 MB), so `r1 zero`, `r1 sample` and `r1 eval` run with no
// download and no training first.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed tiny/config.json tiny/model.safetensors tiny/tokenizer.json tiny/tokenizer_config.json tiny/generation_config.json
var tiny embed.FS

// TinyDir returns a directory holding the built-in model in Hugging Face
// format. The embedded files are unpacked once into the user's cache
// directory (a folder named by their content hash, written atomically), so
// every later call is a stat.
func TinyDir() (string, error) {
	h := sha256.New()
	entries, err := fs.ReadDir(tiny, "tiny")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		data, _ := tiny.ReadFile("tiny/" + e.Name())
		h.Write([]byte(e.Name()))
		h.Write(data)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "r1", "tiny-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("built-in model: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tiny-*")
	if err != nil {
		return "", fmt.Errorf("built-in model: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, e := range entries {
		data, _ := tiny.ReadFile("tiny/" + e.Name())
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o644); err != nil {
			return "", fmt.Errorf("built-in model: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "model.safetensors")); serr == nil {
			return dir, nil // another process unpacked it first
		}
		return "", fmt.Errorf("built-in model: %w", err)
	}
	return dir, nil
}
