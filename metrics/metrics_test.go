package metrics

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readEvents parses a TensorBoard file, checking both CRCs of every
// record, and returns the scalars of each step.
func readEvents(t *testing.T, path string) map[int64]map[string]float32 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[string]float32{}
	for len(data) > 0 {
		n := binary.LittleEndian.Uint64(data[:8])
		if maskedCRC(data[:8]) != binary.LittleEndian.Uint32(data[8:12]) {
			t.Fatal("bad length CRC")
		}
		ev := data[12 : 12+n]
		if maskedCRC(ev) != binary.LittleEndian.Uint32(data[12+n:16+n]) {
			t.Fatal("bad data CRC")
		}
		data = data[16+n:]
		var step int64
		vals := map[string]float32{}
		for len(ev) > 0 {
			key, k := binary.Uvarint(ev)
			ev = ev[k:]
			switch key & 7 {
			case 1:
				ev = ev[8:]
			case 0:
				v, k := binary.Uvarint(ev)
				ev = ev[k:]
				if key>>3 == 2 {
					step = int64(v)
				}
			case 2:
				l, k := binary.Uvarint(ev)
				body := ev[k : k+int(l)]
				ev = ev[k+int(l):]
				if key>>3 == 5 { // Summary: repeated Value
					for len(body) > 0 {
						_, k := binary.Uvarint(body)
						l, k2 := binary.Uvarint(body[k:])
						val := body[k+k2 : k+k2+int(l)]
						body = body[k+k2+int(l):]
						tl := int(val[1])
						tag := string(val[2 : 2+tl])
						vals[tag] = math.Float32frombits(binary.LittleEndian.Uint32(val[2+tl+1:]))
					}
				}
			}
		}
		if len(vals) > 0 {
			out[step] = vals
		}
	}
	return out
}

func TestWriterJSONLAndTensorBoard(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.Log(1, map[string]float64{"reward/mean": 0.5, "loss": -0.25, "kl": math.NaN()})
	w.Log(2, map[string]float64{"reward/mean": 0.75})
	w.Close()
	f, _ := os.Open(filepath.Join(dir, "metrics.jsonl"))
	defer f.Close()
	sc := bufio.NewScanner(f)
	var recs []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 || recs[0]["reward/mean"] != 0.5 || recs[0]["kl"] != nil || recs[1]["step"] != 2.0 {
		t.Fatalf("metrics.jsonl: %v", recs)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	if len(matches) != 1 {
		t.Fatalf("event files: %v", matches)
	}
	ev := readEvents(t, matches[0])
	if ev[1]["reward/mean"] != 0.5 || ev[1]["loss"] != -0.25 || ev[2]["reward/mean"] != 0.75 {
		t.Fatalf("events: %v", ev)
	}
	if _, ok := ev[1]["kl"]; ok {
		t.Fatal("NaN written to TensorBoard")
	}
}

func TestTruncateAfter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	os.WriteFile(p, []byte("{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n"), 0o644)
	if err := TruncateAfter(p, 2); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	if strings.TrimSpace(string(data)) != "{\"step\":1}\n{\"step\":2}" {
		t.Fatalf("got %q", data)
	}
}
