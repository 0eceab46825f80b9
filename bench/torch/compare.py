#!/usr/bin/python3
"""The PyTorch side of `r1 bench --compare-torch`: the same work as r1's run.

r1 embeds this file and runs it with /usr/bin/python3 between its own runs, so
both sides measure the same shape and the same work on the same machine:

  training  forward + cross-entropy + backward + gradient clipping (1.0) +
            AdamW on a batch of random tokens, one untimed warm-up step, then
            --steps timed steps;
  decode    per batch size: random prompts of --prompt tokens prefilled in
            one batched forward (timed alone), then --new-tokens greedy steps
            with a KV cache, each step also taking the log-prob of the picked
            token (what a rollout records), timed apart from the prefill.

It prints one JSON object on stdout (the fields r1's bench package parses).
The model is a Llama/Qwen2 forward written here (self-contained because r1
runs it from a temporary file), with HF's layout and random weights.

    /usr/bin/python3 bench/torch/compare.py --config CONFIG.json [--batch 8 --seq 256 ...]
"""

import argparse
import json
import os
import resource
import sys
import time

# OpenMP threads spinning between ops steal the cores from the BLAS threads
# inside each GEMM; passive waiting measured ~2x faster on 2 cores. It must be
# set before torch (and its OpenMP runtime) loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


