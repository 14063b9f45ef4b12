"""Command-line start-up: `symgrad derive examples/multi_loss.yaml --no-check` / `import sympy`.

    python bench/startup.py [--quick]

Both commands run as fresh subprocesses (`python -m symgrad ...` with the repository on
PYTHONPATH, and `python -c "import sympy"`), alternately, median of the wall times.
Target: ratio <= 2.5, which needs torch never to be imported by a derive without a check.
`python -X importtime` of the derive is then read to list the imports that dominate and
to tell whether torch (or another heavy package) was imported at all.
"""
import argparse
import os
import subprocess
import sys
import time

from _common import REPO, EXAMPLES, machine_line, median, table, verdict, fmt_s

SPEC = os.path.join(EXAMPLES, "multi_loss.yaml")
DERIVE = [sys.executable, "-m", "symgrad", "derive", SPEC, "--no-check"]
SYMPY = [sys.executable, "-c", "import sympy"]
BARE = [sys.executable, "-c", "pass"]


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = REPO + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


def wall(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t0, p


def import_profile(top=12):
    """(top-level packages by cumulative import time, set of all imported module names)."""
    p = subprocess.run([sys.executable, "-X", "importtime"] + DERIVE[1:], cwd=REPO, env=env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mods, rows = {}, []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            cum = int(parts[1])
        except ValueError:
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        mods.setdefault(name.strip(), cum)
        if depth <= 1:
            rows.append((cum, name.strip(), depth))
    rows.sort(reverse=True)
    return rows[:top], mods


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run (3 runs each)")
    args = ap.parse_args()
    runs = 3 if args.quick else 9
    print(machine_line())
    print("runs: %d of each, alternated; cwd=%s\n" % (runs, REPO))

    _, first = wall(DERIVE)                 # warm the page cache and write .pyc files
    wall(SYMPY)
    status = first.returncode
    if status != 0:
        print("symgrad derive exited %d: %s"
              % (status, first.stderr.decode(errors="replace").strip()[:300]))
    cmds = {"symgrad derive --no-check": DERIVE, "python -c 'import sympy'": SYMPY,
            "python -c 'pass'": BARE}
    times = {k: [] for k in cmds}
    for r in range(runs):
        names = list(cmds)
        for k in names[r % 3:] + names[:r % 3]:
            times[k].append(wall(cmds[k])[0])
    base = times["python -c 'import sympy'"]
    ratios = [a / b for a, b in zip(times["symgrad derive --no-check"], base)]
    rows = [[k, fmt_s(median(v)), fmt_s(min(v)), "%.2f" % median([a / b for a, b in zip(v, base)]),
             "%.2f" % (min(v) / min(base))] for k, v in times.items()]
    table(["command", "median wall", "min wall", "ratio to import sympy", "(of mins)"], rows)

    top, mods = import_profile()
    print("\nheaviest imports of the derive (python -X importtime, cumulative, top level):")
    table(["module", "cumulative"], [[("  " * d) + n, fmt_s(c * 1e-6)] for c, n, d in top])
    pkgs = ("sympy", "mpmath", "yaml", "click", "jinja2", "numpy", "torch", "scipy", "matplotlib")
    print("packages imported (cumulative import time): %s" % (", ".join(
        "%s %s" % (m, fmt_s(mods[m] * 1e-6)) for m in pkgs if m in mods) or "none"))
    print("not imported: %s" % ", ".join(m for m in pkgs if m not in mods))
    print("torch imported by `derive --no-check`: %s" % ("YES" if "torch" in mods else "no"))
    r = median(ratios)
    print("RATIO symgrad derive --no-check / import sympy: %.2f   target <= 2.5  %s%s"
          % (r, verdict(r, 2.5), "" if status == 0 else "  (but the command FAILED, exit %d)" % status))


if __name__ == "__main__":
    main()
