package cpu

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/r1go/r1/tensor"
)

// Packed weights are marked streamed exactly while together they exceed the
// last-level cache, and unmarked once released below it.
func TestPackWeightsStreamed(t *testing.T) {
	defer func(f func() int64) { lastLevelCache = f }(lastLevelCache)
	lastLevelCache = func() int64 { return 1 << 20 } // 1 MiB
	b := New()
	w1 := b.New(tensor.F32, 512, 256) // 512 KiB
	w2 := b.New(tensor.F32, 600, 256) // 600 KiB
	if !b.PackWeight(w1) {
		t.Fatal("F32 weight not packed")
	}
	if b.packed(w1).Streamed() {
		t.Error("512 KiB of packed weights under a 1 MiB cache: streamed")
	}
	b.PackWeight(w2)
	if !b.packed(w1).Streamed() || !b.packed(w2).Streamed() {
		t.Error("1.1 MiB of packed weights over a 1 MiB cache: not streamed")
	}
	b.PackWeight(w2) // a second holder: no new bytes
	b.UnpackWeight(w2)
	if !b.packed(w1).Streamed() {
		t.Error("w2 still held once: w1 no longer streamed")
	}
	b.UnpackWeight(w2)
	if b.packed(w2) != nil || b.packed(w1).Streamed() {
		t.Error("w2 released: w1 still streamed, or w2 still packed")
	}
	if b.packs.bytes != 512*256*4 {
		t.Errorf("packed bytes %d, want %d", b.packs.bytes, 512*256*4)
	}
}

func TestParseCacheSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"49152K", 48 << 20}, {"2M", 2 << 20}, {"1G", 1 << 30}, {"512", 512}, {"", 0}, {"K", 0}, {"-4K", 0}, {"12X", 0}} {
		if got := parseCacheSize(c.in); got != c.want {
			t.Errorf("parseCacheSize(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// The highest level's data or unified cache counts, not an instruction
// cache or a lower level listed later.
func TestCacheFromSysfs(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct{ level, typ, size string }{
		{"1", "Data", "48K"}, {"1", "Instruction", "32K"}, {"3", "Unified", "49152K"}, {"2", "Unified", "1280K"}, {"4", "Instruction", "1G"},
	} {
		d := filepath.Join(dir, "index"+string(rune('0'+i)))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"level": c.level, "type": c.typ, "size": c.size} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := cacheFromSysfs(dir); got != 48<<20 {
		t.Errorf("cacheFromSysfs = %d, want %d", got, 48<<20)
	}
	if got := cacheFromSysfs(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("no cache directory: %d, want 0", got)
	}
}
