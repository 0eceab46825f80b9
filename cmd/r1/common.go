package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/backend/cuda"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// openDevice returns the compute backend named by --device.
func openDevice(name string) (tensor.Backend, error) {
	switch name {
	case "", "auto", "cpu":
		return cpu.New(), nil
	case "cuda":
		// The CUDA bindings and kernels exist (backend/cuda) but the
		// tensor ops are not wired to them yet: they have never run on a
		// GPU. Say what was found so the message is useful either way.
		info, err := cuda.Probe()
		if err != nil {
			return nil, fmt.Errorf("--device cuda: %w", err)
		}
		return nil, fmt.Errorf("--device cuda: found %d GPU(s) (%s) but r1's CUDA tensor ops are not finished; use --device cpu",
			len(info.Devices), strings.TrimSpace(info.String()))
	}
	return nil, fmt.Errorf("--device %q: want cpu, cuda or auto", name)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// kvCacheFlag declares --kv-cache-dtype, the sampler's KV cache storage.
func kvCacheFlag(fs *flag.FlagSet) *string {
	return fs.String("kv-cache-dtype", "auto", "KV cache storage: auto (the model's dtype: f32 on the CPU, bf16 on the GPU), bf16 (half the cache memory on the CPU; keys and values rounded to bfloat16) or f32")
}

// kvCacheType resolves --kv-cache-dtype for m, as a usage error naming the flag.
func kvCacheType(m *model.Model, name string) (tensor.DType, error) {
	dt, err := m.KVCacheDType(name)
	if err != nil {
		return 0, usageErrorf("--kv-cache-dtype: %v", err)
	}
	return dt, nil
}

// flagRange checks an integer flag against [lo, hi] and names the flag and
// the valid range when it is outside.
func flagRange(name string, v, lo, hi int64) error {
	if v >= lo && v <= hi {
		return nil
	}
	switch {
	case hi == math.MaxInt64 && lo == 1:
		return usageErrorf("--%s %d: expected a positive integer", name, v)
	case hi == math.MaxInt64:
		return usageErrorf("--%s %d: expected an integer ≥ %d", name, v, lo)
	}
	return usageErrorf("--%s %d: expected an integer from %d to %d", name, v, lo, hi)
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// eachLine calls fn for every line of r, blank ones included, with its
// 1-based number; a final line without a newline counts, the empty tail
// after a final newline does not. Lines may be long (a row of ids or a
// whole completion): up to 64 MB.
func eachLine(r io.Reader, fn func(line []byte, n int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(sc.Bytes(), n); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading line %d: %w", n+1, err)
	}
	return nil
}
