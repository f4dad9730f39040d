#!/usr/bin/env python3
"""Reference trainer for VPTSP (Ren et al., ICLR 2024) in PyTorch, float64.

Runs a few training steps of a tiny random ViT the way the paper's released code trains
(two towers, class memory, GRU or EMA proxy update, Proxy-Anchor, SGD/AdamW with a per-epoch
cosine schedule, dense / memory-bank class prompts) and writes the fixtures that the Go test
in ./dml compares against. See README.md in this directory for the file format.

Needs Debian's PyTorch and NumPy (apt-get install -y python3-torch python3-numpy).
Run from the repository root:

    /usr/bin/python3 testdata/golden/golden.py --method vptsp-g+bitfit --optimizer sgd --out DIR
    /usr/bin/python3 testdata/golden/golden.py --self-check

Every tensor the Go side loads (ViT weights, initial trainable tensors, images) is rounded to
float32 and then used as float64, so both sides start from the same values.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

F64 = torch.float64
METHODS = ("vptsp-g", "vptsp-m", "vpt", "linear", "proxy-anchor")
PA_ALPHA, PA_DELTA = 32.0, 0.1          # Proxy-Anchor scale and margin
VIT_EPS, HEAD_EPS = 1e-6, 1e-5          # LayerNorm eps: timm ViT, heads (nn.LayerNorm default)
SGD_MOMENTUM = 0.9
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8

OPT_DEFAULTS = {  # per optimizer: lr, lr_proxy
    "sgd": (0.01, 0.1),
    "adamw": (1e-3, 0.01),
}


# The committed configurations: directory -> arguments (README.md lists the same commands).
_COMMON = "--steps 4 --steps-per-epoch 2 --seed 0 --cosine-t 3 --cosine-min 1e-6 --alpha 0.3"
CONFIGS = {
    "vptsp-g-bitfit-sgd": "--method vptsp-g+bitfit --optimizer sgd --pa all --class-placement replace "
                          "--class-prompt-state dense --gru-mix released --gru-dropout 0 "
                          "--lr 0.01 --lr-proxy 0.1 --wd 0.05 --dim 32",
    "vptsp-m-adamw": "--method vptsp-m --optimizer adamw --pa all --class-placement replace "
                     "--class-prompt-state dense --kappa 0.8 --lr 1e-3 --lr-proxy 0.01 --wd 0.05 --dim 32",
    "vpt-adamw": "--method vpt --optimizer adamw --pa all --lr 1e-3 --lr-proxy 0.01 --wd 0.05 --dim 32",
    "linear-sgd": "--method linear --optimizer sgd --pa all --lr 0.01 --lr-proxy 0.1 --wd 0.05 --dim 32",
    "proxy-anchor-sgd": "--method proxy-anchor --optimizer sgd --pa all --lr 0.01 --lr-proxy 0.1 --wd 0.05 --dim 16",
    "vptsp-g-bitfit-adamw-bank": "--method vptsp-g+bitfit --optimizer adamw --pa all --class-placement replace "
                                 "--class-prompt-state bank --gru-mix released --gru-dropout 0.1 "
                                 "--lr 1e-4 --lr-proxy 0.05 --wd 1e-4 --dim 32",
    "vptsp-g-paper-adamw": "--method vptsp-g --optimizer adamw --pa positives --class-placement after "
                           "--class-prompt-state per-row --gru-mix paper --gru-dropout 0 "
                           "--lr 1e-3 --lr-proxy 0.01 --wd 0.05 --dim 32",
}


def config_argv(name):
    return (CONFIGS[name] + " " + _COMMON).split()


# ----------------------------------------------------------------------------- arguments
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", default="vptsp-g+bitfit",
                   help="vptsp-g, vptsp-m, vpt, linear or proxy-anchor; vpt and vptsp-* may end in +bitfit")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--steps-per-epoch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output directory (required unless --self-check)")
    p.add_argument("--pa", choices=("all", "positives"), default="all",
                   help="divide the Proxy-Anchor positive term by all C proxies (released code) "
                        "or by the number of proxies with a positive in the batch")
    p.add_argument("--class-placement", choices=("replace", "after"), default="replace",
                   help="proxy tower: class prompts replace the dataset prompts (released code) "
                        "or follow them (paper text)")
    p.add_argument("--class-prompt-state", choices=("dense", "bank", "per-row"), default="dense")
    p.add_argument("--gru-mix", choices=("released", "paper"), default="released",
                   help="released: h' = (1-z)*n + z*h; paper: h' = (1-z)*h + z*n")
    p.add_argument("--gru-dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, help="default: sgd 0.01, adamw 1e-3")
    p.add_argument("--lr-proxy", type=float, help="default: sgd 0.1, adamw 0.01")
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--cosine-t", type=int, default=3, help="cosine T_max in epochs")
    p.add_argument("--cosine-min", type=float, default=1e-6)
    p.add_argument("--alpha", type=float, default=0.3, help="share of the proxy bias O in the proxies")
    p.add_argument("--kappa", type=float, default=0.8, help="EMA keep ratio (vptsp-m)")
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--k", type=int, default=2, help="samples per class")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--img", type=int, default=16)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--prompt-depth", type=int, default=3)
    p.add_argument("--prompt-tau", type=int, default=1)
    p.add_argument("--class-prompts", type=int, default=3)
    p.add_argument("--class-depth", type=int, default=3)
    p.add_argument("--class-tau", type=int, default=1)
    p.add_argument("--mutation", choices=("none", "no-detach"), default="none",
                   help="a deliberate mistake, to check that the Go test catches it: no-detach keeps "
                        "the class memory attached to the graph of the steps before (the gradient of "
                        "a step then also flows through the old memory into the parameters)")
    p.add_argument("--self-check", action="store_true",
                   help="run the finite-difference and class-prompt-state checks and exit")
    a = p.parse_args(argv)
    base, _, extra = a.method.partition("+")
    if base not in METHODS or extra not in ("", "bitfit"):
        p.error(f"unknown method {a.method!r}")
    if extra and base not in ("vpt", "vptsp-g", "vptsp-m"):
        p.error("+bitfit only with vpt and vptsp-*")
    a.base, a.bitfit = base, extra == "bitfit"
    d_lr, d_lrp = OPT_DEFAULTS[a.optimizer]
    a.lr = d_lr if a.lr is None else a.lr
    a.lr_proxy = d_lrp if a.lr_proxy is None else a.lr_proxy
    if not a.self_check and not a.out:
        p.error("--out is required")
    if a.batch % a.k or a.batch // a.k > a.classes:
        p.error("batch must be a multiple of k with at most --classes classes")
    if a.dim % a.heads or a.img % a.patch:
        p.error("dim must divide by heads and img by patch")
    if not 0 <= a.gru_dropout < 1:
        p.error("--gru-dropout must be in [0, 1)")
    a.prompt_depth = min(a.prompt_depth, a.depth)
    a.class_depth = min(a.class_depth, a.depth)
    return a


def schedule(count, depth, tau):
    """Tokens per block: block l < depth gets max(count - tau*l, 0)."""
    return [max(count - tau * l, 0) for l in range(depth)]


# ----------------------------------------------------------------------------- dropout hash
_U64 = np.uint64


def splitmix64(x):
    """SplitMix64 output function on a numpy uint64 array (all arithmetic mod 2^64)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + _U64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def dropout_mask(seed, step, t, rows, width, p, dtype=F64):
    """[rows, width] factors: 0 (dropped) or 1/(1-p) (kept). Element i = row*width + col is kept
    iff (bits >> 40) / 2^24 >= p, bits = sm(sm(sm(sm(seed) ^ step) ^ t) ^ i)."""
    base = splitmix64(splitmix64(splitmix64(_U64(seed)) ^ _U64(step)) ^ _U64(t))
    i = np.arange(rows * width, dtype=np.uint64)
    u = (splitmix64(base ^ i) >> _U64(40)).astype(np.float64) / float(1 << 24)
    keep = torch.from_numpy((u >= p).reshape(rows, width))
    return keep.to(dtype) * (1.0 / (1.0 - p))


