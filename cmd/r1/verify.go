package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/r1go/r1/reward/mathverify"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "check math answers against gold answers (JSONL in, JSONL out)",
		run:     runVerify,
	})
}

// verifyLine is one input record of `r1 verify --jsonl`.
type verifyLine struct {
	Gold       json.RawMessage `json:"gold"`
	Prediction json.RawMessage `json:"prediction"`
}

// verifyResult is one output record; Error is set only for bad input.
type verifyResult struct {
	Equal bool   `json:"equal"`
	Error string `json:"error,omitempty"`
}

func runVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("verify", "--jsonl < pairs.jsonl | -gold ANSWER -prediction TEXT", stderr)
	jsonl := fs.Bool("jsonl", false, `read {"gold": ..., "prediction": ...} lines from stdin and write {"equal": true|false} lines in the same order`)
	gold := fs.String("gold", "", "gold answer (without --jsonl)")
	pred := fs.String("prediction", "", "prediction: a bare answer or a whole completion (without --jsonl)")
	timeout := fs.Duration("timeout", time.Second, "time limit for one check")
	extract := fs.Bool("extract", false, "also print the extracted answer (without --jsonl)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "lines checked in parallel (output order is kept)")
	usageNotes(fs, "With --jsonl (a bad line's answer is {\"equal\": false, \"error\": ...}):\n"+lineExitNotes+
		"\nWithout --jsonl it prints true or false; exit status 0 either way.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *workers < 1 {
		return fmt.Errorf("flag -workers: expected at least 1, got %d", *workers)
	}
	if *timeout <= 0 {
		return fmt.Errorf("flag -timeout: expected a positive duration, got %v", *timeout)
	}
	check := func(g, p string) bool {
		c, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return mathverify.Verify(c, g, p)
	}
	if !*jsonl {
		if *gold == "" {
			fs.Usage()
			return errUsage
		}
		if *extract {
			a, _ := mathverify.ExtractAnswer(*pred)
			fmt.Fprintf(stdout, "extracted: %s\n", a)
		}
		fmt.Fprintln(stdout, check(*gold, *pred))
		return nil
	}
	return verifyJSONL(ctx, stdin, stdout, stderr, *workers, check)
}

// verifyJSONL answers every line of in with one line of out, in order: the
// verdict, or {"equal": false, "error": ...} for a blank or bad line. Lines
// are checked a chunk at a time across workers, then written in input
// order, so memory stays bounded and output stays aligned. It fails after
// the last line when some line had an error, and on interruption after
// writing the lines checked so far.
func verifyJSONL(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, workers int, check func(g, p string) bool) error {
	in := bufio.NewReaderSize(stdin, 1<<20)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	const chunk = 256
	type job struct {
		line   []byte
		lineNo int
	}
	var batch []job
	bad, firstBad := 0, ""
	flush := func() error {
		res := make([]verifyResult, len(batch))
		done := make([]bool, len(batch))
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < workers && w < len(batch); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					g, p, perr := decodeVerifyLine(batch[i].line)
					if perr != nil {
						res[i].Error = fmt.Sprintf("stdin line %d: %v", batch[i].lineNo, perr)
						done[i] = true
						continue
					}
					res[i].Equal = check(g, p)
					// A check cut short by an interruption is no answer.
					done[i] = ctx.Err() == nil
				}
			}()
		}
		for i := range batch {
			next <- i
		}
		close(next)
		wg.Wait()
		for i, r := range res {
			if !done[i] {
				return ctx.Err()
			}
			if r.Error != "" {
				if bad == 0 {
					firstBad = r.Error
				}
				bad++
				fmt.Fprintln(stderr, "r1 verify:", r.Error)
			}
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("writing result for line %d: %w", batch[i].lineNo, err)
			}
		}
		batch = batch[:0]
		return nil
	}
	for lineNo := 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := in.ReadBytes('\n')
		if len(line) > 0 { // not the empty tail after a final newline
			batch = append(batch, job{line, lineNo})
			if len(batch) == chunk {
				if ferr := flush(); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return fmt.Errorf("reading stdin line %d: %w", lineNo, err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d line(s) could not be checked (answered with an \"error\"); the first: %s", bad, firstBad)
	}
	return nil
}

// decodeVerifyLine reads gold and prediction; either may be a JSON string
// or number (AMC answers are numbers).
func decodeVerifyLine(line []byte) (string, string, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return "", "", errors.New(`blank line (expected a JSON object with "gold" and "prediction")`)
	}
	var v verifyLine
	if err := json.Unmarshal(line, &v); err != nil {
		return "", "", fmt.Errorf("expected a JSON object with \"gold\" and \"prediction\": %v", err)
	}
	g, err := jsonScalar(v.Gold)
	if err != nil {
		return "", "", fmt.Errorf("field \"gold\": %v", err)
	}
	p, err := jsonScalar(v.Prediction)
	if err != nil {
		return "", "", fmt.Errorf("field \"prediction\": %v", err)
	}
	return g, p, nil
}

func jsonScalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("missing (expected a string or number)")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("expected a string or number, got %s", truncate(string(raw), 40))
	}
	if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
		return "", fmt.Errorf("bad number %s", n)
	}
	return n.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
