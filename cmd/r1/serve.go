package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/r1go/r1/serve"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "serve a model over an OpenAI-compatible HTTP API (chat and text completions, streaming, reasoning_content)",
		run:     runServe,
	})
}

const serveNotes = `Endpoints: POST /v1/chat/completions, POST /v1/completions (both stream
with "stream": true), GET /v1/models, GET /health, GET /metrics (Prometheus),
POST /v1/load_weights {"path": DIR} (swap in a checkpoint's weights between
requests). The reasoning (inside <think> … </think>) is returned in
reasoning_content, the answer in content; a model without a chat template
(the built-in tiny model) is prompted in the R1-Zero format and its
<answer> is the content. Sampling: temperature, top_p, top_k, min_p,
max_tokens / max_completion_tokens, stop, n, seed, logprobs.
A full queue answers 429; a request over the context, 400. SIGTERM or
Ctrl-C drains: in-flight requests finish, then the server exits 0.`

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "[--model DIR] [--addr 127.0.0.1:8000] [flags]", stderr)
	modelDir := fs.String("model", "", "Hugging Face model directory (default: the built-in tiny base model)")
	adapterDir := fs.String("adapter", "", "LoRA adapter directory (PEFT layout) applied on top of --model")
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on (host:port; port 0 picks a free one)")
	name := fs.String("name", "", "model id clients send and /v1/models lists (default: the model directory's name, r1-tiny for the built-in model)")
	keyEnv := fs.String("api-key-env", "", "require \"Authorization: Bearer KEY\", KEY read from this environment variable")
	maxBatch := fs.Int("max-batch", 64, "most sequences decoding at once (continuous batching), ≥ 1")
	maxQueue := fs.Int("max-queue", 256, "most requests waiting for a place in the batch; more get 429, ≥ 1")
	kvTokens := fs.Int("kv-tokens", 0, "KV cache capacity in tokens (default: max-batch × min(512, context length)); one request may use at most this many")
	defMax := fs.Int("default-max-tokens", 512, "max_tokens of a request that gives none (capped by the context), ≥ 1")
	drain := fs.Duration("drain-timeout", time.Minute, "on SIGTERM, how long in-flight requests may take to finish")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	kvDType := kvCacheFlag(fs)
	usageNotes(fs, serveNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := firstErr(flagRange("max-batch", int64(*maxBatch), 1, 1<<16), flagRange("max-queue", int64(*maxQueue), 1, 1<<20),
		flagRange("kv-tokens", int64(*kvTokens), 0, 1<<30), flagRange("default-max-tokens", int64(*defMax), 1, 1<<30)); err != nil {
		return err
	}
	key := ""
	if *keyEnv != "" {
		if key = os.Getenv(*keyEnv); key == "" {
			return usageErrorf("--api-key-env %s: the environment variable is empty or unset", *keyEnv)
		}
	}
	o, err := loadServeModel(*modelDir, *adapterDir, *device)
	if err != nil {
		return err
	}
	if *name != "" {
		o.Name = *name
	}
	kv := *kvTokens
	if kv == 0 {
		kv = *maxBatch * min(512, o.Model.Config.MaxPositions)
	}
	kvType, err := kvCacheType(o.Model, *kvDType)
	if err != nil {
		return err
	}
	if err := checkSampleFits(o.Model.Config, 1, 0, kv, kvType); err != nil {
		return fmt.Errorf("%w (the server's KV cache holds --kv-tokens %d; lower it or --max-batch)", err, kv)
	}
	o.APIKey, o.MaxBatch, o.MaxQueue, o.KVTokens, o.DefaultMaxTokens, o.DrainTimeout = key, *maxBatch, *maxQueue, *kvTokens, *defMax, *drain
	o.KVCacheDType = *kvDType
	o.Log = func(format string, args ...any) { fmt.Fprintf(stderr, "r1 serve: "+format+"\n", args...) }
	srv, err := serve.New(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	format := "R1-Zero prompt format (no chat template)"
	if o.Template != nil {
		format = "chat template"
	}
	fmt.Fprintf(stderr, "r1 serve: %s (%s, %s) on http://%s/v1  (max batch %d, queue %d, context %d tokens)\n",
		o.Name, o.Model.Config.Describe(), format, ln.Addr(), *maxBatch, *maxQueue, srv.Scheduler().MaxLen())
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "r1 serve: drained, stopped")
	return nil
}

// loadServeModel loads --model (default: the built-in model, named
// r1-tiny) for serve and chat.
func loadServeModel(modelDir, adapterDir, device string) (serve.Options, error) {
	builtin := modelDir == ""
	if builtin {
		if modelDir = defaultModelDir(); modelDir == "" {
			return serve.Options{}, fmt.Errorf("--model: no built-in model in this build; pass a model directory")
		}
	}
	dev, err := openDevice(device)
	if err != nil {
		return serve.Options{}, err
	}
	o, err := serve.Load(modelDir, adapterDir, dev)
	if err != nil {
		return serve.Options{}, err
	}
	if builtin {
		o.Name = "r1-tiny"
	}
	return o, nil
}
