#!/usr/bin/python3
"""Golden fixtures for r1's Go model package, from an independent PyTorch forward pass.

This file re-implements the Hugging Face causal-LM forward pass for Llama (with
Llama-3 "llama3" RoPE scaling), Qwen2 and Qwen3 in plain PyTorch, without the
transformers library, so that r1's Go implementation is checked against code
written from the published architecture rather than against itself.

Run from the repository root (needs only torch and numpy; safetensors files are
written by hand):

    /usr/bin/python3 model/testdata/make_reference.py

It rewrites model/testdata/{qwen2,qwen2_bf16,llama3,qwen3}/ and, before writing
anything, runs self-checks (see run_self_checks); a failing check aborts.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# Configurations. Sizes are tiny so each fixture directory stays < 300 KB, but
# every feature the Go loader must handle is switched on somewhere.
# initializer_range is large (not HF's 0.02) so logits are O(1): with 0.02 the
# logits of a 32-wide model are ~1e-3 and a relative tolerance tests nothing.
# ---------------------------------------------------------------------------

QWEN2 = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 32,
    "initializer_range": 0.2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
    "max_window_layers": 2,
    "model_type": "qwen2",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "sliding_window": None,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "transformers_version": "4.51.3",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 97,
}

LLAMA3 = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "head_dim": 12,
    "hidden_act": "silu",
    "hidden_size": 48,
    "initializer_range": 0.15,
    "intermediate_size": 64,
    "max_position_embeddings": 256,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    # With head_dim 12 and theta 5e5 the RoPE wavelengths are 6.3, 56, 498, ...
    # so original_max_position_embeddings 64 with high/low factors 8/1 puts one
    # frequency in each branch: kept (<8), smoothed (8..64), divided (>64).
    "rope_scaling": {
        "factor": 4.0,
        "high_freq_factor": 8.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 64,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
    "transformers_version": "4.51.3",
    "use_cache": True,
    "vocab_size": 112,
}

# transformers v5 style: rope_parameters instead of rope_theta/rope_scaling,
# dtype instead of torch_dtype, layer_types listed.
QWEN3 = {
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "dtype": "float32",
    "eos_token_id": 2,
    "head_dim": 16,
    "hidden_act": "silu",
    "hidden_size": 32,
    "initializer_range": 0.2,
    "intermediate_size": 48,
    "layer_types": ["full_attention", "full_attention"],
    "max_position_embeddings": 128,
    "max_window_layers": 2,
    "model_type": "qwen3",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "pad_token_id": None,
    "rms_norm_eps": 1e-06,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
    "sliding_window": None,
    "tie_word_embeddings": False,
    "transformers_version": "5.0.0",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 96,
}


# ---------------------------------------------------------------------------
# Architecture description derived from a config.
# ---------------------------------------------------------------------------


class Arch:
    """The handful of facts the forward pass needs, read from an HF config dict."""

    def __init__(self, cfg):
        self.model_type = cfg["model_type"]
        self.vocab = cfg["vocab_size"]
        self.hidden = cfg["hidden_size"]
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads") or self.heads
        self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
        self.inter = cfg["intermediate_size"]
        self.eps = cfg["rms_norm_eps"]
        self.tied = cfg.get("tie_word_embeddings", False)
        # Qwen2 always has q/k/v biases and no o bias; Llama/Qwen3 follow attention_bias (all four).
        if self.model_type == "qwen2":
            self.qkv_bias, self.o_bias = True, False
        else:
            b = cfg.get("attention_bias", False)
            self.qkv_bias, self.o_bias = b, b
        self.qk_norm = self.model_type == "qwen3"
        rope = cfg.get("rope_parameters") or dict(cfg.get("rope_scaling") or {})
        if "rope_theta" not in rope:
            rope["rope_theta"] = cfg["rope_theta"]
        rope.setdefault("rope_type", rope.get("type", "default"))
        self.rope = rope
        self.init_std = cfg["initializer_range"]


# ---------------------------------------------------------------------------
# Weights.
# ---------------------------------------------------------------------------


def init_weights(arch, seed):
    """HF-style init (normal(0, initializer_range) for matrices), but biases and
    norm weights random too so that a loader which drops them is caught."""
    g = torch.Generator().manual_seed(seed)

    def normal(*shape, std=arch.init_std):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    def norm_w(n):
        return 0.5 + torch.rand(n, generator=g, dtype=torch.float32)

    h, hd = arch.hidden, arch.head_dim
    w = {"model.embed_tokens.weight": normal(arch.vocab, h)}
    for i in range(arch.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm_w(h)
        w[p + "self_attn.q_proj.weight"] = normal(arch.heads * hd, h)
        w[p + "self_attn.k_proj.weight"] = normal(arch.kv_heads * hd, h)
        w[p + "self_attn.v_proj.weight"] = normal(arch.kv_heads * hd, h)
        w[p + "self_attn.o_proj.weight"] = normal(h, arch.heads * hd)
        if arch.qkv_bias:
            w[p + "self_attn.q_proj.bias"] = normal(arch.heads * hd, std=0.1)
            w[p + "self_attn.k_proj.bias"] = normal(arch.kv_heads * hd, std=0.1)
            w[p + "self_attn.v_proj.bias"] = normal(arch.kv_heads * hd, std=0.1)
        if arch.o_bias:
            w[p + "self_attn.o_proj.bias"] = normal(h, std=0.1)
        if arch.qk_norm:
            w[p + "self_attn.q_norm.weight"] = norm_w(hd)
            w[p + "self_attn.k_norm.weight"] = norm_w(hd)
        w[p + "post_attention_layernorm.weight"] = norm_w(h)
        w[p + "mlp.gate_proj.weight"] = normal(arch.inter, h)
        w[p + "mlp.up_proj.weight"] = normal(arch.inter, h)
        w[p + "mlp.down_proj.weight"] = normal(h, arch.inter)
    w["model.norm.weight"] = norm_w(h)
    if not arch.tied:
        w["lm_head.weight"] = normal(arch.vocab, h)
    return w


# ---------------------------------------------------------------------------
# Forward pass.
# ---------------------------------------------------------------------------


def rms_norm(x, weight, eps):
    # HF upcasts to float32 for the statistics, then multiplies by the weight.
    dt = x.dtype
    xf = x.to(torch.float32) if dt != torch.float64 else x
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(dt)


def rope_inv_freq(arch):
    """inv_freq as HF computes it (float32), including llama3 scaling."""
    d = arch.head_dim
    theta = arch.rope["rope_theta"]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    kind = arch.rope["rope_type"]
    if kind == "default":
        return inv
    if kind != "llama3":
        raise ValueError(f"rope_type {kind!r} not implemented here")
    factor = arch.rope["factor"]
    lo = arch.rope["low_freq_factor"]
    hi = arch.rope["high_freq_factor"]
    old_ctx = arch.rope["original_max_position_embeddings"]
    lo_wavelen = old_ctx / lo
    hi_wavelen = old_ctx / hi
    wavelen = 2 * math.pi / inv
    # Long wavelengths (low frequencies) are slowed down by `factor`, short ones
    # are kept, and the band in between is interpolated linearly in 1/wavelen.
    scaled = torch.where(wavelen > lo_wavelen, inv / factor, inv)
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= hi_wavelen) & (wavelen <= lo_wavelen)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(arch, position_ids, dtype):
    inv = rope_inv_freq(arch)
    # float32 outer product like HF, so the fixture carries HF's rounding.
    freqs = position_ids.to(torch.float32)[:, :, None] * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def attention(q, k, v, attention_mask):
    """Grouped-query causal attention with a key padding mask.

    q: [B, H, T, D]; k, v: [B, KV, T, D]; attention_mask: [B, T] (1 = real token).
    Masked scores are set to the dtype's most negative value, as HF's eager
    path does; a query whose keys are all masked (a left-pad position) then
    gets meaningless output, which is why only mask==1 positions are compared.
    """
    b, h, t, d = q.shape
    rep = h // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    scores = (q @ k.transpose(-1, -2)) * (d ** -0.5)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores, dim=-1)
    return probs @ v


def forward(arch, w, input_ids, attention_mask, position_ids, dtype=torch.float32):
    """Logits [B, T, V] of the HF *ForCausalLM model, computed in `dtype`."""
    w = {k: v.to(dtype) for k, v in w.items()}
    b, t = input_ids.shape
    hd = arch.head_dim
    cos, sin = rope_cos_sin(arch, position_ids, dtype)
    cos, sin = cos[:, None], sin[:, None]  # broadcast over heads

    def linear(x, name):
        y = x @ w[name + ".weight"].T
        bias = w.get(name + ".bias")
        return y if bias is None else y + bias

    x = w["model.embed_tokens.weight"][input_ids]
    for i in range(arch.layers):
        p = f"model.layers.{i}."
        hn = rms_norm(x, w[p + "input_layernorm.weight"], arch.eps)
        q = linear(hn, p + "self_attn.q_proj").view(b, t, arch.heads, hd)
        k = linear(hn, p + "self_attn.k_proj").view(b, t, arch.kv_heads, hd)
        v = linear(hn, p + "self_attn.v_proj").view(b, t, arch.kv_heads, hd)
        if arch.qk_norm:
            # Qwen3: per-head RMSNorm over head_dim, before RoPE.
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], arch.eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], arch.eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = attention(q, k, v, attention_mask)
        a = a.transpose(1, 2).reshape(b, t, arch.heads * hd)
        x = x + linear(a, p + "self_attn.o_proj")
        hn = rms_norm(x, w[p + "post_attention_layernorm.weight"], arch.eps)
        gate = linear(hn, p + "mlp.gate_proj")
        up = linear(hn, p + "mlp.up_proj")
        x = x + linear(torch.nn.functional.silu(gate) * up, p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], arch.eps)
    head = w["model.embed_tokens.weight"] if arch.tied else w["lm_head.weight"]
    return x @ head.T


def causal_lm_loss(logits, input_ids, attention_mask):
    """HF ForCausalLM loss: labels = input_ids with -100 on padding, shifted by one,
    mean cross-entropy over the targets that are not -100, in float32."""
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    shift_labels = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100)


def token_logprobs(logits, input_ids, attention_mask):
    """log p(input_ids[:, t+1] | prefix) for t < T-1, 0 where the target is padding."""
    lp = torch.log_softmax(logits.float(), -1)[:, :-1]
    out = lp.gather(-1, input_ids[:, 1:, None])[..., 0]
    return out.masked_fill(attention_mask[:, 1:] == 0, 0.0)


def loss_grads(arch, w, ids, mask, pos, dtype):
    """d loss / d weight for every tensor, by autograd, computed in `dtype`."""
    params = {k: v.to(dtype).clone().requires_grad_(True) for k, v in w.items()}
    loss = causal_lm_loss(forward(arch, params, ids, mask, pos, dtype=dtype), ids, mask)
    loss.backward()
    return {k: p.grad.detach() for k, p in params.items()}


def position_ids_from_mask(mask):
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


# ---------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------


def to_bf16_bits(t):
    """float32 -> bfloat16 bit patterns with round-to-nearest-even (what torch's
    .to(torch.bfloat16) does), as uint16."""
    u = t.contiguous().view(torch.int32).numpy().astype(np.uint32)
    rounded = u + 0x7FFF + ((u >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def write_safetensors(path, tensors, dtype):
    """Hand-written safetensors: u64 LE header size, JSON header (names sorted,
    data_offsets relative to the end of the header), raw LE data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        if dtype == "F32":
            raw = t.numpy().astype("<f4").tobytes()
        elif dtype == "BF16":
            raw = to_bf16_bits(t).astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """Independent reader used only to check the writer round-trips."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        else:
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(arr.copy()).view(*info["shape"])
    return out


def f32_list(t):
    """Nested lists of the shortest decimal strings that round-trip to float32."""
    if t.dim() == 0:
        return float(str(np.float32(t.item())))
    return [f32_list(x) for x in t]


def write_config(path, cfg):
    # transformers writes sorted keys, 2-space indent and a trailing newline.
    with open(path, "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------
# Inputs.
# ---------------------------------------------------------------------------


def make_inputs(vocab, seed, t=12, pads=(0, 4, 1)):
    """B = len(pads) rows of length t; row i is left-padded with pads[i] zeros.
    Real tokens are drawn from [3, vocab) so they never collide with pad/bos/eos."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (len(pads), t), generator=g)
    mask = torch.ones(len(pads), t, dtype=torch.long)
    for i, p in enumerate(pads):
        ids[i, :p] = 0
        mask[i, :p] = 0
    return ids, mask


