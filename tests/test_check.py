"""The numeric check: wrong closed forms are caught, right ones pass, NaN never passes.

Also the command line of SPEC §4 for `check` (exit 0/1/2, --dtype, --device, --fd) and
that `derive --no-check` never imports torch.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import sympy
import torch
from click.testing import CliRunner

import symgrad
from symgrad.numeric.check import compare, resolve_devices
from symgrad.numeric.inputs import draw_inputs, TOLERANCES
from symgrad.cli import main
from symgrad.errors import CheckError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUDA = torch.cuda.is_available()

LAYER = """
dims: {n: 5}
inputs:
  x: {shape: [n, 3], requires_grad: false}
  W: {shape: [3, 4]}
  b: {shape: [4]}
  v: {shape: [4]}
nodes:
  h: tanh(x @ W + b)
  L: sum(h @ v) + mean(h**2)
  M: sum(softmax(h, dim=1) * v)
outputs: [L, M]
"""

KINK = """
inputs:
  x:
    shape: [6]
    value: [-1.0, 0.0, 0.0, 2.0, 0.5, 0.0]
  w:
    shape: [6]
    value: [1.0, 2.0, 0.0, -1.0, 3.0, 0.0]
nodes:
  y: sum(relu(x) * w) + sum(abs(w) * x) + sum(leaky_relu(x - w, negative_slope=0.2))
"""

NAN = """
inputs:
  x:
    shape: [3]
    value: [1.0, -2.0, 4.0]
nodes:
  y: sum(sqrt(x))
"""


def derive(text, file="spec.yaml"):
    return symgrad.derive(symgrad.loads(textwrap.dedent(text), file=file))


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


# --- the library -------------------------------------------------------------------------
def test_right_closed_forms_pass():
    d = derive(LAYER)
    r = d.check()
    assert r.passed, [x for x in r.rows if not x.passed]
    assert {(x.output, x.wrt) for x in r.rows} == {(o, w) for o in "LM" for w in ("W", "b", "v")}
    assert all(x.device == "cpu" and x.dtype == "float64" and x.max_abs_err < 1e-12 for x in r.rows)


def test_a_wrong_closed_form_is_caught_and_named():
    d = derive(LAYER)
    g = d.gradient("L", "b")
    g.expr = g.expr * sympy.Rational(101, 100)          # 1% off
    g2 = d.gradient("M", "W")
    g2.expr = g2.expr + sympy.Rational(1, 10**6) * d.problem.tensors["W"]   # a tiny extra term
    r = d.check()
    assert not r.passed
    bad = {(x.output, x.wrt) for x in r.rows if not x.passed}
    assert bad == {("L", "b"), ("M", "W")}
    assert "differs from autograd" in r.row("L", "b").message
    assert r.row("L", "W").passed and r.row("M", "b").passed


def test_wrong_shape_or_dtype_is_caught():
    d = derive(LAYER)
    g = d.gradient("L", "v")
    g.expr = sympy.Rational(1, 2)                       # a constant: becomes full_like(v, 1/2)
    r = d.check()
    assert not r.row("L", "v").passed and r.row("L", "W").passed
    want = torch.ones(3, dtype=torch.float64)
    assert not compare(torch.ones(3, dtype=torch.float32), want, *TOLERANCES["float64"])[2]
    assert not compare(torch.ones(4, dtype=torch.float64), want, *TOLERANCES["float64"])[2]
    assert not compare(2.0, torch.tensor(2.0), *TOLERANCES["float64"])[2]


def test_values_at_relu_kink_pass():
    """Exact zeros where relu, abs and leaky_relu have kinks: PyTorch's subgradients are picked."""
    d = derive(KINK)
    r = d.check()
    assert r.passed, [(x.output, x.wrt, x.message) for x in r.rows]
    assert all(x.max_abs_err == 0.0 for x in r.rows)


def test_nan_is_a_failure_never_a_pass():
    d = derive(NAN)
    r = d.check()
    assert not r.passed
    assert "NaN or inf" in r.rows[0].message
    assert r.to_dict()["rows"][0]["max_abs_err"] is None       # valid JSON, no NaN


