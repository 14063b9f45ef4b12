"""Notes rendering time against the size of the graph (issue 15), side by side.

An elementwise chain of n nodes (h_k = h_{k-1}*x + tanh(h_{k-1}), L = sum(h_{n-1})) for
n = 10, 20, 40, 80: the derivation, then the Markdown, LaTeX and HTML notes, each timed
cold (a fresh derivation, sympy's cache cleared, so nothing is reused from an earlier
render) and warm (the same derivation rendered again: PyTorch's numbers are cached on it).
The chains are interleaved round by round, so a busy moment of the shared machine
disturbs them alike.  Target: time about linear in the graph -- the 80-node chain no
more than 3x the per-node cost of the 20-node one -- and a 40-node chain in seconds.

    python bench/notes_scaling.py            # 3 rounds
    python bench/notes_scaling.py --quick    # 1 round, n = 10, 20, 40
"""
import sys
import time

from _common import machine_line, median, table

import symgrad


def chain(n):
    lines = ["inputs:", "  x: {shape: [3]}", "nodes:", "  h1: sin(x)"]
    lines += ["  h%d: h%d*x + tanh(h%d)" % (k, k - 1, k - 1) for k in range(2, n)]
    lines.append("  L: sum(h%d)" % (n - 1))
    return "\n".join(lines) + "\n"


def one(n):
    """(derive, md cold, tex, html, md warm) seconds for a fresh derivation of the n-chain."""
    from sympy.core.cache import clear_cache
    clear_cache()
    t = [time.perf_counter()]
    d = symgrad.derive(symgrad.loads(chain(n)))
    t.append(time.perf_counter())
    for fmt in ("md", "tex", "html", "md"):
        d.render(fmt)
        t.append(time.perf_counter())
    return [b - a for a, b in zip(t, t[1:])]


def main():
    quick = "--quick" in sys.argv
    sizes = (10, 20, 40) if quick else (10, 20, 40, 80)
    rounds = 1 if quick else 3
    print(machine_line())
    symgrad.derive(symgrad.loads(chain(5))).render("md")        # torch's import, once
    got = {n: [] for n in sizes}
    for r in range(rounds):
        order = sizes[r % len(sizes):] + sizes[:r % len(sizes)]
        for n in order:
            got[n].append(one(n))
    rows, per_node = [], {}
    for n in sizes:
        med = [median([x[k] for x in got[n]]) for k in range(5)]
        per_node[n] = med[1] / n
        rows.append([n] + ["%.2f" % v for v in med] + ["%.1f" % (1000 * med[1] / n)])
    print("\nseconds (median of %d rounds); md cold = first render of a fresh derivation" % rounds)
    table(["nodes", "derive", "md cold", "tex", "html", "md warm", "md ms/node"], rows)
    big, small = max(sizes), 20
    ratio = per_node[big] / per_node[small]
    ok_linear = ratio <= 3
    ok_40 = median([x[1] for x in got[40]]) < 10
    print("\nmd per node, %d vs %d nodes: %.2fx (target <= 3: about linear): %s"
          % (big, small, ratio, "PASS" if ok_linear else "FAIL"))
    print("40-node chain, md cold: %.2f s (target: seconds, < 10): %s"
          % (median([x[1] for x in got[40]]), "PASS" if ok_40 else "FAIL"))
    print("verdict: %s" % ("PASS" if ok_linear and ok_40 else "FAIL"))


if __name__ == "__main__":
    main()
