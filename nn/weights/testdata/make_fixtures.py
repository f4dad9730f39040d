#!/usr/bin/env python3
"""Small PyTorch-made files for the weight loader's tests (nn/weights).

Run from this directory with Debian's PyTorch (1.13) and NumPy:
    /usr/bin/python3 make_fixtures.py

Writes (a few KB each; every file but legacy.pth is byte-identical on each run):
  dtypes.safetensors   F16, BF16, F64, I64, I32, U8 and BOOL tensors of chosen bit patterns
                       (zeros, subnormals, extremes, Inf, NaN with payloads, rounding ties),
                       each next to "<name>.expected": PyTorch's own float32 conversion (F32)
  dtypes.pth           the same source tensors saved by torch.save (Half/BFloat16/Double/...
                       storages); expected values are those of dtypes.safetensors
  views.pth            tensors that are views: a transpose, a row slice (storage offset),
                       a column (stride), an expanded (stride 0) tensor, a scalar, an empty
                       tensor, an nn.Parameter, a transposed half tensor, all sharing storages,
                       and a tensor subclass (_rebuild_from_type_v2)
  views_expected.safetensors   the same tensors made contiguous, as F32
  dino.pth             a full-DINO-shaped checkpoint: student (module.backbone.*), teacher
                       (backbone.*, head.*), optimizer state, epoch, argparse args, dino_loss
  protocol4.pth        a small state dict saved with pickle protocol 4 (frames, memoize,
                       stack globals)
  legacy.pth           the same state dict in the pre-1.6 (non-zip) format (its storage keys
                       are object ids, so this one file differs from run to run)
  module.pth           a whole nn.Linear saved with torch.save(model): not a state dict
"""
import argparse, collections, json, struct

import numpy as np
import torch

torch.manual_seed(0)


def raw_bytes(t):
    """Little-endian C-order bytes of a tensor of any dtype."""
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


ST_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
            torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        raw = raw_bytes(t)
        header[name] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def from_bits16(bits, dtype):
    return torch.from_numpy(np.array(bits, dtype=np.uint16).view(np.int16)).view(dtype)


f16_bits = [0x0000, 0x8000, 0x0001, 0x8001, 0x0002, 0x00ff, 0x0200, 0x03ff, 0x83ff, 0x0400, 0x0401,
            0x3c00, 0xbc00, 0x3555, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0x7dff, 0x7fff]
bf16_bits = [0x0000, 0x8000, 0x0001, 0x807f, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x4049, 0x7f7f, 0xff7f,
             0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 0x7fff]
f64_vals = [0.0, -0.0, 1.0, 1 / 3, -2.5, 1e-40, 1e-46, 3.4028235677973366e38, 3.4028236e38, 1e300, -1e300,
            float("inf"), float("-inf"), 1 + 2 ** -24, 1 + 3 * 2 ** -24, 5e-324]

src = collections.OrderedDict([
    ("f16", from_bits16(f16_bits, torch.float16)),
    ("bf16", from_bits16(bf16_bits, torch.bfloat16).reshape(1, -1)),
    ("f64", torch.tensor(f64_vals, dtype=torch.float64).reshape(2, 8)),
    ("f32", torch.tensor([1.5, -0.0, float("inf")], dtype=torch.float32)),
    ("i64", torch.tensor([0, -1, 2 ** 24 + 1, -(2 ** 40), 2 ** 62], dtype=torch.int64)),
    ("i32", torch.tensor([7, -7, 2 ** 31 - 1], dtype=torch.int32)),
    ("u8", torch.tensor([0, 1, 255], dtype=torch.uint8)),
    ("bool", torch.tensor([True, False, True])),
])
expected = collections.OrderedDict()
for name, t in src.items():
    expected[name] = t
    expected[name + ".expected"] = t.float()
save_safetensors("dtypes.safetensors", expected)
torch.save(src, "dtypes.pth")

base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4
half = (torch.arange(6, dtype=torch.float32) - 2.5).reshape(2, 3).half()


class Tagged(torch.Tensor):
    """A tensor subclass: torch.save writes it through torch._tensor._rebuild_from_type_v2."""


tagged = torch.tensor([7.0, 8.0]).as_subclass(Tagged)
views = collections.OrderedDict([
    ("base", base),
    ("transposed", base.t()),
    ("rows", base[1:3]),
    ("column", base[:, 1]),
    ("expanded", torch.arange(3, dtype=torch.float32).expand(2, 3)),
    ("scalar", torch.tensor(3.5)),
    ("empty", torch.zeros(0, 4)),
    ("param", torch.nn.Parameter(torch.tensor([[1.0, -2.0]]))),
    ("half_t", half.t()),
    ("subclass", tagged),
])
torch.save(views, "views.pth")
save_safetensors("views_expected.safetensors",
                 collections.OrderedDict((k, v.detach().float().contiguous()) for k, v in views.items()))


def small_vit(prefix, head):
    sd = collections.OrderedDict()
    sd[prefix + "cls_token"] = torch.randn(1, 1, 4)
    sd[prefix + "pos_embed"] = torch.randn(1, 2, 4)
    sd[prefix + "blocks.0.norm1.weight"] = torch.randn(4)
    for k, shape in head:
        sd[k] = torch.randn(*shape)
    return sd


teacher = small_vit("backbone.", [("head.mlp.0.weight", (3, 4)), ("head.last_layer.weight_g", (1, 3))])
student = small_vit("module.backbone.", [("module.head.mlp.0.weight", (3, 4))])
exp_avg = torch.randn(1, 1, 4)
dino = {
    "student": student,
    "teacher": teacher,
    "optimizer": {"state": {0: {"step": 3, "exp_avg": exp_avg}},
                  "param_groups": [{"lr": 0.0005, "betas": (0.9, 0.999), "params": [0]}]},
    "epoch": 5,
    "args": argparse.Namespace(arch="vit_small", patch_size=16, lr=0.0005, use_fp16=True,
                               seed=2 ** 70, out_dim=65536, norm_last_layer=None),
    "dino_loss": {"center": torch.zeros(1, 3)},
}
torch.save(dino, "dino.pth")

plain = collections.OrderedDict([("w", torch.tensor([[1.0, 2.0], [3.0, 4.0]])), ("b", torch.tensor([0.5, -0.5]))])
torch.save(plain, "protocol4.pth", pickle_protocol=4)
torch.save(plain, "legacy.pth", _use_new_zipfile_serialization=False)
torch.save(torch.nn.Linear(2, 3), "module.pth")
print("wrote fixtures")
