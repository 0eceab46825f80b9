#!/usr/bin/python3
"""PyTorch CPU training throughput baseline for r1's tiny (~8.6M parameter) Llama.

It runs the same forward pass as model/testdata/make_reference.py, which is
checked against the HF architecture. The config comes from
bench/torch/tiny10m_config.json, the same file the Go benchmark reads, so both
sides train the identical model. One step is forward + backward + gradient
clipping + AdamW on a batch of random tokens (batch 8, seq 256 by default).
The script does some warmup steps and then times the rest.

    /usr/bin/python3 bench/torch/train_tiny.py [--threads 2] [--warmup 2] [--steps 5]

It prints one JSON object: config, parameter count, per-step seconds, and tokens/s.
"""

import argparse
import json
import os
import sys
import time

# OpenMP threads spinning between ops steal the two cores from OpenBLAS's own
# threads inside each GEMM; passive waiting measured ~2x faster here. It must be
# set before torch (and its OpenMP runtime) loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep model/testdata free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "..", "model", "testdata"))
import make_reference as ref  # noqa: E402


def blas_library():
    """Path of the BLAS shared library this process loaded. Debian's torch links
    the generic libblas.so.3, which may be the slow netlib reference BLAS, so it
    matters for the result."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    return ",".join(sorted(libs)) or "none"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=os.path.join(HERE, "tiny10m_config.json"), help="HF config.json")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--seq", type=int, default=256, help="tokens per sequence")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.config) as f:
        cfg = json.load(f)
    arch = ref.Arch(cfg)
    params = {k: v.clone().requires_grad_(True) for k, v in ref.init_weights(arch, seed=0).items()}
    n_params = sum(p.numel() for p in params.values())
    opt = torch.optim.AdamW(params.values(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, arch.vocab, (args.batch, args.seq), generator=g)
    mask = torch.ones_like(ids)
    pos = torch.arange(args.seq)[None].expand(args.batch, -1)

    def step():
        logits = ref.forward(arch, params, ids, mask, pos)
        loss = ref.causal_lm_loss(logits, ids, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        return loss.item()

    losses, times = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)

    tokens = args.batch * args.seq
    # 6·N·tokens for the matrices; attention adds 12·layers·T·heads·head_dim per token (fwd+bwd).
    flops_per_step = 6 * n_params * tokens + 12 * arch.layers * args.seq * arch.heads * arch.head_dim * tokens
    mean = sum(times) / len(times)
    best = min(times)
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": args.threads,
        "blas": blas_library(),
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "config": cfg,
        "params": n_params,
        "batch": args.batch,
        "seq": args.seq,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "step_seconds": [round(t, 4) for t in times],
        "tokens_per_second": round(tokens / mean, 1),
        "gflops_per_second": round(flops_per_step / mean / 1e9, 2),
        # The fastest step is the figure least disturbed by other load on a shared machine.
        "best_step_tokens_per_second": round(tokens / best, 1),
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
    }, indent=2))


if __name__ == "__main__":
    main()
