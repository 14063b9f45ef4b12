"""Big specs are refused or answered in seconds, with bounded memory.

A spec file is at most 10 MB, but 10 MB of YAML entries composed into PyYAML's node tree
took 7-20 s and up to 1 GB.  The event pass before composing now counts entries (at most
`MAX_YAML_ENTRIES`) and the entries of 'inputs', 'nodes', 'dims' and 'backward'
(`SECTION_LIMITS`), so such a file is refused with a located line at once.  Each command
runs in a subprocess that reports its own peak memory (Linux); legitimate big values (a 784x10
weight) still work.
"""
import os
import random
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.spec.yamlread import MAX_FILE_BYTES, MAX_NAMES, MAX_YAML_ENTRIES, MAX_BACKWARD_STEPS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The peak memory of the process itself: VmHWM (getrusage's ru_maxrss also counts the
# parent's pages at the fork, so in a big test run it reads the test runner's size).
PROBE = """import sys
from symgrad.cli import main
try:
    main(sys.argv[1:])
finally:
    try:
        with open("/proc/self/status") as f:
            print([line.split()[1] for line in f if line.startswith("VmHWM:")][0])
    except OSError:                 # not Linux: no figure (0)
        print(0)
"""
MAX_SECONDS = 10          # before: 7-20 s (and > 120 s for 100,000 nodes)
MAX_RSS_MB = 250          # before: 300 MB - 1 GB; symgrad itself with sympy is ~80 MB


def measured(*args):
    """(exit status, stderr lines, seconds, peak MB) of ``symgrad ARGS`` in its own process."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=300, env=env)
    seconds = time.perf_counter() - t
    rss = int(r.stdout.strip().splitlines()[-1]) / 1024
    return r.returncode, r.stderr.splitlines(), seconds, rss


def big(tmp_path, text):
    path = tmp_path / "big.yaml"
    path.write_text(text)
    assert 5_000_000 < path.stat().st_size <= MAX_FILE_BYTES
    return path


def numbers(n, seed=0):
    rnd = random.Random(seed)
    return ["%.9f" % rnd.random() for _ in range(n)]


def refused(path, line, col, fragment):
    code, err, seconds, rss = measured("derive", path)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("symgrad: error: %s:%d:%d: " % (path, line, col)), err[0]
    assert fragment in err[0]
    assert seconds < MAX_SECONDS and rss < MAX_RSS_MB, (seconds, rss)
    with pytest.raises(symgrad.SpecError) as e:          # the library refuses it the same way
        symgrad.load(str(path))
    assert (e.value.line, e.value.col) == (line, col)


def test_a_10mb_value_list_is_refused_at_once(tmp_path):
    vals = numbers(760_000)
    path = big(tmp_path, "inputs:\n  a:\n    shape: [760000]\n    value: [%s]\nnodes:\n  b: sum(a**2)\n"
               % ", ".join(vals))
    # entries: 10 before the list's items (mappings, keys, the shape), so item 249,991 is one too many
    col = 13 + sum(len(v) + 2 for v in vals[:MAX_YAML_ENTRIES - 10])
    refused(path, 4, col, "too many entries (more than %d" % MAX_YAML_ENTRIES)


def test_a_10mb_block_list_is_refused_at_once(tmp_path):
    path = big(tmp_path, "inputs:\n  a:\n    shape: [3]\n    value:\n" +
               "".join("      - %s\n" % v for v in numbers(450_000)) + "nodes:\n  b: sum(a)\n")
    refused(path, 4 + MAX_YAML_ENTRIES - 9, 9, "too many entries")


def test_a_list_of_millions_of_names_is_refused_at_once(tmp_path):
    path = big(tmp_path, "inputs:\n  a: {shape: [3]}\nnodes:\n  b: sum(a)\noutputs: [%s]\n"
               % ", ".join(["b"] * 3_000_000))
    refused(path, 5, 11 + 3 * (MAX_YAML_ENTRIES - 14), "too many entries")


def test_100000_nodes_are_refused_at_once(tmp_path):
    nodes = "".join("  n%d: n%d*2 + a   # %s\n" % (k, k - 1, "padding " * 8) for k in range(1, 100_000))
    path = big(tmp_path, "inputs:\n  a: {shape: [3]}\nnodes:\n  n0: a*2\n" + nodes)
    refused(path, 4 + MAX_NAMES, 3, "'nodes' has more than %d entries" % MAX_NAMES)


def test_a_syntax_error_at_the_end_of_8mb_is_answered_at_once(tmp_path):
    # the fallback that lets symgrad's depth limit answer first re-read the whole file with
    # the pure-Python scanner after any libyaml error: 10 s for this file, now 1-2 s
    rnd = random.Random(0)
    vals = ", ".join("%.30f" % rnd.random() for _ in range(240_000))
    path = big(tmp_path, "inputs:\n  a:\n    shape: [240000]\n    value: [%s]\nnodes:\n  b: [sum(a)\n" % vals)
    code, err, seconds, rss = measured("derive", path)
    assert code == 2 and len(err) == 1 and "invalid YAML" in err[0], err
    assert err[0].startswith("symgrad: error: %s:7:1: " % path)
    assert seconds < 5, seconds


@pytest.mark.parametrize("section,limit", [("dims", MAX_NAMES), ("inputs", MAX_NAMES),
                                           ("backward", MAX_BACKWARD_STEPS)])
def test_section_limits(tmp_path, section, limit):
    n = limit + 5
    if section == "dims":
        text = "dims:\n" + "".join("  d%d: 2\n" % k for k in range(n)) + "inputs:\n  a: {}\nnodes:\n  b: a\n"
        line = 2 + limit
    elif section == "inputs":
        text = "inputs:\n" + "".join("  a%d: {}\n" % k for k in range(n)) + "nodes:\n  b: a0\n"
        line = 2 + limit
    else:
        text = "inputs:\n  a: {}\nnodes:\n  b: a*2\nbackward:\n" + "  - b.backward(retain_graph=True)\n" * n
        line = 6 + limit
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    t = time.perf_counter()
    result = CliRunner().invoke(main, ["derive", str(path), "--no-check"])
    assert time.perf_counter() - t < MAX_SECONDS
    assert result.exit_code == 2
    assert result.stderr == "symgrad: error: %s:%d:%d: '%s' has more than %d entries: split the spec\n" % (
        path, line, 5 if section == "backward" else 3, section, limit)


def test_a_784x10_weight_given_as_value_works(tmp_path):
    rows = ["[%s]" % ", ".join(numbers(10, seed=k)) for k in range(784)]
    text = ("inputs:\n  W:\n    shape: [784, 10]\n    value: [%s]\n  x: {shape: [4, 784]}\n"
            "nodes:\n  L: sum(tanh(x @ W))\n" % ",\n      ".join(rows))
    path = tmp_path / "mnist.yaml"
    path.write_text(text)
    t = time.perf_counter()
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - t < MAX_SECONDS
    prob = symgrad.load(str(path))
    assert prob.input("W").value[783][9] == float(numbers(10, seed=783)[9])