# ---------------------------------------------------------------------------
# Self-checks: they guard the reference itself, so a wrong fixture is never written.
# ---------------------------------------------------------------------------


def naive_attention(q, k, v, mask):
    """Loop-by-loop float64 attention that softmaxes only over allowed keys, with
    GQA by index arithmetic: independent of attention() above (torch 1.13 has no
    F.scaled_dot_product_attention to compare with)."""
    q, k, v = q.double(), k.double(), v.double()
    b, h, t, d = q.shape
    rep = h // k.shape[1]
    out = torch.zeros(b, h, t, d, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(t):
                keys = [j for j in range(i + 1) if mask[bi, j] == 1]
                if not keys or mask[bi, i] == 0:
                    continue
                s = torch.stack([q[bi, hi, i] @ k[bi, hi // rep, j] for j in keys]) / math.sqrt(d)
                p = torch.exp(s - s.max())
                p = p / p.sum()
                out[bi, hi, i] = sum(p[n] * v[bi, hi // rep, j] for n, j in enumerate(keys))
    return out


def check(cond, msg):
    if not cond:
        sys.exit("self-check failed: " + msg)
    print("  ok:", msg)


def run_self_checks(name, arch, w, ids, mask, pos, logits):
    valid = mask.bool()
    # 1. float32 vs float64 forward: the fixture's float32 error is far below tolerance.
    l64 = forward(arch, w, ids, mask, pos, dtype=torch.float64)
    err = ((logits.double() - l64).abs()[valid]).max().item()
    check(err < 1e-5, f"{name}: float32 vs float64 logits max diff {err:.2e} < 1e-5")

    # 2. Each padded row equals the same tokens run alone without padding, and
    #    with a different amount of left padding.
    for r in range(ids.shape[0]):
        real = ids[r][valid[r]]
        n = real.numel()
        alone = forward(arch, w, real[None], torch.ones(1, n, dtype=torch.long),
                        torch.arange(n)[None])
        d = (alone[0] - logits[r][valid[r]]).abs().max().item()
        check(d < 1e-5, f"{name}: row {r} unpadded vs padded max diff {d:.2e}")
        extra = 3
        ids2 = torch.cat((torch.zeros(extra, dtype=torch.long), real))[None]
        m2 = torch.cat((torch.zeros(extra, dtype=torch.long), torch.ones(n, dtype=torch.long)))[None]
        re = forward(arch, w, ids2, m2, position_ids_from_mask(m2))
        d = (re[0, extra:] - alone[0]).abs().max().item()
        check(d < 1e-5, f"{name}: row {r} with {extra} pads vs unpadded max diff {d:.2e}")

    # 3. Attention kernel vs the naive loop on random GQA inputs with padding.
    g = torch.Generator().manual_seed(7)
    q = torch.randn(ids.shape[0], arch.heads, ids.shape[1], arch.head_dim, generator=g)
    k = torch.randn(ids.shape[0], arch.kv_heads, ids.shape[1], arch.head_dim, generator=g)
    v = torch.randn(ids.shape[0], arch.kv_heads, ids.shape[1], arch.head_dim, generator=g)
    fast = attention(q, k, v, mask).double()
    slow = naive_attention(q, k, v, mask)
    qv = mask.bool()[:, None, :, None].expand_as(fast)
    d = (fast - slow).abs()[qv].max().item()
    check(d < 1e-5, f"{name}: attention vs naive loop max diff {d:.2e}")

    # 4. Loss by hand: -log softmax at each valid next token.
    lp = torch.log_softmax(logits.double(), -1)
    terms = [-lp[b, t, ids[b, t + 1]].item()
             for b in range(ids.shape[0]) for t in range(ids.shape[1] - 1) if mask[b, t + 1] == 1]
    by_hand = sum(terms) / len(terms)
    loss = causal_lm_loss(logits, ids, mask).item()
    check(abs(by_hand - loss) < 1e-5, f"{name}: loss {loss:.6f} vs by-hand {by_hand:.6f}")

    # 5. Logits are O(1), so a relative tolerance is meaningful.
    spread = logits[valid].std().item()
    check(0.3 < spread < 30, f"{name}: logit std {spread:.3f} is O(1)")


def rope_check():
    arch = Arch(LLAMA3)
    plain = Arch(dict(LLAMA3, rope_scaling=None))
    scaled, base = rope_inv_freq(arch), rope_inv_freq(plain)
    ratio = (base / scaled).tolist()
    print("  llama3 inv_freq / scaled:", ["%.3f" % r for r in ratio])
    check(abs(ratio[0] - 1) < 1e-6, "llama3 rope: highest frequency unchanged")
    check(any(1.001 < r < 3.999 for r in ratio), "llama3 rope: some frequency smoothed")
    check(abs(ratio[-1] - 4.0) < 1e-5, "llama3 rope: lowest frequency divided by factor")


# ---------------------------------------------------------------------------


def build(name, cfg, seed, weight_dtype="F32", weights=None, grads=False):
    arch = Arch(cfg)
    print(name)
    w = weights if weights is not None else init_weights(arch, seed)
    if weight_dtype == "BF16":
        # The model sees exactly the bf16-rounded weights the file holds.
        w = {k: torch.from_numpy((to_bf16_bits(v).astype(np.uint32) << 16).view(np.float32)).view(v.shape)
             for k, v in w.items()}
    ids, mask = make_inputs(arch.vocab, seed + 1)
    pos = position_ids_from_mask(mask)
    logits = forward(arch, w, ids, mask, pos)
    loss = causal_lm_loss(logits, ids, mask)
    run_self_checks(name, arch, w, ids, mask, pos, logits)
    tlp = token_logprobs(logits, ids, mask)
    mean_nll = (-tlp.sum() / mask[:, 1:].sum()).item()
    check(abs(mean_nll - loss.item()) < 1e-5, f"{name}: token_logprobs agree with loss")

    d = os.path.join(OUT_DIR, name)
    os.makedirs(d, exist_ok=True)
    write_config(os.path.join(d, "config.json"), cfg)
    st = os.path.join(d, "model.safetensors")
    write_safetensors(st, w, weight_dtype)
    back = read_safetensors(st)
    check(sorted(back) == sorted(w) and all(torch.equal(back[k], w[k]) for k in w),
          f"{name}: safetensors round-trip is exact")
    if grads:
        g32 = loss_grads(arch, w, ids, mask, pos, torch.float32)
        g64 = loss_grads(arch, w, ids, mask, pos, torch.float64)
        worst = max(((g32[k].double() - g64[k]).abs().max() / g64[k].abs().max()).item() for k in w)
        check(worst < 1e-4, f"{name}: float32 vs float64 grads, worst per-tensor max diff / max |grad| {worst:.2e}")
        check(all(g64[k].abs().max() > 0 for k in w), f"{name}: every weight gets a non-zero gradient")
        write_safetensors(os.path.join(d, "grads.safetensors"), g32, "F32")
    ref = {
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "position_ids": pos.tolist(),
        "logits": f32_list(logits),
        "loss": float(str(np.float32(loss.item()))),
        "token_logprobs": f32_list(token_logprobs(logits, ids, mask)),
        "logits_dtype": "float32",
    }
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    check(size < 300_000, f"{name}: fixture is {size} bytes (< 300 KB)")
    return w


def main():
    torch.manual_seed(0)
    rope_check()
    w = build("qwen2", QWEN2, seed=100, grads=True)
    build("qwen2_bf16", dict(QWEN2, torch_dtype="bfloat16"), seed=100, weight_dtype="BF16", weights=w)
    build("llama3", LLAMA3, seed=200)
    build("qwen3", QWEN3, seed=300, grads=True)


if __name__ == "__main__":
    main()
