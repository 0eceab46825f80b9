package dashboard

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cdp is a minimal Chrome DevTools Protocol client over
// --remote-debugging-pipe: JSON messages separated by NUL bytes, written
// to the browser's fd 3 and read from its fd 4.
type cdp struct {
	w       *os.File
	r       *bufio.Reader
	mu      sync.Mutex
	id      int
	session string
}

func (c *cdp) call(method string, params any, result any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id++
	msg := map[string]any{"id": c.id, "method": method, "params": params}
	if c.session != "" && !strings.HasPrefix(method, "Target.") {
		msg["sessionId"] = c.session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.w.Write(append(b, 0)); err != nil {
		return err
	}
	for {
		raw, err := c.r.ReadBytes(0)
		if err != nil {
			return err
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(raw[:len(raw)-1], &resp) != nil || resp.ID != c.id {
			continue // an event, or another call's answer
		}
		if resp.Error != nil {
			return fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(resp.Result, result)
		}
		return nil
	}
}

// eval runs a JavaScript expression in the page and decodes its value.
func (c *cdp) eval(expr string, v any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	if err := c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("%s: %v", expr, res.ExceptionDetails)
	}
	return json.Unmarshal(res.Result.Value, v)
}

// waitEval polls expr until it is true, for at most d (a bound against a
// hung browser, not a timing assertion).
func (c *cdp) waitEval(t *testing.T, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		err := c.eval(expr, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never satisfied %s (last error %v)", expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The page in headless Chromium (Debian's chromium): it loads the fixture
// runs, draws a curve per metric and run, shows the samples of the last
// step split into reasoning and answer with their rewards, shows the eval
// tables, and picks up a metric line appended while it is open. The
// screenshot must show both runs' curves. R1_DASHBOARD_SCREENSHOT=FILE keeps
// the screenshot (the README's). Skips when chromium is absent.
func TestDashboardInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium is not installed (scripts/test.sh installs Debian's chromium)")
	}
	root := copyRuns(t)
	s := New(root)
	s.Poll = 20 * time.Millisecond
	hs := httptest.NewServer(s)
	defer hs.Close()

	toChrome, chromeIn, err := os.Pipe() // chrome reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe() // chrome writes fd 4
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "--window-size=1280,900", "--hide-scrollbars", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	fromChrome.Close()
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	c := &cdp{w: chromeIn, r: bufio.NewReader(chromeOut)}
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call("Target.createTarget", map[string]any{"url": hs.URL + "/"}, &target); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	c.session = att.SessionID

	// Loaded: 5 metrics × 2 runs of curves, 20 points each.
	c.waitEval(t, `window.r1 && window.r1.ready && document.querySelectorAll("path.curve").length === 10`, time.Minute)
	var metrics []string
	if err := c.eval(`[...document.querySelectorAll(".chart")].map(e => e.dataset.metric)`, &metrics); err != nil {
		t.Fatal(err)
	}
	if strings.Join(metrics, ",") != "accuracy,reward/mean,completion/length_mean,loss,lr" {
		t.Fatalf("charts %v", metrics)
	}
	var points []string
	c.eval(`[...document.querySelectorAll("path.curve")].map(e => e.dataset.points)`, &points)
	for _, p := range points {
		if p != "20" {
			t.Fatalf("curve points %v, want 20 each", points)
		}
	}
	// The samples of the last step, reasoning apart from the answer.
	c.waitEval(t, `document.querySelectorAll("#samples tbody tr").length === 2`, time.Minute)
	var rows [][]string
	c.eval(`[...document.querySelectorAll("#samples tbody tr")].map(tr => [...tr.cells].map(td => td.textContent))`, &rows)
	if rows[0][1] != "1.5" || rows[0][3] != "20 - 4 = 16." || rows[0][4] != "16" || !strings.Contains(rows[0][2], "math: 1") ||
		!strings.Contains(rows[0][2], "format: 1 (tags 1)") {
		t.Fatalf("sample row %q", rows[0])
	}
	var step string
	c.eval(`document.getElementById("sstep").value`, &step)
	if step != "20" {
		t.Fatalf("samples of step %s, want the last (20)", step)
	}
	// The eval table of summary.json.
	c.waitEval(t, `[...document.querySelectorAll(".evaltable td")].some(td => td.textContent === "0.796")`, time.Minute)

	// A line appended while the page is open reaches its curve.
	f, err := os.OpenFile(filepath.Join(root, "zero-a", "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step": 21, "accuracy": 0.99, "reward/mean": 1.4, "completion/length_mean": 80, "loss": 0, "lr": 0.0001}` + "\n")
	f.Close()
	c.waitEval(t, `document.querySelector('.chart[data-metric="accuracy"] path.curve[data-run="zero-a"]').dataset.points === "21"`, time.Minute)

	// The screenshot shows both runs' curves in their colours.
	var shot struct {
		Data string `json:"data"`
	}
	if err := c.call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	near := func(r, g, b uint32, want [3]uint32) bool {
		d := func(a, b uint32) uint32 {
			if a > b {
				return a - b
			}
			return b - a
		}
		return d(r>>8, want[0]) < 24 && d(g>>8, want[1]) < 24 && d(b>>8, want[2]) < 24
	}
	blue, red := 0, 0
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r, g, b, [3]uint32{0x1f, 0x77, 0xb4}) {
				blue++
			}
			if near(r, g, b, [3]uint32{0xd6, 0x27, 0x28}) {
				red++
			}
		}
	}
	if blue < 500 || red < 500 {
		t.Fatalf("the screenshot shows %d pixels of run zero-a's colour and %d of zero-b's: the charts look empty", blue, red)
	}
	if path := os.Getenv("R1_DASHBOARD_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