def blas_library():
    """The BLAS shared libraries this process loaded (Debian's torch links the
    generic libblas.so.3, which may be the slow netlib reference BLAS)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    return ",".join(sorted(libs)) or "none"


def blas_core(libs):
    """The kernel set OpenBLAS picked for this CPU (e.g. SkylakeX, Haswell; the
    OPENBLAS_CORETYPE environment variable overrides it), or "" when the BLAS
    is not OpenBLAS."""
    import ctypes
    for path in libs.split(","):
        if "openblas" not in path:
            continue
        try:
            f = ctypes.CDLL(path).openblas_get_corename
        except (OSError, AttributeError):
            continue
        f.restype = ctypes.c_char_p
        return (f() or b"").decode().strip()
    return ""


class Arch:
    def __init__(self, cfg):
        self.vocab = cfg["vocab_size"]
        self.hidden = cfg["hidden_size"]
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads") or self.heads
        self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
        self.inter = cfg["intermediate_size"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.tied = cfg.get("tie_word_embeddings", False)
        self.qkv_bias = cfg.get("model_type") == "qwen2" or cfg.get("attention_bias", False)
        self.std = cfg.get("initializer_range", 0.02)


def init_weights(a, seed):
    g = torch.Generator().manual_seed(seed)

    def normal(*shape):
        return torch.randn(*shape, generator=g) * a.std

    h, q, kv = a.hidden, a.heads * a.head_dim, a.kv_heads * a.head_dim
    w = {"embed": normal(a.vocab, h), "norm": torch.ones(h)}
    for i in range(a.layers):
        p = f"{i}."
        w[p + "ln1"], w[p + "ln2"] = torch.ones(h), torch.ones(h)
        w[p + "q"], w[p + "k"], w[p + "v"] = normal(q, h), normal(kv, h), normal(kv, h)
        if a.qkv_bias:
            w[p + "qb"], w[p + "kb"], w[p + "vb"] = torch.zeros(q), torch.zeros(kv), torch.zeros(kv)
        w[p + "o"] = normal(h, q)
        w[p + "gate"], w[p + "up"], w[p + "down"] = normal(a.inter, h), normal(a.inter, h), normal(h, a.inter)
    if not a.tied:
        w["head"] = normal(a.vocab, h)
    return w


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(a, positions):
    """cos, sin [B, 1, T, D] for positions [B, T]."""
    inv = 1.0 / (a.theta ** (torch.arange(0, a.head_dim, 2).float() / a.head_dim))
    f = positions.float()[:, :, None] * inv[None, None, :]
    emb = torch.cat((f, f), dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(a, w, ids, start=0, cache=None, last_only=False):
    """Logits of ids [B, T] at positions start..start+T-1. With cache (per
    layer [k, v] of [B, KV, Tmax, D]) the new keys and values are written at
    start and attention runs over the cached prefix too."""
    b, t = ids.shape
    hd, rep = a.head_dim, a.heads // a.kv_heads
    pos = torch.arange(start, start + t)[None].expand(b, -1)
    cos, sin = rope(a, pos)

    def lin(x, name):
        y = x @ w[name].T
        bias = w.get(name + "b")
        return y if bias is None else y + bias

    x = w["embed"][ids]
    for i in range(a.layers):
        p = f"{i}."
        hn = rms_norm(x, w[p + "ln1"], a.eps)
        q = lin(hn, p + "q").view(b, t, a.heads, hd).transpose(1, 2)
        k = lin(hn, p + "k").view(b, t, a.kv_heads, hd).transpose(1, 2)
        v = lin(hn, p + "v").view(b, t, a.kv_heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            cache[i][0][:, :, start:start + t] = k
            cache[i][1][:, :, start:start + t] = v
            k, v = cache[i][0][:, :, :start + t], cache[i][1][:, :, :start + t]
        L = k.shape[2]
        if t == 1:
            # Decode: the rep query heads of one KV head share its keys.
            qg = q.reshape(b, a.kv_heads, rep, hd)
            s = torch.softmax((qg @ k.transpose(-1, -2)) * hd ** -0.5, dim=-1)
            o = (s @ v).reshape(b, a.heads, 1, hd)
        else:
            kr, vr = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            s = (q @ kr.transpose(-1, -2)) * hd ** -0.5
            causal = torch.ones(t, L, dtype=torch.bool).tril(L - t)
            s = s.masked_fill(~causal, torch.finfo(s.dtype).min)
            o = torch.softmax(s, dim=-1) @ vr
        x = x + lin(o.transpose(1, 2).reshape(b, t, a.heads * hd), p + "o")
        hn = rms_norm(x, w[p + "ln2"], a.eps)
        x = x + lin(torch.nn.functional.silu(lin(hn, p + "gate")) * lin(hn, p + "up"), p + "down")
    if last_only:
        x = x[:, -1:]
    x = rms_norm(x, w["norm"], a.eps)
    return x @ (w["embed"] if a.tied else w["head"]).T


def train(a, args):
    """Training tokens/s and the step times."""
    w = {k: v.requires_grad_(True) for k, v in init_weights(a, 0).items()}
    params = list(w.values())
    opt = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, a.vocab, (args.batch, args.seq), generator=g)

    def step():
        logits = forward(a, w, ids)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return args.batch * args.seq * args.steps / sum(times), times


@torch.no_grad()
def decode(a, w, batch, args):
    """Prefill seconds and greedy decode tokens/s for one batch size."""
    g = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, a.vocab, (batch, args.prompt), generator=g)
    tmax = args.prompt + args.new_tokens + 1
    cache = [[torch.zeros(batch, a.kv_heads, tmax, a.head_dim) for _ in range(2)] for _ in range(a.layers)]
    t0 = time.perf_counter()
    logits = forward(a, w, prompt, 0, cache, last_only=True)[:, -1]
    tok = logits.argmax(-1)
    lp = torch.log_softmax(logits, -1).gather(-1, tok[:, None])
    t1 = time.perf_counter()
    n = args.prompt
    for _ in range(args.new_tokens):
        logits = forward(a, w, tok[:, None], n, cache)[:, -1]
        tok = logits.argmax(-1)
        lp = torch.log_softmax(logits, -1).gather(-1, tok[:, None])
        n += 1
    t2 = time.perf_counter()
    del lp
    return t1 - t0, batch * args.new_tokens / (t2 - t1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="HF config.json of the shape")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--batch", type=int, default=8, help="training sequences per step (0: no training)")
    ap.add_argument("--seq", type=int, default=256, help="training tokens per sequence")
    ap.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps")
    ap.add_argument("--decode-batch", default="1,32", help="comma-separated decode batch sizes (empty: none)")
    ap.add_argument("--prompt", type=int, default=16, help="decode prompt tokens")
    ap.add_argument("--new-tokens", type=int, default=128, help="timed greedy decode steps")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        a = Arch(json.load(f))
    blas = blas_library()
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas, "blas_core": blas_core(blas),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
    if args.batch > 0:
        out["train_tok_per_s"], out["train_step_s"] = train(a, args)
    out["decode"] = []
    batches = [int(s) for s in args.decode_batch.split(",") if s.strip()]
    if batches:
        w = init_weights(a, 0)
        for b in batches:
            prefill, tps = decode(a, w, b, args)
            out["decode"].append({"batch": b, "prefill_s": prefill, "decode_tok_per_s": tps})
    out["peak_rss_mb"] = peak_rss_mb()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def peak_rss_mb():
    """This process's own peak RSS. Not ru_maxrss: Linux carries the peak of
    the address space a process was exec'd from (r1 bench's, gigabytes at
    112M) into the new process's ru_maxrss, so it reported r1's peak as
    PyTorch's. VmHWM is the high-water mark of this address space alone."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    main()
