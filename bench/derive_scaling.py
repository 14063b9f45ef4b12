"""Derivation cost must not grow with tensor sizes, and only linearly with depth (issue 7).

    python bench/derive_scaling.py [--quick]

1. loads+derive of a 3-layer tanh MLP whose layers are 4096 wide / the same MLP 4 wide
   (target <= 1.5).  Cold: SymPy's cache cleared before every run; warm: not cleared.
   The two widths are run alternately; medians of the runs, and the median of the
   per-pair ratios.
2. loads+derive of a tanh chain of depth 40 / depth 5 (target <= 12, i.e. linear growth),
   and the printed size of dL/dW1 (len of .text and .latex) and of all gradients, for
   depths 5, 10, 20, 40.
"""
import argparse
import re
import time

from _common import (machine_line, interleaved, median, paired_ratios, table, verdict, fmt_s,
                     mlp_spec, chain_spec)

import sympy
from sympy.core.cache import clear_cache

import symgrad


def derive_text(text):
    return symgrad.derive(symgrad.loads(text))


def timed_runs(specs, rounds, cold):
    """specs: {label: yaml text}; returns {label: [seconds]} measured alternately."""
    funcs = {k: (lambda t=t: derive_text(t)) for k, t in specs.items()}
    for f in funcs.values():           # import-time and first-call costs out of the way
        f()
    return interleaved(funcs, rounds, number=1, setup=(lambda _n: clear_cache()) if cold else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run (3 rounds)")
    args = ap.parse_args()
    rounds = 3 if args.quick else 9
    print(machine_line())
    print("rounds per case: %d (alternated), SymPy cache cleared before each cold run\n" % rounds)

    # --- 1. width ---------------------------------------------------------------------
    widths = [4, 512, 4096]
    specs = {"w=%d" % w: mlp_spec([w, w, w, w], act="tanh", loss="mse_loss") for w in widths}
    rows = []
    results = {}
    for mode in ("cold", "warm"):
        t = timed_runs(specs, rounds, cold=(mode == "cold"))
        results[mode] = t
        for k in specs:
            rows.append([k, mode, fmt_s(median(t[k])), fmt_s(min(t[k])),
                         "%.2f" % paired_ratios(t, k, "w=4")])
    print("1. loads+derive of a 3-layer tanh MLP (x @ W + b, mse_loss), by layer width")
    table(["width", "cache", "median", "min", "ratio to w=4"], rows)
    cold_ratio = paired_ratios(results["cold"], "w=4096", "w=4")
    warm_ratio = paired_ratios(results["warm"], "w=4096", "w=4")
    d4, d4096 = derive_text(specs["w=4"]), derive_text(specs["w=4096"])
    norm = lambda d: [re.sub(r"\d+", "N", g.text) for g in d.gradients]
    print("closed forms of w=4 and w=4096 identical up to constants: %s"
          % (norm(d4) == norm(d4096)))
    print("dL/dW1 (w=4096) = %s" % d4096.gradient("L", "W1").text)
    for mode, r in (("cold", cold_ratio), ("warm", warm_ratio)):
        print("RATIO width 4096 / width 4 (%s): %.2f   target <= 1.5  %s" % (mode, r, verdict(r, 1.5)))
    print()

    # --- 2. depth ---------------------------------------------------------------------
    depths = [5, 10, 20, 40]
    cspecs = {"depth=%d" % d: chain_spec(d) for d in depths}
    t = timed_runs(cspecs, rounds, cold=True)
    rows = []
    for d in depths:
        k = "depth=%d" % d
        dv = derive_text(cspecs[k])
        g = dv.gradient("L", "W1")
        t0 = time.perf_counter()
        tx, lx = len(g.text), len(g.latex)
        tot_t = sum(len(x.text) for x in dv.gradients)
        tot_l = sum(len(x.latex) for x in dv.gradients)
        tprint = time.perf_counter() - t0
        try:
            src = len(dv.module_source())
        except Exception as e:          # compile.py is being worked on: report, don't die
            src = "error: %s" % type(e).__name__
        rows.append([k, fmt_s(median(t[k])), "%.2f" % paired_ratios(t, k, "depth=5"),
                     tx, "%.2f" % (tx / d), lx, "%.2f" % (lx / d), tot_t, tot_l, src, fmt_s(tprint)])
    print("2. loads+derive of a tanh chain h_k = tanh(h_{k-1} @ W_k), L = mse_loss(h_D, y) (cold)")
    table(["depth", "derive", "ratio", "W1 text", "/depth", "W1 latex", "/depth",
           "all text", "all latex", "module src", "print all"], rows)
    ratio = paired_ratios(t, "depth=40", "depth=5")
    print("(dL/dW1 grows linearly: its length per layer is constant.  'all' sums the D gradients"
          " dL/dW_k, each of length ~ D-k, so it grows ~ D^2/2 by construction: the text form"
          " may only use the spec's names, no named adjoints.)")
    print("RATIO derive depth 40 / depth 5 (cold): %.2f   target <= 12  %s"
          % (ratio, verdict(ratio, 12)))
    w1 = {r[0]: r[3] for r in rows}
    growth = w1["depth=40"] / w1["depth=5"]
    print("RATIO len(dL/dW1 text) depth 40 / depth 5: %.2f   (linear: ~8)  %s"
          % (growth, "PASS" if growth <= 8 * 1.25 else "FAIL"))


if __name__ == "__main__":
    main()
