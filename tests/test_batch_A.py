"""Second order through picks, scatters and joins (their batching rules: ``symgrad.ops.pickbatch``).

`tests/test_hessian_ops.py` skips the op cases with integer or bool inputs (its spec gives
them a domain); here they run with ``dtype: long`` / ``bool`` inputs, so that advanced
indexing, gather, index_select and the scatters are checked through a Hessian too.  Then a
few specs of symbolic dims, and shapes the canonical cases do not reach (a batch that is
constant along a picked dim, a join of a lifted and a constant piece, index_put without
accumulate).
"""
import pytest
import yaml

import symgrad
from op_cases import CASES

GROUPS = ("subscript", "one_hot", "gather", "index_select", "index_add", "scatter_add", "index_put",
          "select_scatter", "slice_scatter", "arange", "float", "double", "cat", "stack")


def _fields(shape, domain, requires_grad):
    if domain.startswith("long:"):
        high = domain[len("long:"):]
        return {"shape": shape, "dtype": "long", "high": int(high) if high.isdigit() else high}
    if domain == "bool":
        return {"shape": shape, "dtype": "bool"}
    return {"shape": shape, "domain": domain, "requires_grad": requires_grad}


def second_spec(expr, inputs):
    spec = {"inputs": {}, "nodes": {"y": expr, "f": "sum(sin(y))"}, "outputs": ["f"]}
    xs = []
    for name, v in inputs.items():
        grad = not name.startswith("c") and not v[1].startswith("long") and v[1] != "bool"
        spec["inputs"][name] = _fields(v[0], v[1], grad)
        if len(v) > 2:
            spec["inputs"][name]["value"] = v[2]
        if grad:
            xs.append(name)
    spec["hessians"] = [["f", x] for x in xs] + ([["f", xs[0], xs[1]]] if len(xs) > 1 else [])
    return yaml.safe_dump(spec, sort_keys=False)


INTEGER = [(name, i, expr, inputs) for name in GROUPS for i, (expr, inputs) in enumerate(CASES.get(name, ()))
           if any(v[1].startswith("long") or v[1] == "bool" for v in inputs.values())]


def _passes(text, seed=0):
    d = symgrad.derive(symgrad.loads(text))
    report = d.check(dtype="float64", seed=seed)
    assert {"hessian", "hvp"} <= {r.kind for r in report.rows}
    bad = [r for r in report.rows if not r.passed]
    assert not bad, "\n".join("%s %s: %s abs=%g\n  H: %s" % (
        r.kind, r.wrt, r.message, r.max_abs_err, d.hessian(r.output, *r.wrt).text if r.kind != "autograd" else "")
        for r in bad)


@pytest.mark.parametrize("name,i,expr,inputs", INTEGER, ids=["%s-%d" % (a[0], a[1]) for a in INTEGER])
def test_hessian_through_integer_indexing(name, i, expr, inputs):
    _passes(second_spec(expr, inputs), seed=i)


SPECS = {
    "cat_symbolic": """
dims: {n: 3, m: 2}
inputs: {x: {shape: [n, 4]}, z: {shape: [m, 4]}}
nodes:
  y: cat((x * z[0], z), 0)
  f: sum(sin(y))
hessians: [[f, x], [f, z], [f, x, z]]
""",
    "stack_symbolic": """
dims: {n: 3}
inputs: {x: {shape: [n, 2]}}
nodes:
  y: stack((x, x * x, x[:, 0:1] * x), 1)
  f: sum(sin(y))
hessians: [[f, x]]
""",
    "picks_symbolic": """
dims: {n: 4}
inputs: {x: {shape: [2, n]}}
nodes:
  y: x[1, 1:] * x[0, :-1]
  y2: narrow(x, 1, 1, 2) * x[:, 0:1]
  f: sum(sin(y)) + sum(sin(y2))
hessians: [[f, x]]
""",
    "scatters_symbolic": """
dims: {n: 4}
inputs: {x: {shape: [n, 3]}, z: {shape: [3]}, w: {shape: [n, 1]}}
nodes:
  y: slice_scatter(select_scatter(x * x, z * z, 0, 1), w * x[:, 1:2], 1, 2, 3)
  f: sum(sin(y))
hessians: [[f, x], [f, z], [f, w], [f, x, w]]
""",
    "join_of_a_constant": """
inputs: {x: {shape: [3]}, c: {shape: [2], requires_grad: false}}
nodes:
  y: cat((c, x * x, c * x[0]), 0)
  s: stack((x, c[0] * x), 0)
  f: sum(sin(y)) + sum(sin(s))
hessians: [[f, x]]
""",
    "index_put_overwrite": """
inputs: {x: {shape: [3, 4]}, z: {shape: [2, 4]}, c: {shape: [2], dtype: long, high: 3, value: [2, 0]}}
nodes:
  y: index_put(x * x, (c,), z * x[1])
  f: sum(sin(y))
hessians: [[f, x], [f, z], [f, x, z]]
""",
    "gather_scatter_chain": """
inputs: {x: {shape: [3, 4]}, c: {shape: [3, 2], dtype: long, high: 4}}
nodes:
  y: scatter_add(x, 1, c, gather(x * x, 1, c))
  f: sum(sin(y))
hessians: [[f, x]]
""",
    "advanced_two_indices": """
inputs: {x: {shape: [3, 4]}, c: {shape: [5], dtype: long, high: 3}, d: {shape: [5], dtype: long, high: 4}}
nodes:
  y: x[c, d] * x[c][:, 1]
  f: sum(sin(y))
hessians: [[f, x]]
""",
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hessian_through_picks_and_joins(name):
    _passes(SPECS[name])

