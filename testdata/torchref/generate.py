#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of testdata/torchref.

Run from the repository root with Debian's PyTorch and NumPy
(apt-get install -y python3-torch python3-numpy):

    /usr/bin/python3 testdata/torchref/generate.py            # rewrite the fixtures in place
    /usr/bin/python3 testdata/torchref/generate.py DIR        # write them into DIR instead
    /usr/bin/python3 testdata/torchref/generate.py --check    # exit 1 unless a fresh run
                                                              # reproduces the files byte for byte

Every random number comes from NumPy's PCG64, seeded from --seed and the name of the
fixture group that uses it, so one group's draws do not depend on the others. The
reference results are computed by PyTorch in float64 on one thread and stored rounded
to float32. The .npy, .safetensors and .png encoders below are written out in full so
that those files do not depend on the NumPy or zlib version; vit.pth is torch.save's, and
vit.npz is a stored zip of such .npy files written with fixed entry dates.
README.md lists the files and what each holds.
"""
import argparse
import filecmp
import json
import math
import os
import struct
import sys
import tempfile
import zipfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Geometry of the reference ViT; the Go tests hard-code these numbers.
DIM, HEADS, DEPTH, PATCH, CROP, BATCH = 64, 2, 3, 16, 32, 2
SIDE = 2 * CROP  # the images are SIDE x SIDE: Resize(SIDE) keeps them, CenterCrop(CROP) cuts 16 px a side
PROMPTS = 5  # VPT-deep prompts per block
CLASSES, CLASS_PROMPTS, CLASS_DEPTH = 3, 2, 2  # class prompts: per class, per block, for the first blocks
LABELS = [2, 0]  # the classes of the two images (not their positions, so a gather is exercised)
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
EPS = 1e-6
GRU_DIM, GRU_STEPS = 16, 5
PA_BATCH, PA_CLASSES, PA_ALPHA, PA_DELTA = 12, 5, 32.0, 0.1
PA_COUNTS = [5, 4, 3, 0, 0]  # samples per class in the Proxy-Anchor batch: classes 3 and 4 have none
FORWARD_RTOL, GRAD_RTOL = 1e-4, 1e-3

F64 = torch.float64


# ------------------------------------------------------------------ file formats

def npy_bytes(values):
    """NumPy .npy version 1.0 of a little-endian float32 C-order array, laid out as np.save does."""
    a = np.ascontiguousarray(np.asarray(values, dtype="<f4"))
    dims = ", ".join(str(d) for d in a.shape) + ("," if a.ndim == 1 else "")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % dims
    if a.ndim:
        header += " " * (21 - len(str(a.shape[0])))  # room for the first axis to grow in place
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"  # data starts on a 64-byte boundary
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + a.tobytes()


def write_npy(path, values):
    with open(path, "wb") as f:
        f.write(npy_bytes(values))


def write_npz(path, arrays):
    """A NumPy .npz archive as np.savez writes one (each array a stored NAME.npy entry), in name
    order, with a fixed date and fixed attributes on every entry, so that it does not depend on
    the time or the umask."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix
            info.external_attr = 0o644 << 16
            z.writestr(info, npy_bytes(arrays[name]))


def write_safetensors(path, tensors):
    """safetensors with float32 tensors in name order and metadata {"format": "pt"}."""
    header, data = {"__metadata__": {"format": "pt"}}, bytearray()
    for name in sorted(tensors):
        raw = tensors[name].detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(data))


def write_png(path, rgb):
    """8-bit RGB PNG, no filtering, the image data in stored (uncompressed) deflate blocks."""
    h, w, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    stream = bytearray(b"\x78\x01")
    for start in range(0, len(rows), 65535):
        block = rows[start:start + 65535]
        last = start + 65535 >= len(rows)
        stream += struct.pack("<BHH", last, len(block), len(block) ^ 0xFFFF) + block
    stream += struct.pack(">I", zlib.adler32(rows))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", bytes(stream)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------ the model, with timm's parameter names

class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, HEADS, DIM // HEADS).unbind(2)  # each [b, n, heads, hd]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(DIM // HEADS), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, DIM))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(DIM, 4 * DIM)
        self.fc2 = nn.Linear(4 * DIM, DIM)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM, eps=EPS)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(DIM, eps=EPS)
        self.mlp = Mlp()

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, DIM, PATCH, stride=PATCH)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [b, patches, DIM], row-major patches


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        tokens = (CROP // PATCH) ** 2 + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, DIM))
        self.patch_embed = PatchEmbed()
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(DIM, eps=EPS)

    def forward(self, images, prompts=None):
        """The final-norm token at the [CLS] position. prompts(l) gives a [b, n, DIM] tensor or
        None: block l sees [prompts, CLS, patches] and its prompt outputs are dropped."""
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(len(x), 1, DIM), x], 1) + self.pos_embed
        for l, block in enumerate(self.blocks):
            p = prompts(l) if prompts else None
            if p is None:
                x = block(x)
            else:
                x = block(torch.cat([p, x], 1))[:, p.shape[1]:]
        return self.norm(x)[:, 0]


