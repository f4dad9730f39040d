#!/usr/bin/env python3
"""Fits the polynomial coefficients in consts.go (needs numpy and mpmath).

Both fits minimize the largest relative error on a dense grid (Lawson's iteratively reweighted
least squares, which converges to the minimax fit), then round the coefficients to float32 one
at a time, lowest order first, refitting the rest after each, so the rounding costs little.

exp:  e^r ~ 1 + c1 r + ... + c6 r^6 on |r| <= ln2/2 (+ a margin).
GELU: Q(a) = 0.5 erfc(a/sqrt2) = exp(-a^2/2) F(a); F(a) ~ t (s0 + s1 t + ... + s9 t^9) with
      t = 1/(1 + 0.3125 a) on a in [0, 14.5] (weight 1/20 beyond a = 7, where Q < 1.3e-12).

Run: python3 fit.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 30


def lawson(V, f, w, iters=3000):
    """Coefficients c minimizing max |w (V c - f)|, and that maximum."""
    u = np.ones(len(f)) / len(f)
    best = None
    for _ in range(iters):
        s = np.sqrt(u)
        c, *_ = np.linalg.lstsq(V * (s * w)[:, None], f * s * w, rcond=None)
        e = np.abs(w * (V @ c - f))
        if best is None or e.max() < best[0]:
            best = (e.max(), c)
        u = u * e
        u /= u.sum()
    return best


def fit_float32(V, f, w):
    fixed = []
    for i in range(V.shape[1]):
        rest = f - (V[:, :i] @ np.array(fixed) if i else 0)
        _, c = lawson(V[:, i:], rest, w)
        fixed.append(float(np.float32(c[0])))
    return fixed, np.abs(w * (V @ np.array(fixed) - f)).max()


def main():
    L = 0.3466 + 0.002
    r = np.cos(np.linspace(0, np.pi, 6000)) * L
    f = np.array([float(mp.exp(mp.mpf(x))) for x in r])
    V = np.stack([r**i for i in range(1, 7)], axis=1)
    c, e = fit_float32(V, f - 1, 1 / f)
    print("exp c1..c6:", c, "max relative error %.3g" % e)

    a = np.concatenate([np.linspace(0, 4, 3000), np.linspace(4, 14.5, 3000)])
    F = np.array([float(0.5 * mp.erfc(mp.mpf(x) / mp.sqrt(2)) * mp.exp(mp.mpf(x) ** 2 / 2)) for x in a])
    t = 1 / (1 + 0.3125 * a)
    V = np.stack([t ** (i + 1) for i in range(10)], axis=1)
    w = np.where(a > 7, 0.05, 1.0) / F
    c, _ = fit_float32(V, F, w)
    err = np.abs(V @ np.array(c) / F - 1)
    print("GELU s0..s9:", c, "max relative error %.3g (a <= 7), %.3g (all)" % (err[a <= 7].max(), err.max()))


if __name__ == "__main__":
    main()
