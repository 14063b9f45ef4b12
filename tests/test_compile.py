"""`symgrad compile`: self-contained modules, checked against autograd (and through gradcheck).

Every spec below is derived, its module written to a temporary folder and imported from
there; gradients() must equal torch.autograd's gradients on the same inputs, and the
module's SymgradFunction must pass torch.autograd.gradcheck in float64.  A subprocess
imports the written modules with nothing of symgrad (or sympy) loaded.
"""
import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

import symgrad
from symgrad.numeric.check import reference, upstream_gradients
from symgrad.numeric.inputs import draw_inputs, dim_values
from symgrad.cli import main
from symgrad.codegen.module import module_source, op_count
from symgrad.codegen.plan import MODULE_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = {
    # matmul + broadcasting biases + relu + cross_entropy (a small MLP, torch layout)
    "mlp": """
        dims: {B: 6}
        inputs:
          x: {shape: [B, 5], requires_grad: false}
          y: {shape: [B, 3], requires_grad: false, domain: simplex}
          W1: {shape: [4, 5]}
          b1: {shape: [4]}
          W2: {shape: [3, 4]}
          b2: {shape: [3]}
        nodes:
          h: relu(linear(x, W1, b1))
          z: linear(h, W2, b2)
          loss: cross_entropy(z, y)
        """,
    # softmax inside, a 3-D broadcast bias, tanh and sigmoid
    "softmax": """
        inputs:
          x: {shape: [2, 3, 4]}
          b: {shape: [3, 1]}
          w: {shape: [4, 2]}
        nodes:
          p: softmax(x + b, dim=-1)
          t: tanh(p @ w)
          L: sum(sigmoid(t) * t) + mean(p**2)
        """,
    # logdet and inverse of a symmetric positive definite matrix
    "logdet": """
        inputs:
          S: {shape: [3, 3], domain: spd}
          v: {shape: [3]}
        nodes:
          q: v @ inverse(S) @ v
          L: logdet(S) + q / 2
        """,
    # a non-scalar output: its gradient is a vector-Jacobian product with grad_h
    "vjp": """
        dims: {n: 4}
        inputs:
          x: {shape: [n, 3]}
          W: {shape: [3, 2]}
          b: {shape: [2]}
        nodes:
          h: leaky_relu(x @ W + b, negative_slope=0.1) * 2
        """,
    # two outputs, a scalar input, a constant gradient and an unconnected one
    "multi": """
        inputs:
          a: {shape: [2, 3]}
          s: {shape: []}
          c: {shape: [3], requires_grad: false}
        nodes:
          u: a * s + c
          d: mean(u**2)
          e: sum(a) + trace(eye(2)) * s
          f: sum(c * 3)
        outputs: [d, e, f]
        """,
}


# Spec names the generated module uses itself (its globals, locals, the builtins it calls),
# a few more that look like its own, and Python builtins: each one is an input, a node and
# a dim in one of three specs (so every name plays every role).
CLASHING = sorted(MODULE_NAMES | {"math", "_forward", "_gradients", "_forward_", "torch_", "input",
                                  "float", "print", "sum", "grad", "t0", "ref", "dt", "dev", "v"})


def clash_spec(r):
    """The r-th spec over CLASHING: relu/tanh/sigmoid/leaky_relu (the fused helpers), dims
    as numbers and inside shapes, a non-scalar output (an upstream gradient argument)."""
    roles = [[n for k, n in enumerate(CLASHING) if (k + r) % 3 == j] for j in range(3)]
    ins, nodes, dims = roles
    lines = ["dims: {%s}" % ", ".join("%s: %d" % (n, 3 + (k > 0)) for k, n in enumerate(dims)),
             "inputs:"]
    lines += ["  %s: {shape: [%s]}" % (n, dims[0]) for n in ins]
    lines += ["nodes:",
              "  %s: relu(%s)*2 + tanh(%s)*%s" % (nodes[0], ins[0], ins[1], dims[1]),
              "  %s: sigmoid(%s)*%s" % (nodes[1], nodes[0], ins[2]),
              "  %s: leaky_relu(%s)/%s" % (nodes[2], nodes[1], dims[2])]
    for k in range(3, len(nodes) - 2):
        lines.append("  %s: %s*%s + %s" % (nodes[k], nodes[k - 1], ins[k % len(ins)], dims[k % len(dims)]))
    last = nodes[len(nodes) - 3]
    lines += ["  %s: reshape(%s, (%s, 1))*ones((%s, 1))" % (nodes[-2], last, dims[0], dims[0]),
              "  %s: sum(%s**2)/%s + sum(%s)" % (nodes[-1], last, dims[-1], "*".join(ins))]
    return "\n".join(lines) + "\n"