def augreg_arrays(state, rng):
    """The ViT's weights in the layout of Google's AugReg .npz checkpoints (the inverse of the
    mapping timm's _load_weights applies), with a random 5-class classifier head."""
    d, h = DIM, HEADS
    a = {
        "embedding/kernel": state["patch_embed.proj.weight"].permute(2, 3, 1, 0),  # OIHW -> HWIO
        "embedding/bias": state["patch_embed.proj.bias"],
        "cls": state["cls_token"],
        "Transformer/posembed_input/pos_embedding": state["pos_embed"],
        "Transformer/encoder_norm/scale": state["norm.weight"],
        "Transformer/encoder_norm/bias": state["norm.bias"],
        "head/kernel": torch.from_numpy(rng.normal(0.0, 0.1, size=(d, 5))),
        "head/bias": torch.from_numpy(rng.normal(0.0, 0.1, size=5)),
    }
    for i in range(DEPTH):
        b, src = "Transformer/encoderblock_%d/" % i, "blocks.%d." % i
        mha, mlp = b + "MultiHeadDotProductAttention_1/", b + "MlpBlock_3/"
        a[b + "LayerNorm_0/scale"] = state[src + "norm1.weight"]
        a[b + "LayerNorm_0/bias"] = state[src + "norm1.bias"]
        a[b + "LayerNorm_2/scale"] = state[src + "norm2.weight"]
        a[b + "LayerNorm_2/bias"] = state[src + "norm2.bias"]
        qkv_w, qkv_b = state[src + "attn.qkv.weight"], state[src + "attn.qkv.bias"]
        for j, part in enumerate(("query", "key", "value")):
            a[mha + part + "/kernel"] = qkv_w[j * d:(j + 1) * d].T.reshape(d, h, d // h)  # [in, heads, hd]
            a[mha + part + "/bias"] = qkv_b[j * d:(j + 1) * d].reshape(h, d // h)
        a[mha + "out/kernel"] = state[src + "attn.proj.weight"].T.reshape(h, d // h, d)  # [heads, hd, out]
        a[mha + "out/bias"] = state[src + "attn.proj.bias"]
        for r, fc in enumerate(("fc1", "fc2")):
            a[mlp + "Dense_%d/kernel" % r] = state[src + "mlp.%s.weight" % fc].T  # [in, out]
            a[mlp + "Dense_%d/bias" % r] = state[src + "mlp.%s.bias" % fc]
    return {name: t.numpy() for name, t in a.items()}


def init_vit(model, rng):
    """Random weights large enough that every parameter visibly shapes the result."""
    def normal(shape, std):
        return torch.from_numpy(rng.normal(0.0, std, size=tuple(shape)))

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("cls_token", "pos_embed"):
                p.copy_(normal(p.shape, 0.3))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + normal(p.shape, 0.1))
            elif name.endswith("bias"):
                p.copy_(normal(p.shape, 0.1))
            else:  # a linear or convolution weight, scaled by its fan-in: unit gain for the patch
                # embedding, half inside the blocks, so that (as in a trained ViT) the residual
                # stream outweighs each branch; dml's learning test needs a backbone like that
                fan_in = p[0].numel()
                p.copy_(normal(p.shape, (1.0 if name.startswith("patch_embed") else 0.5) / math.sqrt(fan_in)))


# ------------------------------------------------------------------ the fixture groups

def make_images(out, rng):
    """Smooth colour waves, a disc and noise; returns the normalised center crops [B,3,CROP,CROP]."""
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    crops = []
    for i in range(BATCH):
        img = np.zeros((SIDE, SIDE, 3))
        for c in range(3):
            for _ in range(2):
                fx, fy = rng.uniform(-3, 3, size=2)
                img[:, :, c] += 60 * np.cos(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        disc = (y - cy) ** 2 + (x - cx) ** 2 < rng.uniform(0.1, 0.2) ** 2
        img[disc] = rng.uniform(-100, 100, size=3)
        img = np.clip(np.rint(128 + img + rng.normal(0, 20, size=img.shape)), 0, 255).astype(np.uint8)
        write_png(os.path.join(out, "images", "%03d.png" % i), img)
        off = (SIDE - CROP) // 2
        crops.append(img[off:off + CROP, off:off + CROP].transpose(2, 0, 1) / 255.0)
    mean, std = np.array(MEAN)[:, None, None], np.array(STD)[:, None, None]
    return torch.from_numpy((np.stack(crops) - mean) / std)


def vit_fixtures(out, stream):
    model = ViT().to(F64)
    init_vit(model, stream("vit"))
    state = {name: t.detach().to(torch.float32).clone() for name, t in model.state_dict().items()}
    write_safetensors(os.path.join(out, "vit.safetensors"), state)
    torch.save(state, os.path.join(out, "vit.pth"))  # a plain dict, in the state dict's order
    write_npz(os.path.join(out, "vit.npz"), augreg_arrays(state, stream("vit npz head")))

    images = make_images(out, stream("images"))
    write_npy(os.path.join(out, "input.npy"), images)
    with torch.no_grad():
        write_npy(os.path.join(out, "embed.npy"), model(images))

    # VPT-deep prompts, shared by both images; the loss sum(embedding * R) and its gradients.
    rng = stream("prompts")
    prompts = torch.from_numpy(rng.uniform(-1, 1, size=(DEPTH, PROMPTS, DIM))).requires_grad_()
    r = torch.from_numpy(rng.standard_normal((BATCH, DIM)))
    inputs = images.clone().requires_grad_()
    embedding = model(inputs, lambda l: prompts[l].expand(BATCH, PROMPTS, DIM))
    (embedding * r).sum().backward()
    write_npy(os.path.join(out, "prompts.npy"), prompts.detach())
    write_npy(os.path.join(out, "embed_prompted.npy"), embedding.detach())
    write_npy(os.path.join(out, "loss_weights.npy"), r)
    write_npy(os.path.join(out, "grad_prompts.npy"), prompts.grad)
    write_npy(os.path.join(out, "grad_input.npy"), inputs.grad)
    write_safetensors(os.path.join(out, "grad_biases.safetensors"),
                      {n: p.grad for n, p in model.named_parameters() if n.endswith("bias")})

    # The proxy tower: each image with its own class's prompts in the first CLASS_DEPTH blocks.
    bank = torch.from_numpy(stream("class prompts").uniform(-1, 1, size=(CLASSES, CLASS_DEPTH, CLASS_PROMPTS, DIM)))
    labels = torch.tensor(LABELS)
    with torch.no_grad():
        tower = model(images, lambda l: bank[labels, l] if l < CLASS_DEPTH else None)
    write_npy(os.path.join(out, "labels.npy"), labels)
    write_npy(os.path.join(out, "class_prompts.npy"), bank)
    write_npy(os.path.join(out, "proxy_tower.npy"), tower)


def gru_fixtures(out, stream):
    """The semantic-proxy GRU cell with a ReLU candidate, run over GRU_STEPS inputs:
    z = sig(W_z p + U_z h + b_z), r = sig(W_r p + U_r h + b_r),
    n = relu(W_h p + r * (U_h h) + b_h), h' = (1 - z) * h + z * n."""
    rng = stream("gru")
    e = GRU_DIM
    cell = {}
    for gate in "zrh":
        cell["W_" + gate] = rng.normal(0, 1.5 / math.sqrt(e), size=(e, e))
        cell["U_" + gate] = rng.normal(0, 1.5 / math.sqrt(e), size=(e, e))
        cell["b_" + gate] = rng.normal(0, 0.3, size=e)
    cell = {k: torch.from_numpy(v) for k, v in cell.items()}
    inputs = torch.from_numpy(rng.standard_normal((GRU_STEPS, e))).requires_grad_()
    h0 = rng.standard_normal(e)
    h0 = torch.from_numpy(h0 / np.linalg.norm(h0))
    weights = torch.from_numpy(rng.standard_normal(e))

    h = h0
    for p in inputs:
        z = torch.sigmoid(cell["W_z"] @ p + cell["U_z"] @ h + cell["b_z"])
        r = torch.sigmoid(cell["W_r"] @ p + cell["U_r"] @ h + cell["b_r"])
        n = torch.relu(cell["W_h"] @ p + r * (cell["U_h"] @ h) + cell["b_h"])
        h = (1 - z) * h + z * n
    (h * weights).sum().backward()
    write_safetensors(os.path.join(out, "gru.safetensors"), cell)
    write_npy(os.path.join(out, "gru_inputs.npy"), inputs.detach())
    write_npy(os.path.join(out, "gru_h0.npy"), h0)
    write_npy(os.path.join(out, "gru_h.npy"), h.detach())
    write_npy(os.path.join(out, "gru_h_normed.npy"), (h / h.norm()).detach())
    write_npy(os.path.join(out, "gru_loss_weights.npy"), weights)
    write_npy(os.path.join(out, "gru_grad_inputs.npy"), inputs.grad)


def proxy_anchor(x, proxies, labels, positives_over_all):
    """Proxy-Anchor with cosine similarity. The positive term is averaged over the proxies that
    have positives in the batch (the paper), or over all proxies (the released code)."""
    cos = F.normalize(x, dim=1) @ F.normalize(proxies, dim=1).T  # [batch, classes]
    pos = F.one_hot(labels, len(proxies)).to(F64)
    pos_term = torch.log1p((pos * torch.exp(-PA_ALPHA * (cos - PA_DELTA))).sum(0)).sum()
    neg_term = torch.log1p(((1 - pos) * torch.exp(PA_ALPHA * (cos + PA_DELTA))).sum(0)).sum()
    with_positives = len(proxies) if positives_over_all else int((pos.sum(0) > 0).sum())
    return pos_term / with_positives + neg_term / len(proxies)


def proxy_anchor_fixtures(out, stream):
    rng = stream("proxy anchor")
    labels = rng.permutation(np.repeat(np.arange(PA_CLASSES), PA_COUNTS))
    proxies = torch.from_numpy(rng.standard_normal((PA_CLASSES, GRU_DIM))).requires_grad_()
    # Each embedding leans a little towards its class's proxy: positive similarities fall on both
    # sides of the margin and the positive term stays large enough that the two averages differ.
    near = proxies.detach().numpy()[labels] * rng.uniform(0, 0.3, size=(PA_BATCH, 1))
    x = torch.from_numpy(near + rng.standard_normal((PA_BATCH, GRU_DIM))).requires_grad_()
    labels = torch.from_numpy(labels)
    paper = proxy_anchor(x, proxies, labels, False)
    released = proxy_anchor(x, proxies, labels, True)
    paper.backward()
    write_npy(os.path.join(out, "pa_embeddings.npy"), x.detach())
    write_npy(os.path.join(out, "pa_proxies.npy"), proxies.detach())
    write_npy(os.path.join(out, "pa_labels.npy"), labels)
    write_npy(os.path.join(out, "pa_loss.npy"), torch.stack([paper, released]).detach())
    write_npy(os.path.join(out, "pa_grad_emb.npy"), x.grad)
    write_npy(os.path.join(out, "pa_grad_proxies.npy"), proxies.grad)


def reference_json(out, seed):
    doc = {
        "config": {"dim": DIM, "depth": DEPTH, "heads": HEADS, "patch": PATCH, "img": CROP, "batch": BATCH,
                   "prompts": PROMPTS, "classes": CLASSES, "class_prompts": CLASS_PROMPTS,
                   "class_depth": CLASS_DEPTH, "mean": list(MEAN), "std": list(STD), "seed": seed},
        "tokens": (CROP // PATCH) ** 2 + 1,
        "head_dim": DIM // HEADS,
        "layer_norm_eps": EPS,
        "gelu": "exact erf",
        "attention_scale": 1 / math.sqrt(DIM // HEADS),
        "eval_transform": "Resize(%d) (the identity on these images) -> CenterCrop(%d) -> /255 -> Normalize(mean, std)"
                          % (SIDE, CROP),
        "proxy_anchor": {"alpha": PA_ALPHA, "delta": PA_DELTA, "num_classes": PA_CLASSES},
        "tolerance": {"forward_rtol": FORWARD_RTOL, "grad_rtol": GRAD_RTOL,
                      "note": "max|go - ref| <= rtol * max|ref| per tensor, float32 engine vs float64 reference"},
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        f.write(json.dumps(doc, indent=1) + "\n")


def generate(out, seed):
    torch.set_num_threads(1)  # one summation order, so every run gives the same bits

    def stream(name):
        return np.random.default_rng([seed, zlib.crc32(name.encode())])

    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    vit_fixtures(out, stream)
    gru_fixtures(out, stream)
    proxy_anchor_fixtures(out, stream)
    reference_json(out, seed)


def fixture_files(root):
    """The generated files under root, relative paths, sorted (this script and README.md excluded)."""
    found = []
    for d, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), root)
            if rel not in ("generate.py", "README.md") and not rel.startswith("__pycache__"):
                found.append(rel)
    return sorted(found)


def check(target, seed):
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, seed)
        want, have = fixture_files(tmp), fixture_files(target)
        bad = sorted(set(want) ^ set(have))
        bad += [f for f in want if f in have and not filecmp.cmp(os.path.join(tmp, f), os.path.join(target, f), shallow=False)]
    for f in bad:
        print("differs, missing or extra:", os.path.join(target, f))
    print("%s: %d files, %s" % (target, len(want), "all reproduced byte for byte" if not bad else "%d differ" % len(bad)))
    return not bad


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Write the PyTorch reference fixtures.")
    ap.add_argument("out", nargs="?", default=here, help="output directory (default: this script's directory)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare with out")
    args = ap.parse_args()
    if args.check:
        sys.exit(0 if check(args.out, args.seed) else 1)
    generate(args.out, args.seed)
    print("wrote %d files to %s (torch %s)" % (len(fixture_files(args.out)), args.out, torch.__version__))


if __name__ == "__main__":
    main()
