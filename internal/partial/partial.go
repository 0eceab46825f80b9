// Package partial keeps the finished rows of a long generation (r1 sample,
// r1 generate) in OUT.partial as they finish, so an interrupted or killed
// run loses nothing: a rerun with --resume reads them back, generates only
// what is missing, and Finish writes OUT sorted by (prompt, sample) with
// each row exactly once. A run killed mid-write leaves a torn last line,
// which Open drops.
package partial

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/r1go/r1/internal/atomicfile"
)

// Row is one finished row: its (prompt, sample) key and its JSON line
// (without the newline).
type Row struct {
	Prompt, Sample int
	Line           []byte
}

// Key reads a row's key from its line, checking that it belongs to this
// run; ln is its 1-based line number, for messages.
type Key func(line []byte, ln int) (prompt, sample int, err error)

// File is an open OUT.partial. Append is safe for concurrent use.
type File struct {
	path string
	f    *os.File
	mu   sync.Mutex
	w    *bufio.Writer
}

// Path is OUT.partial for OUT.
func Path(out string) string { return out + ".partial" }

// Open opens out's partial file for appending. An existing one is an error
// unless resume is set; then its whole rows are returned (key checks each)
// and appending continues after the last whole line. resume without a
// partial file notes so on note and starts afresh.
func Open(out string, resume bool, key Key, note io.Writer) (*File, []Row, error) {
	path := Path(out)
	var done []Row
	var keep int64 // bytes of the partial file to keep
	switch _, err := os.Stat(path); {
	case err == nil && !resume:
		return nil, nil, fmt.Errorf("%s holds the finished samples of an interrupted run: pass --resume to continue it (with the same flags), or delete it to start over", path)
	case err == nil:
		if done, keep, err = read(path, key); err != nil {
			return nil, nil, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, err
	case resume:
		fmt.Fprintf(note, "no %s to resume from: sampling every prompt\n", path)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, err
	}
	if err := f.Truncate(keep); err != nil { // drop a torn last line
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &File{path: path, f: f, w: bufio.NewWriter(f)}, done, nil
}

// read returns the whole rows of path and the length of its whole lines.
func read(path string, key Key) ([]Row, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	whole := int64(bytes.LastIndexByte(data, '\n') + 1)
	var rows []Row
	for i, line := range bytes.Split(data[:whole], []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, s, err := key(line, i+1)
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, Row{Prompt: p, Sample: s, Line: append([]byte(nil), line...)})
	}
	return rows, whole, nil
}

// Append writes one finished row and flushes it to the file, so that a
// kill after Append returns cannot lose it.
func (f *File) Append(line []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.w.Write(line)
	if err == nil {
		if err = f.w.WriteByte('\n'); err == nil {
			err = f.w.Flush()
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}

// Close flushes, syncs and closes the file; it stays on disk for --resume
// until Finish.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := errors.Join(f.w.Flush(), f.f.Sync(), f.f.Close())
	f.f = nil
	return err
}

// Sort orders rows by prompt, then sample.
func Sort(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Prompt != rows[j].Prompt {
			return rows[i].Prompt < rows[j].Prompt
		}
		return rows[i].Sample < rows[j].Sample
	})
}

// Finish writes rows to out (atomically, sorted) and removes the partial
// file.
func (f *File) Finish(out string, rows []Row) error {
	if err := f.Close(); err != nil {
		return err
	}
	Sort(rows)
	err := atomicfile.WriteFunc(out, func(w io.Writer) error {
		for _, r := range rows {
			if _, err := w.Write(r.Line); err != nil {
				return err
			}
			if _, err := w.Write([]byte{'\n'}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w (the finished samples are kept in %s; rerun with --resume)", err, f.path)
	}
	return os.Remove(f.path)
}
