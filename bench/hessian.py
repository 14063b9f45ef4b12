"""Compiled second order vs PyTorch's, side by side in one run, float32 (issue 14).

    python bench/hessian.py [--quick] [--threads N]

1. Hessian of ``x @ A @ x``, n = 1000: compiled ``hessians()`` (``A + A.T``) against the
   faster of ``torch.func.hessian`` and ``torch.autograd.functional.hessian``.
   Target: >= 30x.
2. Hessian of logistic regression's mean binary cross-entropy, X 2000x200: compiled
   ``hessians()`` (``X.T @ (p*(1 - p)*X)/n``) against the faster of the same two.
   Target: >= 10x.
3. Hessian-vector product of a 2-layer tanh MLP 256-512-512-10 (cross-entropy with a
   probability target), batch 128, w.r.t. the first layer's weight: compiled ``hvps()``
   against double backward (``grad(grad(L, W1, create_graph=True), W1, v)``) and
   ``torch.func.jvp`` of ``torch.func.grad``.  Target: >= 0.97x the faster (aim 1.3x).

Every pair is checked for agreement before it is timed; contenders alternate block by block
and a ratio is the median of per-round ratios (`_common.interleaved`).
"""
import argparse
import os

from _common import (machine_line, interleaved, paired_ratios, min_ratio, ratio_iqr, pick_number, table,
                     verdict, fmt_s, mlp_spec)

import torch
import torch.nn.functional as F

import symgrad

XAX_N = 1000
LOGISTIC = (2000, 200)
MLP_SIZES = [256, 512, 512, 10]
MLP_BATCH = 128


def compiled(text):
    d = symgrad.derive(symgrad.loads(text))
    return d.compile().module


# --- the three problems -------------------------------------------------------------------
def xax_case(g):
    n = XAX_N
    mod = compiled("""
title: quadratic form
dims: {n: %d}
inputs:
  x: {shape: [n]}
  A: {shape: [n, n], requires_grad: false}
nodes:
  q: x @ A @ x
hessians: [[q, x]]
""" % n)
    x = torch.randn(n, generator=g)
    A = torch.randn(n, n, generator=g)
    f = lambda x: x @ A @ x                                  # noqa: E731
    return {"symgrad hessians()": lambda: mod.hessians(x=x, A=A)["q"]["x"]["x"],
            "torch.func.hessian": lambda: torch.func.hessian(f)(x),
            "autograd.functional.hessian": lambda: torch.autograd.functional.hessian(f, x)}


def logistic_case(g):
    n, k = LOGISTIC
    mod = compiled("""
title: logistic regression
dims: {n: %d, k: %d}
inputs:
  X: {shape: [n, k], requires_grad: false}
  y: {shape: [n], requires_grad: false, domain: unit}
  w: {shape: [k]}
nodes:
  p: sigmoid(X @ w)
  L: binary_cross_entropy(p, y)
hessians: [[L, w]]
""" % (n, k))
    X = torch.randn(n, k, generator=g) / k ** 0.5
    y = (torch.rand(n, generator=g) > 0.5).float() * 0.8 + 0.1
    w = torch.randn(k, generator=g)
    f = lambda w: F.binary_cross_entropy(torch.sigmoid(X @ w), y)     # noqa: E731
    return {"symgrad hessians()": lambda: mod.hessians(X=X, y=y, w=w)["L"]["w"]["w"],
            "torch.func.hessian": lambda: torch.func.hessian(f)(w),
            "autograd.functional.hessian": lambda: torch.autograd.functional.hessian(f, w)}


def mlp_case(g):
    text = mlp_spec(MLP_SIZES, batch_value=MLP_BATCH, act="tanh", loss="cross_entropy", layer="linear",
                    title="2-layer tanh MLP") + "hessians: [[L, W1]]\n"
    mod = compiled(text)
    r = lambda *s: torch.randn(*s, generator=g)                        # noqa: E731
    ins = {"x": r(MLP_BATCH, MLP_SIZES[0])}
    for i, (a, b) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:]), 1):
        ins["W%d" % i] = r(b, a) / a ** 0.5
        ins["b%d" % i] = 0.1 * r(b)
    ins["y"] = torch.softmax(r(MLP_BATCH, MLP_SIZES[-1]), dim=1)
    v = r(*ins["W1"].shape)

    def loss(W1):
        h1 = torch.tanh(F.linear(ins["x"], W1, ins["b1"]))
        h2 = torch.tanh(F.linear(h1, ins["W2"], ins["b2"]))
        return F.cross_entropy(F.linear(h2, ins["W3"], ins["b3"]), ins["y"])

    def double_backward():
        W1 = ins["W1"].detach().requires_grad_(True)
        gr, = torch.autograd.grad(loss(W1), W1, create_graph=True)
        hv, = torch.autograd.grad(gr, W1, grad_outputs=v)
        return hv

    grad_f = torch.func.grad(loss)
    return {"symgrad hvps()": lambda: mod.hvps(**ins, v_W1=v)["L"]["W1"]["W1"],
            "double backward": double_backward,
            "torch.func.jvp(grad)": lambda: torch.func.jvp(grad_f, (ins["W1"],), (v,))[1]}


# --- running ------------------------------------------------------------------------------
def run(name, funcs, ours, target, rounds):
    ref = None
    for k, f in funcs.items():
        out = f()
        if ref is None:
            ref = out
        elif not torch.allclose(out, ref, rtol=1e-3, atol=1e-4 * float(ref.abs().max())):
            raise SystemExit("%s: %s disagrees with %s (max diff %.3g)" % (
                name, k, ours, float((out - ref).abs().max())))
    number = {k: pick_number(f) for k, f in funcs.items()}
    times = {}
    for k, f in funcs.items():                  # each contender with its own block size
        def block(f=f, m=number[k]):
            for _ in range(m):
                f()
        times[k] = block
    raw = interleaved(times, rounds)
    per = {k: [t / number[k] for t in v] for k, v in raw.items()}
    others = [k for k in funcs if k != ours]
    best = min(others, key=lambda k: sorted(per[k])[len(per[k]) // 2])
    rows = [[k, fmt_s(sorted(per[k])[len(per[k]) // 2])] for k in funcs]
    print("\n%s" % name)
    table(["method", "median time"], rows)
    ratio = paired_ratios(per, best, ours)
    q1, q3 = ratio_iqr(per, best, ours)
    print("ratio %s / %s: %.2fx (IQR %.2f-%.2f, best blocks %.2fx); target >= %gx: %s" % (
        best, ours, ratio, q1, q3, min_ratio(per, best, ours), target, verdict(ratio, target, "higher")))
    return ratio


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float32)
    print(machine_line(torch.get_num_threads()))
    print("float32; every method checked against the others before timing")
    g = torch.Generator().manual_seed(0)
    rounds = 3 if a.quick else 15
    results = [
        run("Hessian of x @ A @ x, n = %d" % XAX_N, xax_case(g), "symgrad hessians()", 30, rounds),
        run("Hessian of logistic regression, X %dx%d" % LOGISTIC, logistic_case(g), "symgrad hessians()", 10,
            rounds),
        run("HVP of a tanh MLP %s, batch %d, w.r.t. W1" % ("-".join(map(str, MLP_SIZES)), MLP_BATCH),
            mlp_case(g), "symgrad hvps()", 0.97, rounds),
    ]
    ok = all(r >= t for r, t in zip(results, (30, 10, 0.97)))
    print("\nall targets: %s" % ("PASS" if ok else "FAIL"))


if __name__ == "__main__":
    main()
