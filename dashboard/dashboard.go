// Package dashboard serves a live web page over a directory of training
// runs (r1 dashboard runs/): curves of every metric in metrics.jsonl with
// smoothing and the runs overlaid, the logged samples of a step with their
// rewards and reward parts (reasoning apart from the answer), and the eval
// tables a run wrote (summary.json, results.json, before.json). The page
// and its script are embedded in the binary; metric lines appended while
// the page is open reach it by Server-Sent Events.
package dashboard

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Server is the dashboard's HTTP handler.
type Server struct {
	// Root holds the runs: Root itself if it has a metrics.jsonl, and every
	// directory below it (two levels deep) that has one.
	Root string
	// Poll is how often the event stream looks for new lines (500 ms).
	Poll time.Duration
	mux  *http.ServeMux
}

// New returns a dashboard over root.
func New(root string) *Server {
	s := &Server{Root: root, Poll: 500 * time.Millisecond, mux: http.NewServeMux()}
	sub, _ := fs.Sub(static, "static")
	s.mux.Handle("GET /", http.FileServerFS(sub))
	s.mux.HandleFunc("GET /api/runs", s.runs)
	s.mux.HandleFunc("GET /api/samples", s.samples)
	s.mux.HandleFunc("GET /api/evals", s.evals)
	s.mux.HandleFunc("GET /api/events", s.events)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Runs lists the run directories under Root, as paths relative to it
// ("." for Root itself), sorted.
func (s *Server) Runs() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(dir, rel string, depth int)
	walk = func(dir, rel string, depth int) {
		if _, err := os.Stat(filepath.Join(dir, "metrics.jsonl")); err == nil && !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
		if depth == 0 {
			return
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.IsDir() && e.Name() != "checkpoints" && !strings.HasPrefix(e.Name(), ".") {
				walk(filepath.Join(dir, e.Name()), filepath.ToSlash(filepath.Join(rel, e.Name())), depth-1)
			}
		}
	}
	walk(s.Root, ".", 2)
	sort.Strings(out)
	return out
}

// runDir resolves a run name from a query to its directory, refusing names
// that leave Root.
func (s *Server) runDir(name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if name == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("run %q: not a run under the dashboard's directory", name)
	}
	dir := filepath.Join(s.Root, clean)
	if _, err := os.Stat(filepath.Join(dir, "metrics.jsonl")); err != nil {
		return "", fmt.Errorf("run %q: no metrics.jsonl", name)
	}
	return dir, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.Runs())
}

// samples answers the logged samples of one step of a run (the last step
// when none is asked for) and the steps that have samples.
func (s *Server) samples(w http.ResponseWriter, r *http.Request) {
	dir, err := s.runDir(r.URL.Query().Get("run"))
	if err != nil {
		httpError(w, http.StatusNotFound, err)
		return
	}
	want := -1
	if v := r.URL.Query().Get("step"); v != "" {
		if want, err = strconv.Atoi(v); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("step %q: expected an integer", v))
			return
		}
	}
	f, err := os.Open(filepath.Join(dir, "samples.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		writeJSON(w, map[string]any{"steps": []int{}, "step": nil, "samples": []any{}})
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	defer f.Close()
	byStep := map[int][]json.RawMessage{}
	var steps []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var row struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &row) != nil || row.Step == nil {
			continue // a torn last line of a live run, or not a sample
		}
		if _, ok := byStep[*row.Step]; !ok {
			steps = append(steps, *row.Step)
		}
		byStep[*row.Step] = append(byStep[*row.Step], append(json.RawMessage(nil), sc.Bytes()...))
	}
	sort.Ints(steps)
	if want < 0 && len(steps) > 0 {
		want = steps[len(steps)-1]
	}
	rows := byStep[want]
	if rows == nil {
		rows = []json.RawMessage{}
	}
	if steps == nil {
		steps = []int{}
	}
	writeJSON(w, map[string]any{"steps": steps, "step": want, "samples": rows})
}

// evalFiles are the JSON files whose tables the page shows.
var evalFiles = []string{"summary.json", "results.json", "before.json"}

func (s *Server) evals(w http.ResponseWriter, r *http.Request) {
	dir, err := s.runDir(r.URL.Query().Get("run"))
	if err != nil {
		httpError(w, http.StatusNotFound, err)
		return
	}
	out := map[string]json.RawMessage{}
	for _, name := range evalFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && json.Valid(b) {
			out[name] = b
		}
	}
	writeJSON(w, out)
}

// events streams every run's metric rows as Server-Sent Events: first all
// that exist (event "metric", data {"run", "row"}), then "ready", then each
// line appended later and each new run ("run") as they appear. Starting
// from the beginning of every file makes the page's state exactly the
// files' whatever the timing.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	offsets := map[string]int64{}
	send := func(event string, v any) error {
		b, _ := json.Marshal(v)
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		return err
	}
	scan := func() error {
		for _, run := range s.Runs() {
			off, known := offsets[run]
			if !known {
				if err := send("run", map[string]string{"run": run}); err != nil {
					return err
				}
			}
			rows, next, err := readLines(filepath.Join(s.Root, filepath.FromSlash(run), "metrics.jsonl"), off)
			if err != nil {
				continue
			}
			offsets[run] = next
			for _, row := range rows {
				if err := send("metric", map[string]any{"run": run, "row": row}); err != nil {
					return err
				}
			}
		}
		fl.Flush()
		return nil
	}
	if scan() != nil || send("ready", map[string]int{"runs": len(offsets)}) != nil {
		return
	}
	fl.Flush()
	tick := time.NewTicker(s.Poll)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if scan() != nil {
				return
			}
		}
	}
}

// readLines reads the whole JSON lines of path from offset on and returns
// them with the offset after the last whole line (a line being written is
// left for the next read). A file that shrank (a run started over) is read
// again from the start.
func readLines(path string, off int64) ([]json.RawMessage, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, off, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, off, err
	}
	if st.Size() < off {
		off = 0
	}
	if st.Size() == off {
		return nil, off, nil
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, off, err
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	var rows []json.RawMessage
	for _, line := range bytes.Split(data[:end], []byte{'\n'}) {
		if line = bytes.TrimSpace(line); len(line) > 0 && json.Valid(line) {
			rows = append(rows, append(json.RawMessage(nil), line...))
		}
	}
	return rows, off + int64(end), nil
}
