package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/backend/cuda"
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

// jsonLines calls fn for each non-empty line of r with its 1-based number.
// Lines may be long (a row of ids or a whole completion): up to 64 MB.
func jsonLines(r io.Reader, fn func(line []byte, n int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(trimSpace(line)) == 0 {
			continue
		}
		if err := fn(line, n); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading line %d: %w", n+1, err)
	}
	return nil
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
