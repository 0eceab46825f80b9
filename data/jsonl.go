package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/r1go/r1/internal/atomicfile"
)

// WriteJSONL writes one JSON object per line to w.
func WriteJSONL[T any](w io.Writer, records []T) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep <think> and <answer> readable
	for i, r := range records {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	return bw.Flush()
}

// WriteJSONLFile writes records to path atomically (temp file + rename), so
// a crash never leaves a half-written dataset.
func WriteJSONLFile[T any](path string, records []T) error {
	return atomicfile.WriteFunc(path, func(w io.Writer) error { return WriteJSONL(w, records) })
}

// ReadJSONL decodes every non-blank line of r into a T. name labels errors
// ("problems.jsonl line 3: …").
func ReadJSONL[T any](r io.Reader, name string) ([]T, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []T
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v T
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// ReadJSONLFile reads a JSONL file.
func ReadJSONLFile[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadJSONL[T](f, path)
}

// ReadProblems reads a problem file written by WriteJSONLFile and checks
// each record: kind known, problem non-empty, and for Countdown nums and
// target present.
func ReadProblems(path string) ([]Problem, error) {
	ps, err := ReadJSONLFile[Problem](path)
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		if _, err := ParseKind(string(p.Kind)); err != nil {
			return nil, fmt.Errorf("%s record %d: field \"kind\": %v", path, i+1, err)
		}
		if p.Problem == "" {
			return nil, fmt.Errorf("%s record %d: field \"problem\" is empty", path, i+1)
		}
		if p.Kind == Countdown && (len(p.Nums) == 0 || p.Target == 0) {
			return nil, fmt.Errorf("%s record %d: a countdown problem needs fields \"nums\" and \"target\"", path, i+1)
		}
	}
	return ps, nil
}
