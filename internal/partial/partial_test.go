package partial

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(line []byte, ln int) (int, int, error) {
	var r struct{ P, S *int }
	if err := json.Unmarshal(line, &r); err != nil || r.P == nil || r.S == nil {
		return 0, 0, fmt.Errorf("line %d: bad row", ln)
	}
	return *r.P, *r.S, nil
}

func TestResumeDropsTornLineAndFinishes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	f, done, err := Open(out, false, key, io.Discard)
	if err != nil || len(done) != 0 {
		t.Fatal(err, done)
	}
	f.Append([]byte(`{"P":1,"S":0}`))
	f.Append([]byte(`{"P":0,"S":1}`))
	f.Close()
	// A kill mid-write leaves a torn line.
	g, _ := os.OpenFile(Path(out), os.O_APPEND|os.O_WRONLY, 0)
	g.WriteString(`{"P":0,"S`)
	g.Close()
	if _, _, err := Open(out, false, key, io.Discard); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("reopen without resume: %v", err)
	}
	f, done, err = Open(out, true, key, io.Discard)
	if err != nil || len(done) != 2 {
		t.Fatalf("resume: %v, %d rows", err, len(done))
	}
	done = append(done, Row{Prompt: 0, Sample: 0, Line: []byte(`{"P":0,"S":0}`)})
	f.Append(done[2].Line)
	if err := f.Finish(out, done); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if want := "{\"P\":0,\"S\":0}\n{\"P\":0,\"S\":1}\n{\"P\":1,\"S\":0}\n"; string(got) != want {
		t.Errorf("out = %q, want %q", got, want)
	}
	if _, err := os.Stat(Path(out)); !os.IsNotExist(err) {
		t.Error("partial file left behind")
	}
}