def test_float32_check():
    r = derive(LAYER).check(dtype="float32")
    assert r.passed and r.dtype == "float32"
    assert all(x.dtype == "float32" for x in r.rows)
    with pytest.raises(CheckError):
        derive(LAYER).check(dtype="float16")


def test_finite_differences_check_the_closed_form():
    d = derive(LAYER)
    r = d.check(fd=True)
    fd = [x for x in r.rows if x.kind == "fd"]
    assert len(fd) == 6 and all(x.passed and not x.message for x in fd)
    # a wrong closed form also disagrees with finite differences (gradcheck runs through it)
    g = d.gradient("L", "W")
    g.expr = 2 * g.expr
    r = d.check(fd=True)
    assert not r.row("L", "W", kind="fd").passed and r.row("L", "b", kind="fd").passed


def test_fixed_seed_and_domains():
    prob = symgrad.loads(textwrap.dedent("""
        inputs:
          p: {shape: [50], domain: positive}
          q: {shape: [50], domain: nonnegative}
          u: {shape: [50], domain: unit}
          S: {shape: [4, 4], domain: spd}
          s: {shape: [3, 5], domain: simplex}
          r: {shape: [50]}
        nodes:
          y: sum(p) + sum(q) + sum(u) + logdet(S) + sum(s) + sum(r)
        """))
    a = draw_inputs(prob, {}, torch.float64, "cpu", 7)
    b = draw_inputs(prob, {}, torch.float64, "cpu", 7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (a["p"] > 0).all() and (a["q"] > 0).all() and ((a["u"] > 0) & (a["u"] < 1)).all()
    assert torch.allclose(a["S"], a["S"].T) and (torch.linalg.eigvalsh(a["S"]) > 0).all()
    assert torch.allclose(a["s"].sum(-1), torch.ones(3, dtype=torch.float64)) and (a["s"] > 0).all()
    assert (a["r"].abs() >= 1e-3).all()                     # away from the kinks at 0
    assert not torch.equal(a["r"], draw_inputs(prob, {}, torch.float64, "cpu", 8)["r"])


def test_given_values_are_used():
    prob = symgrad.loads(textwrap.dedent(KINK))
    ins = draw_inputs(prob, {}, torch.float32, "cpu", 0)
    assert ins["x"].tolist() == [-1.0, 0.0, 0.0, 2.0, 0.5, 0.0] and ins["x"].dtype == torch.float32


def test_example_with_schedule():
    d = symgrad.derive(symgrad.load(os.path.join(ROOT, "examples", "multi_loss.yaml")))
    r = d.check()
    assert r.passed and r.schedule_passed is True


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_cuda_without_gpu_is_an_error():
    with pytest.raises(CheckError, match="no CUDA"):
        resolve_devices("cuda")
    assert resolve_devices("auto") == ["cpu"] and resolve_devices("all") == ["cpu"]


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_check():
    d = derive(LAYER)
    r = d.check(device="all", fd=True)
    assert r.passed and r.devices == ["cpu", "cuda"]
    assert {x.device for x in r.rows} == {"cpu", "cuda"}
    r32 = d.check(device="cuda", dtype="float32")
    assert r32.passed
    fn = d.compile()
    ins = draw_inputs(d.problem, {"n": 5}, torch.float64, "cuda", 0)
    out = fn(**ins)
    assert all(g.device.type == "cuda" for by in out.values() for g in by.values())
    bad = derive(LAYER)
    bad.gradient("M", "v").expr *= 2
    rb = bad.check(device="cuda")
    assert not rb.row("M", "v", device="cuda").passed and rb.row("L", "v", device="cuda").passed


# --- the command line --------------------------------------------------------------------
def test_cli_check_exit_codes(tmp_path):
    good = write(tmp_path, "good.yaml", LAYER)
    nan = write(tmp_path, "nan.yaml", NAN)
    broken = write(tmp_path, "broken.yaml", "inputs:\n  x: {shape: [3]}\nnodes:\n  y: sum(x @@ x)\n")
    run = CliRunner().invoke
    r = run(main, ["check", good])
    assert r.exit_code == 0, r.output
    lines = [l for l in r.output.splitlines() if l.startswith(good)]
    assert len(lines) == 6 and all(" ok " in l and "max abs err" in l for l in lines)
    r = run(main, ["check", good, nan])
    assert r.exit_code == 1 and "FAIL" in r.output and "NaN" in r.output
    r = run(main, ["check", good, broken])
    assert r.exit_code == 2 and "symgrad: error:" in r.output
    r = run(main, ["check", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2


def test_cli_check_options(tmp_path):
    good = write(tmp_path, "good.yaml", LAYER)
    r = CliRunner().invoke(main, ["check", good, "--dtype", "float32", "--fd", "--dim", "n=3", "--seed", "4"])
    assert r.exit_code == 0, r.output
    assert "float32" in r.output and "gradcheck" in r.output
    r = CliRunner().invoke(main, ["derive", good, "--dim", "k=3"])
    assert r.exit_code == 2 and "no dim 'k'" in r.output


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_cli_device_cuda_without_gpu(tmp_path):
    good = write(tmp_path, "good.yaml", LAYER)
    for cmd in (["check", good, "--device", "cuda"], ["derive", good, "--device", "cuda"]):
        r = CliRunner().invoke(main, cmd)
        assert r.exit_code == 2, r.output
        assert "CUDA" in r.output and "Traceback" not in r.output


def test_cli_derive_json_check_section(tmp_path):
    good = write(tmp_path, "good.yaml", LAYER)
    r = CliRunner().invoke(main, ["derive", good, "--format", "json"])
    assert r.exit_code == 0, r.output
    check = json.loads(r.output)["check"]
    assert check["passed"] is True and check["device"] == ["cpu"] and check["dtype"] == "float64"
    row = check["rows"][0]
    assert {"output", "wrt", "device", "max_abs_err", "max_rel_err", "passed"} <= set(row)
    r = CliRunner().invoke(main, ["derive", write(tmp_path, "nan.yaml", NAN), "--format", "json"])
    assert r.exit_code == 1 and json.loads(r.output)["check"]["passed"] is False
    r = CliRunner().invoke(main, ["derive", good, "--no-check", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)["check"] is None


def test_no_check_does_not_import_torch(tmp_path):
    good = write(tmp_path, "good.yaml", LAYER)
    out = str(tmp_path / "notes.md")
    script = textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from symgrad.cli import main
        for args in (["derive", %r, "--no-check"], ["derive", %r, "--no-check", "--format", "json"],
                     ["derive", %r, "--no-check", "-o", %r]):
            r = CliRunner().invoke(main, args)
            assert r.exit_code == 0, r.output
        print("torch" in sys.modules)
        """ % (good, good, good, out))
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"


def test_a_closed_form_that_cannot_run_fails_its_rows(monkeypatch):
    import symgrad.codegen.module as comp
    d = derive(LAYER)
    monkeypatch.setattr(comp, "module_source", lambda d: "def gradients(**kw):\n    raise ValueError('boom')\n")
    r = d.check()
    assert not r.passed and all("ValueError: boom" in x.message for x in r.rows)
    monkeypatch.setattr(comp, "module_source", lambda d: "this is not python")
    r = d.check()
    assert not r.passed and all("could not compile" in x.message for x in r.rows)


def test_check_cli_refuses_unknown_dim_and_missing_gpu_once():
    import os
    from click.testing import CliRunner
    from symgrad.cli import main
    ex = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    r = CliRunner().invoke(main, ["check", os.path.join(ex, "least_squares.yaml"), "--dim", "zz=3"])
    assert r.exit_code == 2 and "--dim zz" in r.stderr and r.stdout == ""
    if not __import__("torch").cuda.is_available():
        r = CliRunner().invoke(main, ["check", os.path.join(ex, "least_squares.yaml"),
                                      os.path.join(ex, "multi_loss.yaml"), "--device", "cuda"])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