# ----------------------------------------------------------------------------- initialisers
def fans(shape):
    """fan_in, fan_out as torch.nn.init computes them."""
    rf = 1
    for s in shape[2:]:
        rf *= s
    return shape[1] * rf, shape[0] * rf


def xavier_uniform(g, *shape):
    fi, fo = fans(shape)
    bound = math.sqrt(6.0 / (fi + fo))
    return (torch.rand(*shape, generator=g, dtype=F64) * 2 - 1) * bound


def xavier_normal(g, *shape):
    fi, fo = fans(shape)
    return torch.randn(*shape, generator=g, dtype=F64) * math.sqrt(2.0 / (fi + fo))


def normal(g, *shape, std):
    return torch.randn(*shape, generator=g, dtype=F64) * std


def f32(t):
    """Round to float32, compute in float64 (what the Go side loads)."""
    return t.detach().float().double()


# ----------------------------------------------------------------------------- safetensors
def save_safetensors(path, tensors, dtype):
    """Minimal safetensors writer: sorted names, little-endian F32 or F64, C order."""
    np_dtype = {"F32": "<f4", "F64": "<f8"}[dtype]
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype(np_dtype))
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


# ----------------------------------------------------------------------------- the data
def make_vit(g, a):
    """Random ViT weights with timm names; float32-rounded."""
    D, P = a.dim, a.patch
    tokens = 1 + (a.img // P) ** 2
    w = {
        "cls_token": normal(g, 1, 1, D, std=0.02),
        "pos_embed": normal(g, 1, tokens, D, std=0.02),
        "patch_embed.proj.weight": normal(g, D, 3, P, P, std=0.05),
        "patch_embed.proj.bias": normal(g, D, std=0.02),
    }
    for l in range(a.depth):
        b = f"blocks.{l}."
        w[b + "norm1.weight"] = 1 + normal(g, D, std=0.1)
        w[b + "norm1.bias"] = normal(g, D, std=0.05)
        w[b + "attn.qkv.weight"] = normal(g, 3 * D, D, std=0.05)
        w[b + "attn.qkv.bias"] = normal(g, 3 * D, std=0.05)
        w[b + "attn.proj.weight"] = normal(g, D, D, std=0.05)
        w[b + "attn.proj.bias"] = normal(g, D, std=0.05)
        w[b + "norm2.weight"] = 1 + normal(g, D, std=0.1)
        w[b + "norm2.bias"] = normal(g, D, std=0.05)
        w[b + "mlp.fc1.weight"] = normal(g, 4 * D, D, std=0.05)
        w[b + "mlp.fc1.bias"] = normal(g, 4 * D, std=0.05)
        w[b + "mlp.fc2.weight"] = normal(g, D, 4 * D, std=0.05)
        w[b + "mlp.fc2.bias"] = normal(g, D, std=0.05)
    w["norm.weight"] = 1 + normal(g, D, std=0.1)
    w["norm.bias"] = normal(g, D, std=0.05)
    return {k: f32(v) for k, v in w.items()}


def make_batches(g, a):
    """a.steps batches: images [B,3,img,img] (standard normal, float32-rounded) and labels:
    B/k distinct random classes, k consecutive samples each."""
    nb = a.batch // a.k
    images, labels = [], []
    for _ in range(a.steps):
        images.append(f32(torch.randn(a.batch, 3, a.img, a.img, generator=g, dtype=F64)))
        cls = torch.randperm(a.classes, generator=g)[:nb]
        labels.append(cls.repeat_interleave(a.k))
    return images, labels


def make_trainables(g, a):
    """Every trainable tensor any method can have, drawn in a fixed order (so configurations
    with the same seed and geometry share their initial values), float32-rounded. Layouts are
    the fixture's: class prompts [C, m_l, D] here, flattened to [C, m_l*D] on disk."""
    D, E, C = a.dim, a.embed, a.classes
    t = {}

    def head(prefix):
        # released: LayerNorm(1, 0), xavier-uniform Linear with zero bias; perturbed so that
        # the gains and biases are not trivial.
        t[prefix + "norm.weight"] = 1 + normal(g, D, std=0.1)
        t[prefix + "norm.bias"] = normal(g, D, std=0.05)
        t[prefix + "proj.weight"] = xavier_uniform(g, E, D)
        t[prefix + "proj.bias"] = normal(g, E, std=0.05)

    head("head.")
    # dataset prompts: xavier-normal on (1, N, D), block l uses the first n_l
    for l, n in enumerate(schedule(a.prompts, a.prompt_depth, a.prompt_tau)):
        full = xavier_normal(g, 1, a.prompts, D)
        if n > 0:
            t[f"prompts.{l}"] = full[:, :n]
    head("proxy_head.")
    # GRU: ours is x @ W.T with W [E,E] (the released W_i* is [in, hidden], our W is its
    # transpose); xavier-uniform matrices, biases zero in the release, perturbed here.
    for gate in ("z", "r", "h"):
        t[f"gru.W_{gate}"] = xavier_uniform(g, E, E)
        t[f"gru.U_{gate}"] = xavier_uniform(g, E, E)
        t[f"gru.b_{gate}"] = normal(g, E, std=0.05)
    # class prompts: xavier-normal over the whole (C, m, D) tensor per block, block l uses [:m_l]
    for l, m in enumerate(schedule(a.class_prompts, a.class_depth, a.class_tau)):
        full = xavier_normal(g, C, a.class_prompts, D)
        if m > 0:
            t[f"class_prompts.{l}"] = full[:, :m]
    t["proxy_bias"] = xavier_uniform(g, C, E) / 8.0
    t["class_memory"] = F.normalize(xavier_uniform(g, C, E), dim=1)
    return {k: f32(v) for k, v in t.items()}


# ----------------------------------------------------------------------------- the model
def vit_block(w, l, z, heads):
    b = f"blocks.{l}."
    B, N, D = z.shape
    h = F.layer_norm(z, (D,), w[b + "norm1.weight"], w[b + "norm1.bias"], eps=VIT_EPS)
    qkv = F.linear(h, w[b + "attn.qkv.weight"], w[b + "attn.qkv.bias"])
    q, k, v = qkv.reshape(B, N, 3, heads, D // heads).permute(2, 0, 3, 1, 4)
    att = ((q @ k.transpose(-2, -1)) * (D // heads) ** -0.5).softmax(-1)
    o = (att @ v).transpose(1, 2).reshape(B, N, D)
    z = z + F.linear(o, w[b + "attn.proj.weight"], w[b + "attn.proj.bias"])
    h = F.layer_norm(z, (D,), w[b + "norm2.weight"], w[b + "norm2.bias"], eps=VIT_EPS)
    h = F.gelu(F.linear(h, w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"]))
    return z + F.linear(h, w[b + "mlp.fc2.weight"], w[b + "mlp.fc2.bias"])


def vit_cls(w, a, x, prompts_for_block):
    """Final-norm CLS [B,D]. prompts_for_block(l) -> [B,n,D] or None: placed before CLS in
    block l, their outputs dropped after it (VPT-deep)."""
    D = a.dim
    z = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=a.patch)
    z = z.flatten(2).transpose(1, 2)
    z = torch.cat([w["cls_token"].expand(z.shape[0], -1, -1), z], 1) + w["pos_embed"]
    for l in range(a.depth):
        pr = prompts_for_block(l)
        n = 0 if pr is None else pr.shape[1]
        if n:
            z = torch.cat([pr, z], 1)
        z = vit_block(w, l, z, a.heads)[:, n:]
    z = F.layer_norm(z, (D,), w["norm.weight"], w["norm.bias"], eps=VIT_EPS)
    return z[:, 0]


def head(t, prefix, x):
    x = F.layer_norm(x, (x.shape[-1],), t[prefix + "norm.weight"], t[prefix + "norm.bias"], eps=HEAD_EPS)
    return F.linear(x, t[prefix + "proj.weight"], t[prefix + "proj.bias"])


def gru_cell(t, p, h, mix):
    z = torch.sigmoid(p @ t["gru.W_z"].T + t["gru.b_z"] + h @ t["gru.U_z"].T)
    r = torch.sigmoid(p @ t["gru.W_r"].T + t["gru.b_r"] + h @ t["gru.U_r"].T)
    n = torch.relu(p @ t["gru.W_h"].T + t["gru.b_h"] + r * (h @ t["gru.U_h"].T))
    if mix == "released":
        return (1 - z) * n + z * h
    return (1 - z) * h + z * n


def proxy_anchor(emb, Q, labels, C, pa):
    """Proxy-Anchor on cosines; logsumexp with a zero term (log(1 + sum exp))."""
    s = F.normalize(emb, dim=1) @ F.normalize(Q, dim=1).T            # [B, C]
    pos = F.one_hot(labels, C).bool()
    ninf = torch.full_like(s, -math.inf)
    zero = torch.zeros(1, C, dtype=s.dtype)
    pos_t = torch.logsumexp(torch.cat([torch.where(pos, -PA_ALPHA * (s - PA_DELTA), ninf), zero]), 0)
    neg_t = torch.logsumexp(torch.cat([torch.where(~pos, PA_ALPHA * (s + PA_DELTA), ninf), zero]), 0)
    n_pos = C if pa == "all" else int(pos.any(0).sum())
    return pos_t.sum() / n_pos + neg_t.sum() / C


# ----------------------------------------------------------------------------- the trainer
class Trainer:
    """One run: the frozen ViT `vit`, the trainable tensors `t` (fixture names) and the
    optimizers, stepped over the batches."""

    def __init__(self, a, vit, init, images, labels):
        self.a, self.images, self.labels = a, images, labels
        self.C, self.nb = a.classes, a.batch // a.k
        self.vptsp = a.base.startswith("vptsp")
        self.has_prompts = a.base in ("vpt", "vptsp-g", "vptsp-m")
        self.state_mode = a.class_prompt_state if self.vptsp else None
        self.losses, self.lrs = [], []

        # which tensors this method trains
        names = ["head.norm.weight", "head.norm.bias", "head.proj.weight", "head.proj.bias"]
        if self.has_prompts:
            names += [n for n in init if n.startswith("prompts.")]
        if self.vptsp:
            names += [n for n in init if n.startswith("proxy_head.")]
            if a.base == "vptsp-g":
                names += [n for n in init if n.startswith("gru.")]
            names += [n for n in init if n.startswith("class_prompts.")]
        names.append("proxy_bias")
        if a.base == "proxy-anchor":
            vit_trained = sorted(vit)
        elif a.bitfit:
            vit_trained = sorted(n for n in vit if n.endswith("bias"))
        else:
            vit_trained = []

        self.vit = {n: v.clone() for n, v in vit.items()}
        self.t = {n: init[n].clone() for n in names}
        for n in vit_trained:                       # the same tensor under both names
            self.vit[n].requires_grad_(True)
            self.t["backbone." + n] = self.vit[n]
        self.memory = init["class_memory"].clone() if self.vptsp else None

        self.class_names = sorted((n for n in self.t if n.startswith("class_prompts.")),
                                  key=lambda n: int(n.split(".")[1]))
        # class prompts outside the optimizer (bank, per-row): the bank tensors [C, m_l, D]
        self.bank = {}
        if self.state_mode in ("bank", "per-row"):
            for n in self.class_names:
                self.bank[n] = self.t.pop(n)
        for n, v in self.t.items():
            v.requires_grad_(True)

        main = [v for n, v in self.t.items() if n != "proxy_bias"]
        # bank: one buffer parameter per block [nb, m_l, D]; per-row: one per (block, slot) [m_l, D]
        self.buffers = {}
        for n, bank in self.bank.items():
            if self.state_mode == "bank":
                self.buffers[n] = torch.zeros(self.nb, *bank.shape[1:], dtype=bank.dtype, requires_grad=True)
                main.append(self.buffers[n])
            else:
                self.buffers[n] = [torch.zeros(*bank.shape[1:], dtype=bank.dtype, requires_grad=True)
                                   for _ in range(self.nb)]
                main += self.buffers[n]
        self.opt_main = self._optimizer(main, a.lr)
        self.opt_proxy = self._optimizer([self.t["proxy_bias"]], a.lr_proxy)

        # bank-side optimizer state
        if self.state_mode == "bank":
            keys = ("exp_avg", "exp_avg_sq") if a.optimizer == "adamw" else ("momentum_buffer",)
            self.bank_state = {n: {k: torch.zeros_like(b) for k in keys} for n, b in self.bank.items()}
            self.bank_step = {n: torch.tensor(0.0) for n in self.bank}
        self.row_state = {}      # per-row: (name, class) -> that row's optimizer state
        self.row_seen = {}       # bank, per-row: (name, class) -> step count after its last update

    def _optimizer(self, params, lr):
        if self.a.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=SGD_MOMENTUM, weight_decay=self.a.wd)
        return torch.optim.AdamW(params, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=self.a.wd)

    def lr_at(self, step):
        """Closed-form cosine annealing, stepped once per epoch: [lr, lr_proxy]."""
        a = self.a
        e = step // a.steps_per_epoch
        f = (1 + math.cos(math.pi * e / a.cosine_t)) / 2
        return [a.cosine_min + (base - a.cosine_min) * f for base in (a.lr, a.lr_proxy)]

    def classes_of(self, s):
        lab = self.labels[s]
        u = torch.unique_consecutive(lab)
        assert len(u) == self.nb and torch.equal(u.repeat_interleave(self.a.k), lab), "k consecutive per class"
        return u

    # ---- class prompt bank: the released bank_prompt_p_widthdraw / bank_optim_states_save /
    # bank_prompt_p_save, and the per-row variant that swaps each row's own state in and out.
    def withdraw(self, u):
        with torch.no_grad():
            for n, bank in self.bank.items():
                if self.state_mode == "bank":
                    buf = self.buffers[n]
                    buf.copy_(bank[u])
                    st = self.opt_main.state[buf]
                    if len(st) > 0:           # the first step has no optimizer state yet
                        for k, v in self.bank_state[n].items():
                            st[k].copy_(v[u])
                        if "step" in st:
                            st["step"].copy_(self.bank_step[n])
                else:
                    for j, c in enumerate(u.tolist()):
                        buf = self.buffers[n][j]
                        buf.copy_(bank[c])
                        saved = self.row_state.get((n, c))
                        if saved is None:
                            self.opt_main.state.pop(buf, None)   # a new row: fresh state, step 0
                        else:
                            self.opt_main.state[buf] = {k: v.clone() for k, v in saved.items()}

    def save_bank(self, u, step):
        with torch.no_grad():
            for n, bank in self.bank.items():
                if self.state_mode == "bank":
                    buf = self.buffers[n]
                    st = self.opt_main.state[buf]
                    for k in self.bank_state[n]:
                        self.bank_state[n][k][u] = st[k]
                    if "step" in st:
                        self.bank_step[n] = st["step"].clone()
                    bank[u] = buf.detach()
                    for c in u.tolist():
                        self.row_seen[(n, c)] = step + 1
                else:
                    for j, c in enumerate(u.tolist()):
                        buf = self.buffers[n][j]
                        st = self.opt_main.state[buf]
                        self.row_state[(n, c)] = {k: v.clone() for k, v in st.items()}
                        bank[c] = buf.detach()
                        self.row_seen[(n, c)] = int(st["step"].item()) if "step" in st else step + 1

    def class_prompt(self, n, lab, u):
        """Each sample's class prompts of block tensor n: [B, m_l, D]."""
        if self.state_mode == "dense":
            return self.t[n][lab]
        slot = (lab.view(-1, 1) == u.view(1, -1)).nonzero()[:, 1]      # sample -> buffer row
        buf = self.buffers[n]
        if self.state_mode == "per-row":
            buf = torch.stack(buf)
        return buf[slot]

    # ---- one forward pass: the loss of step s and the new class memory
    def loss(self, s):
        a, t = self.a, self.t
        x, lab = self.images[s], self.labels[s]
        B = x.shape[0]

        def dataset_prompts(l):
            n = f"prompts.{l}"
            return t[n].expand(B, -1, -1) if self.has_prompts and n in t else None

        emb = head(t, "head.", vit_cls(self.vit, a, x, dataset_prompts))
        if not self.vptsp:
            return proxy_anchor(emb, t["proxy_bias"], lab, self.C, a.pa), None

        u = self.classes_of(s)

        def class_prompts(l):
            n = f"class_prompts.{l}"
            cp = self.class_prompt(n, lab, u) if n in self.class_names else None
            if a.class_placement == "replace":
                return cp
            dp = dataset_prompts(l)
            parts = [p for p in (dp, cp) if p is not None]
            return torch.cat(parts, 1) if parts else None

        p = F.normalize(head(t, "proxy_head.", vit_cls(self.vit, a, x, class_prompts)), dim=-1)
        pk = p.view(self.nb, a.k, -1)                 # class j's t-th sample is row j*k + t
        h = self.memory[u]
        if a.base == "vptsp-m":
            h = a.kappa * h + (1 - a.kappa) * pk.mean(1)
        else:
            for ti in range(a.k):
                h = gru_cell(t, pk[:, ti], h, a.gru_mix)
                if a.gru_dropout > 0:
                    h = h * dropout_mask(a.seed, s, ti, self.nb, a.embed, a.gru_dropout, h.dtype)
        P = self.memory.clone()
        P[u] = h
        P = F.normalize(P, dim=-1)                    # the released code normalises every row
        Q = (1 - a.alpha) * P + a.alpha * t["proxy_bias"]
        return proxy_anchor(emb, Q, lab, self.C, a.pa), P

    def step(self, s):
        lrs = self.lr_at(s)
        for opt, lr in ((self.opt_main, lrs[0]), (self.opt_proxy, lrs[1])):
            for grp in opt.param_groups:
                grp["lr"] = lr
        u = self.classes_of(s) if self.vptsp else None
        if self.bank:
            self.withdraw(u)
        self.opt_main.zero_grad(set_to_none=True)
        self.opt_proxy.zero_grad(set_to_none=True)
        attached = self.a.mutation == "no-detach"
        if attached:
            # The graph keeps copies of what it saves, so that the optimizer's in-place updates
            # do not invalidate it for the later steps that backpropagate through it.
            with torch.autograd.graph.saved_tensors_hooks(lambda x: x.clone(), lambda x: x):
                loss, P = self.loss(s)
        else:
            loss, P = self.loss(s)
        loss.backward(retain_graph=attached)
        self.opt_main.step()
        self.opt_proxy.step()
        if self.bank:
            self.save_bank(u, s)
        if P is not None:
            self.memory = P if attached else P.detach()
        self.losses.append(loss.item())
        self.lrs.append(lrs)

    def run(self):
        for s in range(self.a.steps):
            self.step(s)
        return self

    # ---- results
    def tensors(self):
        """Current values under the fixture names (class prompts flattened to [C, m_l*D])."""
        out = {}
        for n, v in self.t.items():
            out[n] = v.detach().reshape(v.shape[0], -1) if n.startswith("class_prompts.") else v.detach()
        for n, v in self.bank.items():
            out[n] = v.reshape(v.shape[0], -1)
        if self.memory is not None:
            out["class_memory"] = self.memory
        return out

    def optimizer_state(self):
        """optimizer.<name>.<field>; class prompts one entry per (block, class) row."""
        out = {}
        adam = self.a.optimizer == "adamw"
        rename = {"momentum_buffer": "momentum"}

        def put(prefix, st, row=None):
            for k, v in st.items():
                if k == "step":
                    out[prefix + ".step"] = torch.tensor([float(v)], dtype=F64)
                else:
                    vv = v if row is None else v[row]
                    out[prefix + "." + rename.get(k, k)] = vv.reshape(-1) if row is not None else vv.clone()

        for n, v in self.t.items():
            st = self.opt_main.state[v] if n != "proxy_bias" else self.opt_proxy.state[v]
            st = {k: (x.item() if k == "step" else x) for k, x in st.items()}
            if n.startswith("class_prompts."):        # dense: every row, global step
                for c in range(self.C):
                    put(f"optimizer.{n}.{c}", st, row=c)
            else:
                put(f"optimizer.{n}", st)
        for (n, c), last in sorted(self.row_seen.items()):
            if self.state_mode == "bank":
                st = {k: v for k, v in self.bank_state[n].items()}
                if adam:
                    st["step"] = last
                put(f"optimizer.{n}.{c}", st, row=c)
            else:
                st = {k: (x.item() if k == "step" else x.unsqueeze(0)) for k, x in self.row_state[(n, c)].items()}
                put(f"optimizer.{n}.{c}", st, row=0)
        return out


# ----------------------------------------------------------------------------- driver
def build(a):
    """The frozen ViT, the batches and the initial trainables of a run (all float32-rounded)."""
    g = torch.Generator().manual_seed(a.seed)
    vit = make_vit(g, a)
    images, labels = make_batches(g, a)
    init = make_trainables(torch.Generator().manual_seed(a.seed + 1_000_003), a)
    return vit, images, labels, init


def method_tensors(tr, vit, init):
    """The initial values of the tensors the method has, under the fixture names."""
    out = {}
    for n in list(tr.t) + list(tr.bank):
        if n.startswith("backbone."):
            continue
        v = init[n]
        out[n] = v.reshape(v.shape[0], -1) if n.startswith("class_prompts.") else v
    for n in tr.t:
        if n.startswith("backbone."):
            out[n] = vit[n[len("backbone."):]]
    if tr.vptsp:
        out["class_memory"] = init["class_memory"]
    return out


def config_json(a, tr):
    with open(os.path.abspath(__file__), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    has_prompts = a.base in ("vpt", "vptsp-g", "vptsp-m")
    vptsp = a.base.startswith("vptsp")
    return {
        "method": a.method, "base_method": a.base, "bitfit": a.bitfit,
        "optimizer": a.optimizer, "steps": a.steps, "steps_per_epoch": a.steps_per_epoch,
        "epochs": -(-a.steps // a.steps_per_epoch), "seed": a.seed, "dropout_seed": a.seed,
        "pa": a.pa, "class_placement": a.class_placement, "class_prompt_state": a.class_prompt_state,
        "gru_mix": a.gru_mix, "gru_dropout": a.gru_dropout,
        "lr": a.lr, "lr_proxy": a.lr_proxy, "weight_decay": a.wd,
        "cosine_t_max": a.cosine_t, "cosine_eta_min": a.cosine_min,
        "alpha": a.alpha, "kappa": a.kappa, "classes": a.classes, "batch": a.batch, "k": a.k,
        "embed_dim": a.embed,
        "dim": a.dim, "heads": a.heads, "depth": a.depth, "patch": a.patch, "img": a.img,
        "mlp_ratio": 4, "eps": VIT_EPS, "head_eps": HEAD_EPS,
        "prompts": ({"count": a.prompts, "depth": a.prompt_depth, "tau": a.prompt_tau} if has_prompts
                    else {"count": 0, "depth": 0, "tau": 0}),
        "class_prompts": ({"count": a.class_prompts, "depth": a.class_depth, "tau": a.class_tau} if vptsp
                          else {"count": 0, "depth": 0, "tau": 0}),
        "proxy_anchor": {"alpha": PA_ALPHA, "delta": PA_DELTA},
        "sgd_momentum": SGD_MOMENTUM, "adamw_betas": list(ADAM_BETAS), "adamw_eps": ADAM_EPS,
        "labels": [l.tolist() for l in tr.labels],
        "losses": tr.losses, "lrs": tr.lrs, "mutation": a.mutation,
        "golden_sha256": sha,
    }


def generate(a):
    vit, images, labels, init = build(a)
    tr = Trainer(a, vit, init, images, labels)
    initial = method_tensors(tr, vit, init)
    tr.run()
    os.makedirs(a.out, exist_ok=True)
    save_safetensors(os.path.join(a.out, "vit.safetensors"), vit, "F32")
    save_safetensors(os.path.join(a.out, "batches.safetensors"),
                     {f"images.{s}": im for s, im in enumerate(images)}, "F32")
    save_safetensors(os.path.join(a.out, "initial.safetensors"), initial, "F32")
    final = tr.tensors()
    assert sorted(final) == sorted(initial), (sorted(final), sorted(initial))
    final.update(tr.optimizer_state())
    save_safetensors(os.path.join(a.out, "final.safetensors"), final, "F64")
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config_json(a, tr), f, indent=1)
        f.write("\n")
    print(a.out, "losses", " ".join(f"{x:.9g}" for x in tr.losses))


# ----------------------------------------------------------------------------- self-checks
def self_check():
    torch.manual_seed(0)
    ok = True

    def report(cond, what):
        nonlocal ok
        ok &= bool(cond)
        print(("ok   " if cond else "FAIL ") + what)

    # 1. finite differences of the step-0 and step-1 losses w.r.t. trainable entries (float64)
    for state in ("dense", "bank"):
        a = parse_args(["--self-check", "--method", "vptsp-g+bitfit", "--optimizer", "adamw",
                        "--gru-dropout", "0.25", "--class-prompt-state", state, "--class-placement", "after",
                        "--dim", "16", "--embed", "8"])
        vit, images, labels, init = build(a)
        tr = Trainer(a, vit, init, images, labels)
        for s in (0, 1):
            if s == 1:
                tr.step(0)
            u = tr.classes_of(s)
            if tr.bank:
                tr.withdraw(u)
            for v in list(tr.t.values()) + [b for bs in tr.buffers.values() for b in (bs if isinstance(bs, list) else [bs])]:
                v.grad = None
            loss, _ = tr.loss(s)
            loss.backward()
            targets = [(n, v) for n, v in tr.t.items()] + \
                      [("buffer:" + n, b) for n, bs in tr.buffers.items() for b in ([bs] if not isinstance(bs, list) else bs[:1])]
            worst, where = 0.0, ""
            for n, v in targets:
                flat, gflat = v.data.view(-1), v.grad.view(-1)
                for idx in sorted({0, flat.numel() // 2, flat.numel() - 1}):
                    old = flat[idx].item()
                    eps = 1e-5
                    with torch.no_grad():
                        flat[idx] = old + eps
                        lp = tr.loss(s)[0].item()
                        flat[idx] = old - eps
                        lm = tr.loss(s)[0].item()
                        flat[idx] = old
                    fd = (lp - lm) / (2 * eps)
                    err = abs(fd - gflat[idx].item()) / max(1e-4, abs(fd), abs(gflat[idx].item()))
                    if (abs(fd) > 1e-9 or abs(gflat[idx].item()) > 1e-9) and err > worst:
                        worst, where = err, f"{n}[{idx}] fd {fd:.9g} autograd {gflat[idx].item():.9g}"
            report(worst < 1e-5, f"finite differences, {state}, step {s}: worst relative error {worst:.2e} over {len(targets)} tensors ({where})")

    # 2. class prompt states: same first step (except dense's absent rows), different later
    def run(state, steps):
        a = parse_args(["--self-check", "--method", "vptsp-g", "--optimizer", "adamw", "--steps", str(steps),
                        "--class-prompt-state", state, "--dim", "16", "--embed", "8"])
        vit, images, labels, init = build(a)
        return Trainer(a, vit, init, images, labels).run()

    one = {m: run(m, 1) for m in ("dense", "bank", "per-row")}
    present = set(one["dense"].labels[0].tolist())
    for m in ("bank", "per-row"):
        same = one[m].losses == one["dense"].losses
        td, tm = one["dense"].tensors(), one[m].tensors()
        for n in td:
            if n.startswith("class_prompts."):
                for c in range(one[m].C):
                    if c in present:
                        same &= torch.equal(td[n][c], tm[n][c])
            else:
                same &= torch.equal(td[n], tm[n])
        report(same, f"step 1: {m} equals dense on every tensor and present class-prompt row")
    absent = [c for c in range(one["dense"].C) if c not in present]
    moved = all(not torch.equal(one["dense"].tensors()["class_prompts.0"][c], one["bank"].tensors()["class_prompts.0"][c])
                for c in absent)
    report(moved, "step 1: dense moves absent rows (weight decay), bank does not")
    report(one["bank"].optimizer_state().keys() == one["per-row"].optimizer_state().keys(),
           "step 1: bank and per-row hold the same optimizer entries")
    four = {m: run(m, 4) for m in ("dense", "bank", "per-row")}
    for x, y in (("dense", "bank"), ("bank", "per-row"), ("dense", "per-row")):
        report(four[x].losses[0] == four[y].losses[0] and four[x].losses[1:] != four[y].losses[1:],
               f"4 steps: {x} and {y} agree on step 0 and differ later: {four[x].losses} vs {four[y].losses}")

    # 3. float32 noise: each committed configuration run in float32 PyTorch against the float64
    # reference, measured as the Go test measures (loss: relative; tensors: max abs error over
    # max abs value). The key third of attn.qkv.bias has an exactly zero gradient; under AdamW
    # its float32 rounding noise is amplified to steps of up to lr, so it is measured apart,
    # against the sum of the learning rates of the run.
    for name in CONFIGS:
        a = parse_args(config_argv(name) + ["--self-check"])
        vit, images, labels, init = build(a)
        ref = Trainer(a, vit, init, images, labels).run()
        lo = Trainer(a, {k: v.float() for k, v in vit.items()}, {k: v.float() for k, v in init.items()},
                     [x.float() for x in images], labels).run()
        le = max(abs(x - y) / abs(y) for x, y in zip(lo.losses, ref.losses))
        tr, tl = {**ref.tensors(), **ref.optimizer_state()}, {**lo.tensors(), **lo.optimizer_state()}
        worst, where, key_abs = 0.0, "", 0.0
        for n in tr:
            d = (tl[n].double() - tr[n]).abs()
            if a.optimizer == "adamw" and n.endswith("attn.qkv.bias"):
                key_abs = max(key_abs, d[a.dim:2 * a.dim].max().item())
                d = torch.cat([d[:a.dim], d[2 * a.dim:]])
            e = (d.max() / tr[n].abs().max().clamp_min(1e-300)).item()
            if e > worst:
                worst, where = e, n
        lr_sum = sum(l[0] for l in ref.lrs)
        report(le < 1e-6 and worst < 1e-5 and key_abs <= lr_sum,
               f"float32 vs float64, {name}: loss {le:.1e}, tensors {worst:.1e} ({where})"
               + (f", attn key bias {key_abs:.1e} abs (sum of lr {lr_sum:.1e})" if key_abs else ""))

    # 4. the dropout hash: a known value and the rate
    m = dropout_mask(0, 0, 0, 64, 64, 0.25)
    report(abs((m == 0).double().mean().item() - 0.25) < 0.03, f"dropout rate {(m == 0).double().mean().item():.3f} ~ 0.25")
    report(int(splitmix64(_U64(0))) == 0xE220A8397B1DCDAF, "splitmix64(0) = 0xE220A8397B1DCDAF")
    print("self-check", "passed" if ok else "FAILED")
    return ok


def main():
    a = parse_args()
    if a.self_check:
        sys.exit(0 if self_check() else 1)
    generate(a)


if __name__ == "__main__":
    torch.set_default_dtype(F64)
    torch.set_num_threads(1)    # one summation order: byte-identical files on every machine
    main()
