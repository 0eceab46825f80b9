package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/r1go/r1/tokenizer"
)

func init() {
	register(&command{
		name:    "tokenize",
		summary: "encode text to token ids (or decode ids) with a Hugging Face tokenizer.json",
		run:     runTokenize,
	})
}

// tokenizeBatch is how many JSONL lines are encoded together across cores.
const tokenizeBatch = 1024

func runTokenize(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", "--tokenizer PATH [--jsonl] [--decode | --count] < input", stderr)
	path := fs.String("tokenizer", "", "tokenizer.json or a model directory holding one (required)")
	jsonl := fs.Bool("jsonl", false, `read one {"text": ...} per line and write one {"ids": [...]} per line, in order (with --decode: {"ids"} in, {"text"} out; with --count: {"count"} out)`)
	decode := fs.Bool("decode", false, "turn ids back into text: input is a JSON array or whitespace/comma separated ids")
	count := fs.Bool("count", false, "print the number of tokens instead of the ids")
	addSpecial := fs.Bool("add-special", false, "add the tokenizer's special tokens (e.g. BOS) when encoding")
	skipSpecial := fs.Bool("skip-special", false, "leave special tokens out when decoding")
	usageNotes(fs, "With --jsonl:\n"+lineExitNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "r1 tokenize: --tokenizer is required")
		fs.Usage()
		return errUsage
	}
	if *decode && *count {
		fmt.Fprintln(stderr, "r1 tokenize: --decode and --count cannot be combined")
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "r1 tokenize: unexpected argument %q (input is read from stdin)\n", fs.Arg(0))
		return errUsage
	}
	tk, err := tokenizer.Load(*path)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(stdout, 1<<16)
	if *jsonl {
		err = tokenizeJSONL(ctx, tk, stdin, out, *decode, *count, *addSpecial, *skipSpecial)
	} else {
		err = tokenizeWhole(tk, stdin, out, *decode, *count, *addSpecial, *skipSpecial)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

func tokenizeWhole(tk *tokenizer.Tokenizer, in io.Reader, out *bufio.Writer, decode, count, addSpecial, skipSpecial bool) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if decode {
		ids, err := parseIDs(string(data))
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		_, err = out.WriteString(tk.Decode(ids, skipSpecial))
		return err
	}
	ids := tk.Encode(string(data), addSpecial)
	if count {
		_, err = fmt.Fprintln(out, len(ids))
		return err
	}
	return writeIDs(out, ids, "\n")
}

// writeIDs writes ids as a JSON array followed by end.
func writeIDs(out *bufio.Writer, ids []int32, end string) error {
	buf := make([]byte, 0, len(ids)*7+2)
	buf = append(buf, '[')
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, int64(id), 10)
	}
	buf = append(buf, ']')
	buf = append(buf, end...)
	_, err := out.Write(buf)
	return err
}

// parseIDs reads a JSON array of ids or ids separated by spaces, commas or
// newlines.
func parseIDs(s string) ([]int32, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	ids := make([]int32, 0, len(fields))
	for _, f := range fields {
		id, err := strconv.ParseInt(f, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("expected non-negative integer token ids, got %q", truncateArg(f))
		}
		ids = append(ids, int32(id))
	}
	return ids, nil
}

func truncateArg(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// tokenizeJSONL answers every input line with one output line, in order:
// the ids (or count, or text), or {"error": "stdin line N: ..."} for a
// blank or bad line. It fails after the last line when some line had an
// error; interrupted, it writes the lines read so far and stops.
func tokenizeJSONL(ctx context.Context, tk *tokenizer.Tokenizer, in io.Reader, out *bufio.Writer, decode, count, addSpecial, skipSpecial bool) error {
	r := bufio.NewReaderSize(in, 1<<20)
	lineNo := 0
	bad, firstBad := 0, ""
	// pending holds the lines read since the last flush: an error message,
	// or (errMsg == "") the next text of texts to encode.
	type entry struct{ errMsg string }
	var pending []entry
	var texts []string
	writeErr := func(msg string) error {
		b, _ := json.Marshal(struct {
			Error string `json:"error"`
		}{msg})
		out.Write(b)
		return out.WriteByte('\n')
	}
	flush := func() error {
		var encoded [][]int32
		if len(texts) > 0 {
			encoded = tk.EncodeBatch(texts, addSpecial)
		}
		k := 0
		for _, e := range pending {
			var err error
			switch {
			case e.errMsg != "":
				err = writeErr(e.errMsg)
			case count:
				_, err = fmt.Fprintf(out, "{\"count\":%d}\n", len(encoded[k]))
				k++
			default:
				if _, err = out.WriteString(`{"ids":`); err == nil {
					err = writeIDs(out, encoded[k], "}\n")
				}
				k++
			}
			if err != nil {
				return err
			}
		}
		pending, texts = pending[:0], texts[:0]
		return nil
	}
	fail := func(msg string) {
		if bad == 0 {
			firstBad = msg
		}
		bad++
		pending = append(pending, entry{errMsg: msg})
	}
	for {
		if err := ctx.Err(); err != nil {
			return firstErr(flush(), err)
		}
		line, err := r.ReadString('\n')
		if len(line) > 0 { // not the empty tail after a final newline
			lineNo++
			trimmed := strings.TrimSpace(line)
			switch {
			case trimmed == "":
				fail(fmt.Sprintf("stdin line %d: blank line (expected a JSON object)", lineNo))
			case decode:
				var rec struct {
					IDs *[]int32 `json:"ids"`
				}
				if jerr := json.Unmarshal([]byte(trimmed), &rec); jerr != nil || rec.IDs == nil {
					fail(fmt.Sprintf("stdin line %d: expected {\"ids\": [...]} (32-bit integers): %v", lineNo, describe(jerr, "field \"ids\" missing")))
					break
				}
				b, _ := json.Marshal(struct {
					Text string `json:"text"`
				}{tk.Decode(*rec.IDs, skipSpecial)})
				if ferr := flush(); ferr != nil {
					return ferr
				}
				out.Write(b)
				out.WriteByte('\n')
			default:
				var rec struct {
					Text *string `json:"text"`
				}
				if jerr := json.Unmarshal([]byte(trimmed), &rec); jerr != nil || rec.Text == nil {
					fail(fmt.Sprintf("stdin line %d: expected {\"text\": \"...\"}: %v", lineNo, describe(jerr, "field \"text\" missing")))
					break
				}
				texts = append(texts, *rec.Text)
				pending = append(pending, entry{})
			}
			if len(pending) >= tokenizeBatch {
				if ferr := flush(); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return firstErr(flush(), fmt.Errorf("reading stdin line %d: %w", lineNo+1, err))
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d lines could not be tokenized (answered with an \"error\"); the first: %s", bad, lineNo, firstBad)
	}
	return nil
}

func describe(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}
