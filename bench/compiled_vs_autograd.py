"""Compiled closed-form gradients vs torch autograd, side by side (issue 7).

    python bench/compiled_vs_autograd.py [--quick] [--threads N]

1. MLP 784-512-512-10 (relu, linear layers, cross_entropy with a probability target),
   batch 256, float32 and float64.  autograd: leaf tensors with requires_grad, the same
   forward in plain torch (F.linear, relu, F.cross_entropy), loss.backward(), grads set to
   None between iterations.  compiled: `symgrad.derive(p).compile()(**inputs)`, which
   computes the forward values it needs itself.  Target: autograd time / compiled time
   >= 1.0 (aim 1.2).  A hand-written closed form (plain torch) is timed alongside as the
   reference for what is achievable.
2. The notebook's 1x4 example (examples/multi_loss.yaml): autograd forward +
   d.backward(retain_graph=True) + e.backward() (reading a.grad after each) vs the compiled
   gradients() returning both.  Target >= 10x (aim 20x).

Every pair is checked for agreement (allclose) before it is timed; timings alternate the
contenders block by block, and the ratio is the median of per-round ratios.
"""
import argparse
import os

from _common import (EXAMPLES, machine_line, interleaved, median, paired_ratios, min_ratio,
                     ratio_iqr, pick_number, table, verdict, fmt_s, mlp_spec)

import torch
import torch.nn.functional as F

import symgrad

MLP_SIZES = [784, 512, 512, 10]
BATCH = 256


def mlp_inputs(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    x = r(BATCH, MLP_SIZES[0])
    ins = {"x": x}
    for i, (a, b) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:]), 1):
        ins["W%d" % i] = r(b, a) / a ** 0.5          # torch layout [out, in]
        ins["b%d" % i] = 0.1 * r(b)
    ins["y"] = torch.softmax(r(BATCH, MLP_SIZES[-1]), dim=1)
    return {k: v.to(dtype) for k, v in ins.items()}


def mlp_autograd(ins):
    params = {k: v.clone().requires_grad_(True) for k, v in ins.items() if k[0] in "Wb"}
    x, y = ins["x"], ins["y"]
    P = params

    def step():
        for p in P.values():
            p.grad = None
        h1 = torch.relu(F.linear(x, P["W1"], P["b1"]))
        h2 = torch.relu(F.linear(h1, P["W2"], P["b2"]))
        z = F.linear(h2, P["W3"], P["b3"])
        loss = F.cross_entropy(z, y)
        loss.backward()
        return {k: p.grad for k, p in P.items()}
    return step


def mlp_handwritten(ins):
    """Backprop written by hand in plain torch: the 'closed form' reference."""
    x, y = ins["x"], ins["y"]
    W1, b1, W2, b2, W3, b3 = (ins[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))

    def step():
        h1 = torch.relu(F.linear(x, W1, b1))
        h2 = torch.relu(F.linear(h1, W2, b2))
        z = F.linear(h2, W3, b3)
        dz = (torch.softmax(z, dim=1) - y) / x.shape[0]
        d2 = (dz @ W3) * (h2 > 0)
        d1 = (d2 @ W2) * (h1 > 0)
        return {"W3": dz.T @ h2, "b3": dz.sum(0), "W2": d2.T @ h1, "b2": d2.sum(0),
                "W1": d1.T @ x, "b1": d1.sum(0)}
    return step


def agree(got, want, dtype):
    rtol, atol = (1e-4, 1e-6) if dtype == torch.float32 else (1e-9, 1e-12)
    bad = [k for k in want if not torch.allclose(got[k], want[k], rtol=rtol, atol=atol)]
    err = max(float((got[k] - want[k]).abs().max()) for k in want)
    return not bad, err, bad


def run_pair(funcs, rounds, block_s=0.02):
    for f in funcs.values():                    # warm-up
        for _ in range(3):
            f()
    number = max(1, pick_number(next(iter(funcs.values())), target_s=block_s))
    return interleaved(funcs, rounds, number=number), number


