"""Which derivation is slowest, and where does its time go? (issue 7, item 5)

    python bench/profile_derive.py [--quick] [--top N]
    python -m cProfile -s cumtime bench/profile_derive.py --case chain40 | head -60

Times every example in examples/, a 40-layer tanh chain and a 4096-wide MLP, stage by stage
(SymPy cache cleared before each, so cold, as the command line sees it): loads, derive, the
printed forms (text, LaTeX, index LaTeX of every gradient: what `derive` prints and the
notes need), and the compiled module's source.  Then profiles the slowest case with
cProfile and prints its top functions by cumulative and by own (total) time.
`--case NAME` runs one case once (for profiling it from outside, as above).
"""
import argparse
import cProfile
import io
import os
import pstats
import time

from _common import machine_line, table, fmt_s, median, chain_spec, mlp_spec, example_files

from sympy.core.cache import clear_cache

import symgrad


def cases():
    out = {}
    for f in example_files():
        out[os.path.splitext(os.path.basename(f))[0]] = open(f).read()
    out["chain40"] = chain_spec(40)
    out["mlp4096"] = mlp_spec([4096, 4096, 4096, 4096], act="tanh", loss="mse_loss")
    return out


def pipeline(text, stamps=None):
    """loads -> derive -> printed forms -> module source; stage times into stamps."""
    t = [time.perf_counter()]
    p = symgrad.loads(text)
    t.append(time.perf_counter())
    d = symgrad.derive(p)
    t.append(time.perf_counter())
    for g in d.gradients:
        g.text, g.latex, g.index_latex
    t.append(time.perf_counter())
    try:
        d.module_source()
    except Exception:
        pass
    t.append(time.perf_counter())
    if stamps is not None:
        stamps.append([b - a for a, b in zip(t, t[1:])])
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run (fewer repeats)")
    ap.add_argument("--top", type=int, default=20, help="rows of each profile table")
    ap.add_argument("--case", help="run this one case once and exit (for an outside profiler)")
    args = ap.parse_args()
    allc = cases()
    if args.case:
        pipeline(allc[args.case])
        return
    runs = 3 if args.quick else 5
    print(machine_line())
    print("cold runs per case: %d (SymPy cache cleared before each); median per stage\n" % runs)
    pipeline(allc["multi_loss"])             # first-call costs out of the way
    stats = {k: [] for k in allc}
    errors = {}
    for r in range(runs):
        for k, text in allc.items():
            if k in errors:
                continue
            clear_cache()
            try:
                pipeline(text, stats[k])
            except Exception as e:
                errors[k] = "%s: %s" % (type(e).__name__, str(e)[:80])
    rows = []
    totals = {}
    for k, st in stats.items():
        if not st:
            rows.append([k, "error", "", "", "", "", errors.get(k, "")])
            continue
        med = [median([s[i] for s in st]) for i in range(4)]
        totals[k] = median([sum(s) for s in st])
        rows.append([k] + [fmt_s(m) for m in med] + [fmt_s(totals[k]), errors.get(k, "")])
    rows.sort(key=lambda r: -totals.get(r[0], 0))
    table(["case", "loads", "derive", "print text+latex+index", "module src", "total", "error"], rows)

    slowest = max(totals, key=totals.get)
    pruns = 1 if args.quick else 2
    print("\nslowest: %s (%s); cProfile of %d cold run(s) of its whole pipeline"
          " (cProfile slows it ~2-3x):" % (slowest, fmt_s(totals[slowest]), pruns))
    prof = cProfile.Profile()
    for _ in range(pruns):
        clear_cache()
        prof.enable()
        pipeline(allc[slowest])
        prof.disable()
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        ps = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key)
        ps.print_stats(args.top)
        text = buf.getvalue()
        body = text[text.index("ncalls"):] if "ncalls" in text else text
        print("\n-- top %d by %s --" % (args.top, key))
        print(body.rstrip())


if __name__ == "__main__":
    main()
