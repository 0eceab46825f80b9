// Package metrics records a run's scalars each step: one JSON object per
// line in metrics.jsonl (what scripts and the dashboard read) and
// TensorBoard event files (what people plot).
package metrics

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Writer appends step records to DIR/metrics.jsonl and DIR/events.out.tfevents.*.
type Writer struct {
	jsonl *os.File
	tb    *os.File
}

// Open opens (appending) the metrics files of a run directory.
func Open(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	j, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	// TensorBoard reads every events file in the directory; the pid and
	// nanoseconds keep a resumed run from colliding with the previous file.
	now := time.Now()
	name := fmt.Sprintf("events.out.tfevents.%d.%s.%d.%d", now.Unix(), host, os.Getpid(), now.Nanosecond())
	tb, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		j.Close()
		return nil, err
	}
	w := &Writer{jsonl: j, tb: tb}
	if err := w.writeEvent(eventBytes(float64(time.Now().UnixNano())/1e9, 0, "brain.Event:2", nil)); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Log writes one step's scalars. Non-finite values are written as null in
// JSON (JSON has no NaN) and skipped in TensorBoard.
func (w *Writer) Log(step int, values map[string]float64) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, `{"step":%d,"time":%q`, step, time.Now().UTC().Format(time.RFC3339Nano))
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		v := values[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			fmt.Fprintf(&b, ",%s:null", kb)
		} else {
			vb, _ := json.Marshal(v)
			fmt.Fprintf(&b, ",%s:%s", kb, vb)
		}
	}
	b.WriteString("}\n")
	if _, err := w.jsonl.WriteString(b.String()); err != nil {
		return err
	}
	var summary []byte
	for _, k := range keys {
		v := values[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		summary = appendBytesField(summary, 1, scalarValue(k, float32(v)))
	}
	return w.writeEvent(eventBytes(float64(time.Now().UnixNano())/1e9, int64(step), "", summary))
}

// Close flushes and closes the files.
func (w *Writer) Close() error {
	err1 := w.jsonl.Close()
	err2 := w.tb.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

// TruncateAfter drops lines of a JSONL file whose "step" exceeds step:
// records a killed run wrote after its last checkpoint, which a resumed run
// writes again. The file is rewritten atomically.
func TruncateAfter(path string, step int) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []byte
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var rec struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Step == nil || *rec.Step <= step {
			keep = append(keep, line...)
			keep = append(keep, '\n')
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, keep, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// --- TensorBoard's record format: protobuf Events framed with CRC32C ---

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

func (w *Writer) writeEvent(ev []byte) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(ev)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], maskedCRC(ev))
	buf := append(append(hdr[:], ev...), tail[:]...)
	_, err := w.tb.Write(buf)
	return err
}

func appendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytesField(b []byte, field int, data []byte) []byte {
	b = appendVarint(b, uint64(field<<3|2))
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// eventBytes encodes tensorflow.Event{wall_time=1, step=2, file_version=3, summary=5}.
func eventBytes(wall float64, step int64, fileVersion string, summary []byte) []byte {
	var b []byte
	b = append(b, 1<<3|1)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(wall))
	if step != 0 {
		b = appendVarint(b, 2<<3|0)
		b = appendVarint(b, uint64(step))
	}
	if fileVersion != "" {
		b = appendBytesField(b, 3, []byte(fileVersion))
	}
	if summary != nil {
		b = appendBytesField(b, 5, summary)
	}
	return b
}

// scalarValue encodes Summary.Value{tag=1, simple_value=2}.
func scalarValue(tag string, v float32) []byte {
	b := appendBytesField(nil, 1, []byte(tag))
	b = append(b, 2<<3|5)
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}