for _r in range(3):
    SPECS["clash%d" % _r] = clash_spec(_r)


def spec(name):
    return symgrad.loads(textwrap.dedent(SPECS[name]), file="%s.yaml" % name)


def import_file(path, name):
    sp = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(sp)
    sp.loader.exec_module(mod)
    return mod


def autograd_reference(d, dtype=torch.float64, seed=0):
    prob = d.problem
    dims = dim_values(prob)
    ins = draw_inputs(prob, dims, dtype, "cpu", seed)
    env, leaves = reference(prob, ins, dims, dtype, "cpu")
    seeds = upstream_gradients(d, env, dtype, "cpu", seed)
    want = {}
    for o in prob.outputs:
        out = env[o]
        want[o] = {}
        for x in prob.wrt:
            t = leaves[x]
            g = None
            if out.requires_grad:
                g, = torch.autograd.grad(out, [t], grad_outputs=seeds.get("grad_" + o),
                                         retain_graph=True, allow_unused=True)
            want[o][x] = torch.zeros_like(t) if g is None else g.detach()
    return ins, seeds, want


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every spec's module written to one folder, with its inputs and autograd's gradients."""
    folder = tmp_path_factory.mktemp("compiled")
    out = {}
    for name in SPECS:
        d = symgrad.derive(spec(name))
        path = folder / ("sg_%s.py" % name)
        path.write_text(module_source(d))
        ins, seeds, want = autograd_reference(d)
        torch.save({"inputs": ins, "seeds": seeds, "want": want}, folder / ("%s.pt" % name))
        out[name] = (d, path, ins, seeds, want)
    return folder, out


@pytest.mark.parametrize("name", sorted(SPECS))
def test_written_module_matches_autograd(written, name):
    folder, specs = written
    d, path, ins, seeds, want = specs[name]
    mod = import_file(str(path), "sg_" + name)
    assert mod.INPUTS == tuple(x.name for x in d.problem.inputs)
    assert mod.OUTPUTS == tuple(d.problem.outputs) and mod.WRT == tuple(d.problem.wrt)
    got = mod.gradients(**ins, **seeds)
    assert set(got) == set(d.problem.outputs)
    for o in want:
        for x in want[o]:
            g = got[o][x]
            assert isinstance(g, torch.Tensor) and g.dtype == torch.float64, (o, x, g)
            assert g.shape == want[o][x].shape, (o, x)
            torch.testing.assert_close(g, want[o][x], rtol=1e-9, atol=1e-12, msg="d%s/d%s" % (o, x))
    # positional arguments in INPUTS order mean the same
    pos = mod.gradients(*[ins[n] for n in mod.INPUTS], **seeds)
    for o in want:
        for x in want[o]:
            assert torch.equal(pos[o][x], got[o][x])
    # forward() agrees with PyTorch running the spec's text
    prob = d.problem
    env, _ = reference(prob, ins, dim_values(prob), torch.float64, "cpu")
    fwd = mod.forward(**ins)
    for o in prob.outputs:
        torch.testing.assert_close(fwd[o], env[o].detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_symgrad_function_passes_gradcheck(written, name):
    folder, specs = written
    d, path, ins, seeds, want = specs[name]
    mod = import_file(str(path), "sg_fn_" + name)
    xs = [ins[n].clone().requires_grad_(n in d.problem.wrt) for n in mod.INPUTS]
    assert torch.autograd.gradcheck(mod.SymgradFunction.apply, xs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_modules_need_only_torch(written):
    """Import the written modules in a fresh interpreter: they load nothing but torch."""
    folder, specs = written
    script = textwrap.dedent("""
        import sys, torch
        sys.path.insert(0, %r)
        before = set(sys.modules)
        mods = {name: __import__('sg_' + name) for name in %r}
        new = {m.split('.')[0] for m in set(sys.modules) - before}
        assert 'symgrad' not in sys.modules and new <= {'sg_' + n for n in mods}, new
        for name, mod in mods.items():
            data = torch.load('%%s/%%s.pt' %% (%r, name))
            got = mod.gradients(**data['inputs'], **data['seeds'])
            for o, by in data['want'].items():
                for x, w in by.items():
                    torch.testing.assert_close(got[o][x], w, rtol=1e-9, atol=1e-12)
        print('ok', len(%r))
        """ % (str(folder), sorted(specs), str(folder), sorted(specs)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", script], cwd=str(folder), env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok %d" % len(specs)


def test_gradients_never_call_autograd(written):
    folder, specs = written
    d, path, ins, seeds, want = specs["mlp"]
    mod = import_file(str(path), "sg_noag")
    src = path.read_text()
    body = src[src.index("def gradients"):src.index("class SymgradFunction")]
    assert "autograd" not in body and ".backward(" not in body and "requires_grad_" not in body
    with torch.no_grad():                  # works without autograd at all
        got = mod.gradients(**ins)
    torch.testing.assert_close(got["loss"]["W1"], want["loss"]["W1"], rtol=1e-9, atol=1e-12)


def test_the_module_is_readable_and_shares_work():
    """The MLP's module computes each forward node once and names the adjoints it shares."""
    d = symgrad.derive(spec("mlp"))
    src = module_source(d)
    head, _, rest = src.partition("def gradients(")
    grads = rest[:rest.index("class SymgradFunction")]
    assert '"""' in grads and "dloss/dW1 = " in grads            # closed forms in the docstring
    body = grads.split('"""')[0::2]                               # code, not the docstrings
    code = [l for l in "".join(body).splitlines() if " = " in l and not l.strip().startswith(("d", "(", "'"))
            or l.strip().startswith("dloss_")]
    text = "\n".join(code)
    assert text.count("torch.addmm(") == 2                         # h and z, once each
    assert text.count(" @ ") == 3                                  # dW2, dh, dW1: nothing twice
    assert "grad_z = " in text and "grad_h_pre = " in text         # named adjoints
    assert "x @ W1" not in text                                    # the mask reuses h: (h > 0)
    assert ".clone()" not in text and "ones" not in text
    # every line of gradients()/_closed_forms() assigns a different right-hand side
    rhs = [l.split(" = ", 1)[1] for l in "".join(body).splitlines() if " = " in l and "_dt" not in l]
    assert len(rhs) == len(set(rhs))


