"""Shared helpers for the benchmarks in bench/: spec builders, interleaved timing, tables.

Nothing here imports torch at module level, so `bench/startup.py` stays torch-free.
The benchmarks are plain scripts (``python bench/NAME.py [--quick]``), not tests: each one
prints a small table, the ratios measured side by side in the same run, and a PASS/FAIL
verdict against the target of issue 7.
"""
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
if REPO not in sys.path:
    sys.path.insert(0, REPO)


# --- machine ------------------------------------------------------------------------------
def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def torch_version():
    """torch's version without importing it (importlib.metadata reads the dist-info)."""
    try:
        from importlib.metadata import version
        return version("torch")
    except Exception:
        return "not installed"


def sympy_version():
    try:
        from importlib.metadata import version
        return version("sympy")
    except Exception:
        return "not installed"


def machine_line(threads=None):
    s = "machine: nproc=%d, cpu=%s, python %s, torch %s, sympy %s" % (
        os.cpu_count() or 0, cpu_model(), platform.python_version(), torch_version(), sympy_version())
    if threads is not None:
        s += ", torch threads=%d" % threads
    return s


# --- timing -------------------------------------------------------------------------------
def median(xs):
    return statistics.median(xs)


def interleaved(funcs, rounds, number=1, setup=None):
    """Time several callables alternately: each round runs every callable `number` times
    (rotating the order each round so no one always goes first); returns
    {name: [seconds per call, one per round]}.  `setup(name)` runs untimed before each block.
    """
    names = list(funcs)
    out = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            if setup is not None:
                setup(n)
            f = funcs[n]
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            out[n].append((time.perf_counter() - t0) / number)
    return out


def pick_number(f, target_s=0.02, cap=100000):
    """Calls per timed block so that one block lasts about target_s (from the fastest of a
    few trial runs, so that a busy moment does not shrink the blocks)."""
    n, best = 1, None
    while True:
        trials = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            trials.append((time.perf_counter() - t0) / n)
        best = min(trials)
        if best * n >= target_s / 4 or n >= cap:
            return max(1, min(cap, int(round(target_s / max(best, 1e-9)))))
        n *= 4


def paired_ratios(times, num, den):
    """Median of per-round ratios num/den (the rounds were run side by side)."""
    return median([a / b for a, b in zip(times[num], times[den])])


def ratio_iqr(times, num, den):
    """Interquartile range (q1, q3) of the per-round ratios num/den: the noise of a verdict."""
    r = sorted(a / b for a, b in zip(times[num], times[den]))
    if len(r) < 4:
        return r[0], r[-1]
    q = statistics.quantiles(r, n=4)
    return q[0], q[2]


def min_ratio(times, num, den):
    """Ratio of the best (least disturbed) block times: robust when the machine is shared."""
    return min(times[num]) / min(times[den])


# --- printing -----------------------------------------------------------------------------
def fmt_s(s):
    if s >= 1:
        return "%.3f s" % s
    if s >= 1e-3:
        return "%.3f ms" % (s * 1e3)
    return "%.2f us" % (s * 1e6)


def table(headers, rows):
    cols = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    widths = [max(len(c) for c in col) for col in cols]
    line = lambda cells: "  ".join(str(c).rjust(w) if k else str(c).ljust(w)
                                   for k, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def verdict(value, target, better="lower"):
    ok = value <= target if better == "lower" else value >= target
    return "PASS" if ok else "FAIL"


# --- spec builders (YAML text) ------------------------------------------------------------
def mlp_spec(sizes, batch="n", batch_value=8, act="tanh", loss="mse_loss", layer="matmul",
             title=None):
    """An MLP spec: sizes = [in, hidden..., out]; weights W_i, biases b_i.

    layer="matmul": h = act(h @ W_i + b_i) with W_i of shape [in, out];
    layer="linear": h = act(linear(h, W_i, b_i)) with W_i of shape [out, in] (torch layout).
    loss: "mse_loss" (target y of the output's shape) or "cross_entropy" (probability target).
    """
    lines = []
    if title:
        lines.append("title: %s" % title)
    lines.append("dims: {%s: %d}" % (batch, batch_value))
    lines.append("inputs:")
    lines.append("  x: {shape: [%s, %d], requires_grad: false}" % (batch, sizes[0]))
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        w = [a, b] if layer == "matmul" else [b, a]
        lines.append("  W%d: {shape: [%d, %d]}" % (i, w[0], w[1]))
        lines.append("  b%d: {shape: [%d]}" % (i, b))
    dom = ", domain: simplex" if loss == "cross_entropy" else ""
    lines.append("  y: {shape: [%s, %d], requires_grad: false%s}" % (batch, sizes[-1], dom))
    lines.append("nodes:")
    prev = "x"
    nl = len(sizes) - 1
    for i in range(1, nl + 1):
        pre = ("%s @ W%d + b%d" % (prev, i, i)) if layer == "matmul" else \
              ("linear(%s, W%d, b%d)" % (prev, i, i))
        name = "h%d" % i if i < nl else "z"
        lines.append("  %s: %s" % (name, "%s(%s)" % (act, pre) if i < nl else pre))
        prev = name
    lines.append("  L: %s(z, y)" % loss)
    lines.append("outputs: [L]")
    return "\n".join(lines) + "\n"


def chain_spec(depth, width=4, batch=8):
    """A tanh chain h_k = tanh(h_{k-1} @ W_k), k = 1..depth, and L = mse_loss(h_depth, y)."""
    lines = ["title: tanh chain of depth %d" % depth,
             "dims: {n: %d, w: %d}" % (batch, width),
             "inputs:",
             "  x: {shape: [n, w], requires_grad: false}"]
    for i in range(1, depth + 1):
        lines.append("  W%d: {shape: [w, w]}" % i)
    lines.append("  y: {shape: [n, w], requires_grad: false}")
    lines.append("nodes:")
    prev = "x"
    for i in range(1, depth + 1):
        lines.append("  h%d: tanh(%s @ W%d)" % (i, prev, i))
        prev = "h%d" % i
    lines.append("  L: mse_loss(%s, y)" % prev)
    lines.append("outputs: [L]")
    return "\n".join(lines) + "\n"


def example_files():
    return sorted(os.path.join(EXAMPLES, f) for f in os.listdir(EXAMPLES) if f.endswith(".yaml"))
