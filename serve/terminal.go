package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/r1go/r1/sample"
)

// ChatOptions configure a terminal chat (r1 chat).
type ChatOptions struct {
	Temperature float64
	TopP        float64
	MaxTokens   int
	Seed        uint64
	// Color dims the reasoning with ANSI escapes (a terminal); without it
	// the reasoning is shown between "[thinking]" and "[/thinking]".
	Color bool
	// HideReasoning folds the reasoning: only its length is shown (/think
	// toggles it).
	HideReasoning bool
}

const chatHelp = `commands: /reset (forget the conversation), /temp X (temperature), /max N (max tokens),
/seed N, /think (show or fold the reasoning), /history (show the conversation), /help, /quit`

// Chat runs an interactive chat on the server's engine: each line of in
// is a user turn (or a /command), the reply streams to out, the reasoning
// dimmed (or folded) and the answer plain. The conversation's history is
// kept (the assistant turns without their reasoning, as DeepSeek advises
// for multi-turn R1) until /reset. It returns at the end of in or /quit.
func (s *Server) Chat(ctx context.Context, in io.Reader, out io.Writer, o ChatOptions) error {
	if o.TopP == 0 {
		o.TopP = 1
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 512
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	var history []message
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	prompt := func() {
		w.WriteString("> ")
		w.Flush()
	}
	fmt.Fprintf(w, "r1 chat with %s (/help for commands)\n", s.o.Name)
	turn := uint64(0)
	for prompt(); sc.Scan(); prompt() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "/") {
			cmd, arg, _ := strings.Cut(line, " ")
			arg = strings.TrimSpace(arg)
			switch cmd {
			case "/quit", "/exit":
				return nil
			case "/help":
				fmt.Fprintln(w, chatHelp)
			case "/reset":
				history = nil
				fmt.Fprintln(w, "(conversation cleared)")
			case "/temp":
				v, err := strconv.ParseFloat(arg, 64)
				if err != nil || v < 0 || v > 2 {
					fmt.Fprintf(w, "/temp %q: expected a number from 0 to 2\n", arg)
					continue
				}
				o.Temperature = v
				fmt.Fprintf(w, "(temperature %g)\n", v)
			case "/max":
				v, err := strconv.Atoi(arg)
				if err != nil || v < 1 {
					fmt.Fprintf(w, "/max %q: expected a positive integer\n", arg)
					continue
				}
				o.MaxTokens = v
				fmt.Fprintf(w, "(max tokens %d)\n", v)
			case "/seed":
				v, err := strconv.ParseUint(arg, 10, 64)
				if err != nil {
					fmt.Fprintf(w, "/seed %q: expected a non-negative integer\n", arg)
					continue
				}
				o.Seed, turn = v, 0
				fmt.Fprintf(w, "(seed %d)\n", v)
			case "/think":
				o.HideReasoning = !o.HideReasoning
				fmt.Fprintf(w, "(reasoning %s)\n", map[bool]string{true: "folded", false: "shown"}[o.HideReasoning])
			case "/history":
				if len(history) == 0 {
					fmt.Fprintln(w, "(no conversation yet)")
				}
				for _, m := range history {
					text, _ := m.text()
					fmt.Fprintf(w, "%s: %s\n", m.Role, text)
				}
			default:
				fmt.Fprintf(w, "unknown command %s\n%s\n", cmd, chatHelp)
			}
			continue
		}
		content, _ := jsonString(line)
		msgs := append(history, message{Role: "user", Content: content})
		reply, err := s.chatTurn(ctx, w, msgs, o, o.Seed+turn)
		turn++
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(w, "error: %v\n", err)
			continue
		}
		answer, _ := jsonString(reply)
		history = append(msgs, message{Role: "assistant", Content: answer})
	}
	fmt.Fprintln(w)
	return sc.Err()
}

func jsonString(s string) ([]byte, error) { return json.Marshal(s) }

// chatTurn generates one reply, streaming it to w, and returns its content.
func (s *Server) chatTurn(ctx context.Context, w *bufio.Writer, msgs []message, o ChatOptions, seed uint64) (string, error) {
	text, open, aerr := s.renderChat(msgs)
	if aerr != nil {
		return "", aerr
	}
	ids := s.o.Tokenizer.Encode(text, true)
	maxNew := min(o.MaxTokens, s.sched.MaxLen()-len(ids))
	if maxNew < 1 {
		return "", fmt.Errorf("the conversation (%d tokens) fills the context of %d tokens: /reset to start over", len(ids), s.sched.MaxLen())
	}
	dec := s.o.Tokenizer.NewDecoder(true)
	st := stream{open: open, split: true}
	var mu sync.Mutex
	inReasoning, thought := false, 0
	show := func(dr, dc string) {
		if dr != "" {
			thought += len(dr)
			if !o.HideReasoning {
				if !inReasoning {
					inReasoning = true
					if o.Color {
						w.WriteString("\x1b[2m")
					} else {
						w.WriteString("[thinking] ")
					}
				}
				w.WriteString(dr)
			}
		}
		if dc != "" {
			if inReasoning {
				inReasoning = false
				if o.Color {
					w.WriteString("\x1b[0m\n")
				} else {
					w.WriteString(" [/thinking]\n")
				}
			} else if o.HideReasoning && thought > 0 && st.content == dc {
				fmt.Fprintf(w, "(thought for %d characters; /think shows it)\n", thought)
			}
			w.WriteString(dc)
		}
		w.Flush()
	}
	h, err := s.sched.Submit(ctx, sample.Job{Prompt: ids, Params: sample.Params{Temperature: o.Temperature, TopP: o.TopP, MaxNewTokens: maxNew,
		StopIDs: s.o.StopIDs, Seed: seed},
		OnToken: func(_ int, token int32, _ float32) {
			mu.Lock()
			defer mu.Unlock()
			show(st.push(dec.Push(token), false))
		}})
	if err != nil {
		return "", err
	}
	_, err = h.Wait()
	mu.Lock()
	defer mu.Unlock()
	show(st.push(dec.Flush(), true))
	if inReasoning {
		if o.Color {
			w.WriteString("\x1b[0m")
		} else {
			w.WriteString(" [/thinking]")
		}
	}
	w.WriteString("\n")
	w.Flush()
	return st.content, err
}
