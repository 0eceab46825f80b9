#!/usr/bin/env python3
"""Writes lora_peft/adapter_model.safetensors: a LoRA adapter for the qwen2
test model (hidden 32, 2 layers, 2 KV heads of 8) in PEFT's layout, as
`PeftModel.save_pretrained` stores it, written from the documented formats
only (PEFT's "PEFT checkpoint format" guide; the safetensors spec), with no
PEFT, torch or safetensors package, so that the Go reader is checked against
an independent writer.

Keys: base_model.model.<module path>.lora_{A,B}.weight (the adapter name
"default" is stripped on save); lora_A is (r, in_features), lora_B is
(out_features, r), float32 little-endian. Header: an 8-byte little-endian
length, then JSON {name: {dtype, shape, data_offsets}, "__metadata__":
{"format": "pt"}}, then the data in header order.

lora_peft/adapter_config.json is written by hand (PEFT's key set, sorted,
r=4, lora_alpha=8, target_modules [q_proj, v_proj]).

Run from the repository root: python3 model/testdata/make_lora_fixture.py
"""
import json
import math
import os
import struct

R = 4
HIDDEN, KV = 32, 16  # q_proj (32,32), v_proj (16,32)
SHAPES = {"q_proj": KV * 2, "v_proj": KV}

tensors = []
for layer in range(2):
    for mod, out in SHAPES.items():
        path = f"base_model.model.model.layers.{layer}.self_attn.{mod}"
        seed = 1 + 10 * layer + len(mod) + out
        a = [0.2 * math.sin(seed + 0.37 * k) for k in range(R * HIDDEN)]
        b = [0.1 * math.cos(seed + 0.53 * k) for k in range(out * R)]
        tensors.append((path + ".lora_A.weight", [R, HIDDEN], a))
        tensors.append((path + ".lora_B.weight", [out, R], b))
tensors.sort(key=lambda t: t[0])

header, blobs, off = {}, [], 0
for name, shape, vals in tensors:
    blob = struct.pack("<%df" % len(vals), *vals)
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
    blobs.append(blob)
    off += len(blob)
header["__metadata__"] = {"format": "pt"}
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
out = os.path.join(os.path.dirname(__file__), "lora_peft", "adapter_model.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

# Read it back with a separate parse: the file must hold exactly what was meant.
with open(out, "rb") as f:
    data = f.read()
n = struct.unpack("<Q", data[:8])[0]
hdr = json.loads(data[8 : 8 + n])
body = data[8 + n :]
for name, shape, vals in tensors:
    s, e = hdr[name]["data_offsets"]
    got = struct.unpack("<%df" % (len(vals)), body[s:e])
    assert all(g == struct.unpack("<f", struct.pack("<f", v))[0] for g, v in zip(got, vals)), name
print("wrote", out, len(tensors), "tensors")