def bench_mlp(rounds, dtypes):
    text = mlp_spec(MLP_SIZES, batch="B", batch_value=BATCH, act="relu", loss="cross_entropy",
                    layer="linear", title="MLP 784-512-512-10")
    fn = symgrad.derive(symgrad.loads(text)).compile()
    rows, ratios = [], {}
    for dt in dtypes:
        dtype = getattr(torch, dt)
        ins = mlp_inputs(dtype)
        ag, hw = mlp_autograd(ins), mlp_handwritten(ins)
        comp = lambda: fn(**ins)["L"]
        want = ag()
        ok_c, err_c, bad_c = agree(comp(), want, dtype)
        ok_h, err_h, _ = agree(hw(), want, dtype)
        print("%s: compiled vs autograd agree: %s (max abs err %.2e%s); hand-written agrees: %s (%.2e)"
              % (dt, ok_c, err_c, "" if ok_c else ", differ: %s" % bad_c, ok_h, err_h))
        t, number = run_pair({"autograd": ag, "compiled": comp, "hand-written": hw}, rounds,
                             block_s=0.03)
        r = paired_ratios(t, "autograd", "compiled")
        ratios[dt] = (r, min_ratio(t, "autograd", "compiled"),
                      ratio_iqr(t, "autograd", "compiled"), ok_c)
        for k in t:
            rows.append([dt, k, fmt_s(median(t[k])), fmt_s(min(t[k])),
                         "%.2f" % paired_ratios(t, "autograd", k),
                         "%.2f" % min_ratio(t, "autograd", k), number])
    print()
    table(["dtype", "method", "median/call", "min/call", "autograd/this", "(of mins)",
           "calls/block"], rows)
    for dt, (r, rm, (q1, q3), ok) in ratios.items():
        print("RATIO MLP %s autograd / compiled: %.2fx (rounds' IQR %.2f-%.2f; of the best blocks:"
              " %.2fx)   target >= 1.0 (aim 1.2)  %s%s" % (dt, r, q1, q3, rm, verdict(r, 1.0, "higher"),
                                                         "" if ok else "  (but gradients DISAGREE)"))
    return ratios


def bench_multi_loss(rounds):
    path = os.path.join(EXAMPLES, "multi_loss.yaml")
    fn = symgrad.derive(symgrad.load(path)).compile()
    a0 = torch.tensor([[0.0688, 0.2060, 0.3086, 0.4836]], dtype=torch.float64)
    a = a0.clone().requires_grad_(True)

    def ag():
        a.grad = None
        b = a ** 2
        c = b * 2
        d = c.mean()
        e = c.sum()
        d.backward(retain_graph=True)
        gd = a.grad
        a.grad = None
        e.backward()
        ge = a.grad
        a.grad = None
        return {"d": {"a": gd}, "e": {"a": ge}}

    def hw():
        return {"d": {"a": a0.clone()}, "e": {"a": 4 * a0}}

    comp = lambda: fn(a=a0)
    want, got = ag(), comp()
    ok = all(torch.allclose(got[o]["a"], want[o]["a"], rtol=1e-12, atol=1e-15) for o in "de")
    err = max(float((got[o]["a"] - want[o]["a"]).abs().max()) for o in "de")
    print("multi_loss: compiled vs autograd agree: %s (max abs err %.1e); compiled d/da=%s e/da=%s"
          % (ok, err, got["d"]["a"].tolist(), got["e"]["a"].tolist()))
    t, number = run_pair({"autograd": ag, "compiled": comp, "hand-written": hw}, rounds)
    rows = [["float64", k, fmt_s(median(t[k])), fmt_s(min(t[k])),
             "%.2f" % paired_ratios(t, "autograd", k), "%.2f" % min_ratio(t, "autograd", k), number]
            for k in t]
    print()
    table(["dtype", "method", "median/call", "min/call", "autograd/this", "(of mins)",
           "calls/block"], rows)
    r, rm = paired_ratios(t, "autograd", "compiled"), min_ratio(t, "autograd", "compiled")
    q1, q3 = ratio_iqr(t, "autograd", "compiled")
    print("RATIO multi_loss autograd (fwd + 2 backward) / compiled gradients(): %.2fx "
          "(rounds' IQR %.2f-%.2f; of the best blocks: %.2fx)   target >= 10 (aim 20)  %s%s"
          % (r, q1, q3, rm, verdict(r, 10.0, "higher"), "" if ok else "  (DISAGREE)"))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run (float32 only, few rounds)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: number of cores)")
    args = ap.parse_args()
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(machine_line(torch.get_num_threads()))
    rounds = 5 if args.quick else 41
    dtypes = ["float32"] if args.quick else ["float32", "float64"]
    print("rounds: %d (contenders alternated block by block)\n" % rounds)
    print("1. MLP %s, batch %d, relu, linear, cross_entropy" % ("-".join(map(str, MLP_SIZES)), BATCH))
    bench_mlp(rounds, dtypes)
    print("\n2. examples/multi_loss.yaml (1x4): b = a**2, c = b*2, d = mean(c), e = sum(c)")
    bench_multi_loss(rounds * 2)


if __name__ == "__main__":
    main()
