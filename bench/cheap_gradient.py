"""The cheap-gradient principle: compiled gradients() cost <= 4x the forward pass (issue 7).

    python bench/cheap_gradient.py [--quick]

Arithmetic is counted by running the compiled module's `forward()` and `gradients()` under
torch dispatch modes, so every aten op the generated code really executes is seen:

* matmul-like ops (mm, addmm, bmm, ...): torch's own `FlopCounterMode` (2*m*n*k);
  mv / dot / addmv, which it does not count: 2*m*n and 2*n;
* dense linear algebra (LU, inverse, solve, det, slogdet, cholesky): n^3 per matrix
  (an order-of-magnitude charge; these specs are 3x3 or 4x4);
* every other op that computes (elementwise, reductions, softmax, comparisons):
  the larger of its input and output element counts, i.e. one flop per element;
* views, copies, dtype casts and tensor factories: 0.

`gradients()` includes the forward values it needs (it recomputes them: the module has no
state), so the ratio is the cost of one call of gradients() over one call of forward().
Where `symgrad/compile.py` has `op_count` (a static count from the generated statements and
the shapes), its forward/gradients totals are shown too, as a cross-check of the two ways of
counting (they agree to a few per cent: the static count sees the expressions before torch
fuses or reorders them).
The same count for autograd (the spec run in torch + `torch.autograd.grad` for every
output) is shown for comparison (autograd's fused ops such as binary_cross_entropy count one
flop per element, so small specs can look cheaper under autograd than they are).
Target: gradients / forward <= 4 for every spec.
"""
import argparse
import os

from _common import machine_line, table, verdict, mlp_spec, example_files

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

import symgrad

aten = torch.ops.aten
FREE = {"clone", "copy_", "copy", "_to_copy", "to", "empty", "empty_like", "empty_strided",
        "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "new_empty",
        "new_zeros", "new_ones", "new_full", "lift_fresh", "lift_fresh_copy", "scalar_tensor",
        "detach", "alias", "_unsafe_view", "view", "expand", "t", "transpose", "permute",
        "unsqueeze", "squeeze", "reshape", "_reshape_alias", "as_strided", "select", "slice",
        "contiguous", "resize_", "set_", "fill_", "zero_", "eye", "arange", "_local_scalar_dense",
        "item", "is_nonzero", "eq_", "_conj", "resolve_conj", "resolve_neg", "_unsafe_index",
        "expand_copy", "view_copy", "detach_", "result_type", "sym_size", "sym_numel",
        "sym_stride", "sym_storage_offset", "_linalg_check_errors"}
CUBIC = {"linalg_lu_factor_ex", "linalg_lu", "linalg_inv_ex", "linalg_inv", "linalg_solve_ex",
         "linalg_solve", "_linalg_det", "linalg_det", "det", "_linalg_slogdet", "linalg_slogdet",
         "slogdet", "logdet", "linalg_lu_solve", "lu_solve", "linalg_cholesky_ex", "cholesky",
         "cholesky_solve", "_linalg_solve_ex", "linalg_solve_triangular", "inverse", "lu_unpack"}
MATMUL = {p._qualified_op_name.split("::")[-1] for p in flop_registry
          if hasattr(p, "_qualified_op_name")}


def _numel(t):
    return t.numel() if isinstance(t, torch.Tensor) else 0


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for y in x:
            yield from _tensors(y)
    elif isinstance(x, dict):
        for y in x.values():
            yield from _tensors(y)