def test_op_count_cheap_gradient_principle():
    """gradients() costs <= 4x forward() for the MLP 784-512-512-10, batch 256 (counted, not run)."""
    text = """
        dims: {B: 256}
        inputs:
          x: {shape: [B, 784], requires_grad: false}
          y: {shape: [B, 10], requires_grad: false, domain: simplex}
          W1: {shape: [512, 784]}
          b1: {shape: [512]}
          W2: {shape: [512, 512]}
          b2: {shape: [512]}
          W3: {shape: [10, 512]}
          b3: {shape: [10]}
        nodes:
          h1: relu(linear(x, W1, b1))
          h2: relu(linear(h1, W2, b2))
          z: linear(h2, W3, b3)
          loss: cross_entropy(z, y)
        """
    d = symgrad.derive(symgrad.loads(textwrap.dedent(text)))
    c = op_count(d)
    mm = 2 * 256 * (784 * 512 + 512 * 512 + 512 * 10)
    assert mm <= c["forward"] < 1.05 * mm
    # backward: 5 matmuls (dW3, dh2, dW2, dh1, dW1), plus the forward again
    assert 2 * mm < c["gradients"] < 2.7 * mm
    assert c["ratio"] <= 4
    assert op_count(d, dims={"B": 8})["forward"] < c["forward"]


