"""`symgrad derive --no-check` on long elementwise chains must take time linear in the nodes (issue 10).

    python bench/chain_scaling.py [--quick] [--sizes 500,1000,2000,5000] [--timeout S]

Each chain is ``h1 = tanh(x)`` and then every node an elementwise function of the one before
it, used once or several times (``sin(h)*h + exp(-h)``, ``sigmoid(h)*h``, ``h**2/4 - h``,
``log1p(h**2) + h`` ...), ending in ``loss = sum(h_N)`` with ``backward: [loss.backward()]``
so that the autograd graph and the schedule's prediction run too.  For each size it runs,
in a fresh process (so one size cannot warm SymPy's cache for the next), what
``symgrad derive SPEC --no-check`` runs: ``loads`` (parse, shapes, autograd flags), ``derive``
(the reverse sweep), and the printed summary (every closed form as text, the schedule).
It prints the stage times (wall clock) side by side, the process's CPU time in all (steadier
on a shared machine), the CPU time per node, and the ratio of each size's CPU time to the
smallest size's, next to the ratio of the node counts (linear: equal).
A size that does not finish within ``--timeout`` seconds is shown as ``> S``.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from _common import REPO, machine_line, table

TEMPLATES = ["sin({a})*{a} + exp(-{a})", "tanh({a})", "sigmoid({a})*{a}", "{a}**2/4 - {a}",
             "exp(-{a}**2) + {a}/2", "log1p({a}**2) + {a}"]


def chain_spec(n, shape="[4]"):
    """An elementwise chain of n nodes over one input x, and loss = sum(h_n)."""
    lines = ["title: elementwise chain of %d nodes" % n, "inputs:", "  x: {shape: %s}" % shape,
             "nodes:", "  h1: tanh(x)"]
    for k in range(2, n + 1):
        lines.append("  h%d: %s" % (k, TEMPLATES[k % len(TEMPLATES)].format(a="h%d" % (k - 1))))
    lines += ["  loss: sum(h%d)" % n, "outputs: [loss]", "backward:", "  - loss.backward()"]
    return "\n".join(lines) + "\n"


def one(n):
    """Run in a child process: the stage times of one size, as JSON on stdout."""
    sys.path.insert(0, REPO)
    import symgrad
    text = chain_spec(n)
    c0 = time.process_time()
    t0 = time.perf_counter()
    prob = symgrad.loads(text)
    t1 = time.perf_counter()
    d = symgrad.derive(prob)
    t2 = time.perf_counter()
    out = d.summary()
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    g = d.gradient("loss", "x")
    print(json.dumps({"load": t1 - t0, "derive": t2 - t1, "text": t3 - t2, "total": t3 - t0,
                      "cpu": cpu, "chars": len(g.text), "summary": len(out)}))


def measure(n, timeout):
    try:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", str(n)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        raise SystemExit("size %d failed:\n%s" % (n, r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes 100, 200, 400")
    ap.add_argument("--sizes", default="500,1000,2000,5000")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per size")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args.one)
    sizes = [100, 200, 400] if args.quick else [int(s) for s in args.sizes.split(",")]
    print(machine_line())
    print("symgrad derive --no-check on an elementwise chain (one fresh process per size)\n")
    rows, base = [], None
    for n in sizes:
        r = measure(n, args.timeout)
        if r is None:
            rows.append([n, "-", "-", "-", "> %g s" % args.timeout, "-", "-", "-", "-", "-"])
            continue
        if base is None:
            base = (n, r["cpu"])
        rows.append([n, "%.2f s" % r["load"], "%.2f s" % r["derive"], "%.2f s" % r["text"],
                     "%.2f s" % r["total"], "%.2f s" % r["cpu"], "%.2f ms" % (1e3 * r["cpu"] / n),
                     "%.2f" % (r["cpu"] / base[1]), "%.2f" % (n / base[0]), r["chars"]])
    table(["nodes", "loads", "derive", "summary", "wall total", "cpu total", "cpu per node",
           "cpu ratio", "node ratio", "len(dloss/dx)"], rows)


if __name__ == "__main__":
    main()