class OtherFlops(TorchDispatchMode):
    """Counts what FlopCounterMode does not: mv/dot, dense linalg, and one flop per element."""

    def __init__(self):
        super().__init__()
        self.flops = 0
        self.mv_flops = 0                         # mv/dot: matmul-like, not in FlopCounterMode
        self.ops = 0
        self.by_op = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name in MATMUL:                        # FlopCounterMode has it
            self.ops += 1
            return out
        if func.is_view or name in FREE:
            return out
        ins = list(_tensors(args)) + list(_tensors(kwargs))
        outs = list(_tensors(out))
        if name in ("mv", "addmv"):
            m, n = ins[1 if name == "addmv" else 0].shape
            f = 2 * m * n
            self.mv_flops += f
        elif name in ("dot", "vdot"):
            f = 2 * ins[0].numel()
            self.mv_flops += f
        elif name in CUBIC:
            a = max(ins, key=_numel)
            n = a.shape[-1] if a.dim() else 1
            f = (a.numel() // max(n * n, 1)) * n ** 3
        else:
            f = max([_numel(t) for t in ins + outs] or [0])
        self.flops += f
        self.ops += 1
        self.by_op[name] = self.by_op.get(name, 0) + f
        return out


def count(fn):
    """(total flops, matmul-like flops, number of aten ops, flops by op) for one call of fn()."""
    fc = FlopCounterMode(display=False)
    with fc:
        with OtherFlops() as other:
            fn()
    mm = fc.get_total_flops()
    return mm + other.flops, mm + other.mv_flops, other.ops, other.by_op


def draw(prob):
    """Input values: the library's own draws (check.draw_inputs), float64."""
    from symgrad.numeric.check import draw_inputs, dim_values
    return draw_inputs(prob, dim_values(prob), torch.float64, "cpu", 0)


def autograd_call(prob, ins, seeds):
    from symgrad.numeric.check import reference, dim_values
    dims = dim_values(prob)

    def run():
        env, leaves = reference(prob, ins, dims, torch.float64, "cpu")
        wrt = [leaves[w] for w in prob.wrt]
        for k, o in enumerate(prob.outputs):
            out = env[o]
            gout = seeds.get("grad_%s" % o)
            torch.autograd.grad(out, wrt, grad_outputs=gout, retain_graph=k + 1 < len(prob.outputs),
                                allow_unused=True)
    return run


def measure(label, prob):
    d = symgrad.derive(prob)
    fn = d.compile()
    ins = draw(prob)
    fwd = fn.forward(**ins)
    seeds = {}
    for g in d.gradients:
        if g.upstream and g.upstream not in seeds:
            seeds[g.upstream] = torch.ones_like(fwd[g.output])
    f_tot, f_mm, f_ops, _ = count(lambda: fn.forward(**ins))
    g_tot, g_mm, g_ops, g_by = count(lambda: fn(**ins, **seeds))
    try:
        a_tot, _, _, _ = count(autograd_call(prob, ins, seeds))
    except Exception as e:       # the reference evaluator is someone else's; report, go on
        a_tot = None
        print("  (%s: autograd count failed: %s: %s)" % (label, type(e).__name__, e))
    static = None
    try:                         # compile.py's own count from the statements, when it has one
        from symgrad import compile as sgc
        if hasattr(sgc, "op_count"):
            static = sgc.op_count(d)
    except Exception as e:
        static = "%s" % type(e).__name__
    return {"label": label, "static": static, "fwd": f_tot, "fwd_mm": f_mm, "grad": g_tot, "grad_mm": g_mm,
            "fwd_ops": f_ops, "grad_ops": g_ops, "autograd": a_tot, "n_grads": len(d.gradients),
            "by_op": g_by}


def static_cell(s):
    """compile.op_count's forward/gradients totals, or why there are none."""
    if s is None:
        return "-"
    if isinstance(s, str):
        return s
    return "%s/%s" % (human(s["forward"]), human(s["gradients"]))


def human(n):
    for unit, s in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= s:
            return "%.3g%s" % (n / s, unit)
    return str(int(n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fast smoke run (small MLP)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(machine_line(torch.get_num_threads()))
    sizes, batch = ([64, 32, 32, 10], 16) if args.quick else ([784, 512, 512, 10], 256)
    cases = [("MLP %s b%d" % ("-".join(map(str, sizes)), batch),
              lambda: symgrad.loads(mlp_spec(sizes, batch="B", batch_value=batch, act="relu",
                                             loss="cross_entropy", layer="linear")))]
    for f in example_files():
        cases.append((os.path.basename(f), lambda f=f: symgrad.load(f)))
    rows, fails, results = [], [], []
    for label, load in cases:
        try:
            r = measure(label, load())
        except Exception as e:
            rows.append([label] + ["error"] * 10 + ["%s: %s" % (type(e).__name__, str(e)[:60])])
            fails.append(label)
            continue
        results.append(r)
        ratio = r["grad"] / max(r["fwd"], 1)
        mm_ratio = r["grad_mm"] / r["fwd_mm"] if r["fwd_mm"] else float("nan")
        ag = r["autograd"]
        v = verdict(ratio, 4.0)
        if v == "FAIL":
            fails.append(label)
        rows.append([label, r["n_grads"], human(r["fwd"]), human(r["grad"]), "%.2f" % ratio,
                     "%.2f" % mm_ratio if r["fwd_mm"] else "-",
                     human(ag) if ag is not None else "?",
                     "%.2f" % (ag / r["fwd"]) if ag else "?",
                     "%.2f" % (r["grad"] / ag) if ag else "?",
                     "%d/%d" % (r["fwd_ops"], r["grad_ops"]), static_cell(r["static"]), v])
    print("flops per call (float64 inputs; matmul 2mnk, elementwise = numel)\n")
    table(["spec", "grads", "forward", "gradients()", "grad/fwd", "matmul-like", "autograd f+b",
           "autograd/fwd", "grad()/autograd", "aten ops f/g", "op_count f/g", "<= 4x"], rows)
    worst = max(results, key=lambda r: r["grad"] / max(r["fwd"], 1)) if results else None
    if worst:
        top = sorted(worst["by_op"].items(), key=lambda kv: -kv[1])[:6]
        print("\nworst ratio: %s; its non-matmul flops by op: %s"
              % (worst["label"], ", ".join("%s %s" % (k, human(v)) for k, v in top)))
    print("RATIO gradients()/forward() <= 4 for every spec: %s%s"
          % ("PASS" if not fails else "FAIL", "" if not fails else " (%s)" % ", ".join(fails)))


if __name__ == "__main__":
    main()