def test_inputs_converted_or_fast_path():
    d = symgrad.derive(spec("multi"))
    fn = d.compile()
    lists = fn([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 2.0, [1.0, 0.0, 1.0])
    assert lists["d"]["a"].dtype == torch.get_default_dtype()
    t32 = fn(torch.ones(2, 3), torch.tensor(2.0), torch.ones(3))
    assert all(g.dtype == torch.float32 for by in t32.values() for g in by.values())
    mixed = fn(torch.ones(2, 3, dtype=torch.float64), 2, torch.ones(3, dtype=torch.float32))
    assert all(g.dtype == torch.float64 for by in mixed.values() for g in by.values())
    assert mixed["e"]["s"].shape == () and mixed["f"]["a"].shape == (2, 3)
    torch.testing.assert_close(mixed["e"]["s"], torch.tensor(2.0, dtype=torch.float64))
    # a returned gradient never aliases an input
    a = torch.ones(2, 3)
    assert fn(a, torch.tensor(1.0), torch.ones(3))["e"]["a"].data_ptr() != a.data_ptr()


def test_non_scalar_output_needs_its_upstream_gradient():
    fn = symgrad.derive(spec("vjp")).compile()
    x, W, b = torch.randn(4, 3), torch.randn(3, 2), torch.randn(2)
    with pytest.raises(TypeError, match="grad_h"):
        fn(x, W, b)
    g = fn(x, W, b, grad_h=torch.ones(4, 2))
    assert g["h"]["W"].shape == (3, 2)


def test_function_in_a_training_step():
    """SymgradFunction as a drop-in op: loss.backward() leaves the closed-form gradients."""
    d = symgrad.derive(spec("mlp"))
    mod = d.compile().module
    ins, _, want = autograd_reference(d, seed=3)
    params = {k: v.clone().requires_grad_(k in d.problem.wrt) for k, v in ins.items()}
    loss = mod.SymgradFunction.apply(*[params[n] for n in mod.INPUTS])
    (3 * loss).backward()
    for x in d.problem.wrt:
        torch.testing.assert_close(params[x].grad, 3 * want["loss"][x], rtol=1e-9, atol=1e-12)
    # an input outside WRT that requires grad is an error, not a silent zero
    params["x"] = ins["x"].clone().requires_grad_(True)
    loss = mod.SymgradFunction.apply(*[params[n] for n in mod.INPUTS])
    with pytest.raises(RuntimeError, match="not in WRT"):
        loss.backward()


def test_function_with_several_outputs():
    d = symgrad.derive(spec("multi"))
    mod = d.compile().module
    ins, _, want = autograd_reference(d)
    a, s, c = (ins[n].clone().requires_grad_(n in ("a", "s")) for n in mod.INPUTS)
    dd, ee, ff = mod.SymgradFunction.apply(a, s, c)
    assert not ff.requires_grad
    (2 * dd + ee).backward()
    torch.testing.assert_close(a.grad, 2 * want["d"]["a"] + want["e"]["a"])
    torch.testing.assert_close(s.grad, 2 * want["d"]["s"] + want["e"]["s"])


def test_compile_cli_writes_module(tmp_path):
    path = tmp_path / "mlp.yaml"
    path.write_text(textwrap.dedent(SPECS["mlp"]))
    out = tmp_path / "mlp_grad.py"
    r = CliRunner().invoke(main, ["compile", str(path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    mod = import_file(str(out), "mlp_grad")
    assert mod.WRT == ("W1", "b1", "W2", "b2")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs:\n  x: {shape: [3]}\nnodes:\n  y: frobnicate(x)\n")
    out2 = tmp_path / "bad_grad.py"
    r = CliRunner().invoke(main, ["compile", str(bad), "-o", str(out2)])
    assert r.exit_code == 2 and not out2.exists()
    assert "symgrad: error:" in r.output


def test_example_multi_loss_module():
    d = symgrad.derive(symgrad.load(os.path.join(ROOT, "examples", "multi_loss.yaml")))
    fn = d.compile()
    a = torch.tensor([[0.0688, 0.2060, 0.3086, 0.4836]], dtype=torch.float64)
    g = fn(a)
    torch.testing.assert_close(g["d"]["a"], a)
    torch.testing.assert_close(g["e"]["a"], 4 * a)
    assert g["d"]["a"] is not a


def test_gradients_record_no_graph_for_parameters():
    d = symgrad.derive(spec("mlp"))
    fn = d.compile()
    ins, _, want = autograd_reference(d)
    params = {k: torch.nn.Parameter(v.clone()) if k in d.problem.wrt else v for k, v in ins.items()}
    got = fn(**params)
    for x in d.problem.wrt:
        assert got["loss"][x].grad_fn is None and not got["loss"][x].requires_grad
        torch.testing.assert_close(got["loss"][x], want["loss"][x], rtol=1e-9, atol=1e-12)


# --- spec names the module uses itself ---------------------------------------------------------
@pytest.mark.parametrize("r", range(3))
def test_spec_names_the_module_uses_work_through_compile_and_check(tmp_path, r):
    """Every name in CLASHING as an input, a node and a dim: the CLI compiles a module that
    takes the spec's names as keywords, and symgrad check passes (the other tests run the
    same specs against autograd, positionally and through SymgradFunction)."""
    path = tmp_path / ("clash%d.yaml" % r)
    path.write_text(SPECS["clash%d" % r])
    out = tmp_path / ("clash%d_grad.py" % r)
    res = CliRunner().invoke(main, ["compile", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    mod = import_file(str(out), "clash%d_grad" % r)
    d = symgrad.derive(symgrad.load(str(path)))
    ins, seeds, want = autograd_reference(d)
    first = mod.INPUTS[0]             # a float64 tensor, the others lists: the conversion path
    got = mod.gradients(**{k: v if k == first else v.tolist() for k, v in ins.items()}, **seeds)
    for o in want:
        for x in want[o]:
            torch.testing.assert_close(got[o][x], want[o][x], rtol=1e-7, atol=1e-9)
    res = CliRunner().invoke(main, ["check", str(path)])
    assert res.exit_code == 0, res.output
    assert "all passed" in res.stdout


def _free_names(src):
    """Names the functions of a module read but do not bind: its globals and builtins."""
    tree = ast.parse(src)
    out = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            bound = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            bound |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            out |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                    and n.id not in bound}
    return out


def test_module_names_lists_what_generated_modules_use():
    """MODULE_NAMES (the names a spec name is renamed away from) covers every global and
    builtin a generated function reads, and every local it binds that is no spec name."""
    sources = [module_source(symgrad.derive(spec(name))) for name in SPECS]
    sources += [module_source(symgrad.derive(symgrad.load(os.path.join(ROOT, "examples", f))))
                for f in sorted(os.listdir(os.path.join(ROOT, "examples"))) if f.endswith(".yaml")]
    for src in sources:
        # plus the implementations behind forward() and gradients() when a spec input needs
        # a name the module uses: _forward, or _forward_2 if the spec has a _forward too
        names = {n for n in _free_names(src) if not re.fullmatch(r"_(forward|gradients)(_\d+)?", n)}
        assert names <= MODULE_NAMES, names - MODULE_NAMES
    src = module_source(symgrad.derive(spec("mlp")))
    tree = ast.parse(src)
    own = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
           and n.id.startswith("_")}
    assert own <= MODULE_NAMES, own - MODULE_NAMES
