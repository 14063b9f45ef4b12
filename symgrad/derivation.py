"""`derive`: a Problem -> a `Derivation` holding every closed-form gradient.

A `Derivation` is the hub of the library API: ``gradient(o, x)``, ``compile()``,
``check()``, ``schedule``, ``render(fmt)`` and ``to_json()`` -- each delegating to the
module that owns that stage.
"""
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from sympy import S

from .derive import sweep, seed_for, materialize_for
from .errors import SymgradError
from .graph import Graph
from .printing import to_text, to_latex, to_index_latex, index_letters
from .tensor import Tensor, shape_json


@dataclass
class Gradient:
    """One closed form: d output / d wrt (a vector-Jacobian product for non-scalar outputs)."""
    output: str
    wrt: str
    shape: Tuple
    expr: Any                   # the SymPy expression
    seed: Optional[str]         # "grad_<o>" for a non-scalar output, else None
    connected: bool             # False when the output does not depend on wrt

    @property
    def text(self):
        return to_text(self.expr)

    @property
    def latex(self):
        return to_latex(self.expr)

    @property
    def index_latex(self):
        idx = index_letters(len(self.shape))
        x = to_latex(Tensor(self.wrt, ()))
        from .printing.latex import _P as latex_printer
        xi = latex_printer.subscripted(x, "".join(idx)) if idx else x
        o = to_latex(Tensor(self.output, ()))
        if self.seed:
            lhs = (r"{\overline{%s}}_{%s}" % (x, "".join(idx))) if idx else r"\overline{%s}" % x
        else:
            lhs = r"\frac{\partial %s}{\partial %s}" % (o, xi)
        return "%s = %s" % (lhs, to_index_latex(self.expr, idx))

    def __getitem__(self, key):          # g["text"] as in the JSON report
        return self.to_dict()[key]

    def to_dict(self):
        return {"output": self.output, "wrt": self.wrt, "shape": shape_json(self.shape),
                "text": self.text, "latex": self.latex, "index_latex": self.index_latex,
                "upstream": self.seed, "connected": self.connected}


class Derivation:
    def __init__(self, problem):
        self.problem = problem
        self.graph = Graph(problem)
        self.sweeps = {}
        self.gradients = []
        names = problem.tensors
        wanted = {names[n] for n in problem.wrt}
        for o in problem.outputs:
            sym = names[o]
            seed = seed_for(sym)
            sw = sweep(self.graph, sym, seed, wanted)
            self.sweeps[o] = sw
            for x in problem.wrt:
                xs = names[x]
                g = sw.adjoints.get(xs, S.Zero)
                self.gradients.append(Gradient(
                    o, x, plain_shape(xs.tshape), materialize_for(g, xs), None if seed == 1 else seed.name,
                    xs in sw.adjoints))
        self._check = None
        self._schedule = None

    # --- queries ----------------------------------------------------------------------
    def gradient(self, output, wrt):
        for g in self.gradients:
            if g.output == output and g.wrt == wrt:
                return g
        raise SymgradError("no gradient d%s/d%s (outputs: %s; wrt: %s)" % (
            output, wrt, ", ".join(self.problem.outputs), ", ".join(self.problem.wrt)))

    @property
    def title(self):
        return self.problem.title or _stem(self.problem.file)

    def tensor_info(self):
        """name -> dict(kind, shape, requires_grad, is_leaf[, expr]) in spec order."""
        out = {}
        g = self.graph
        for d in self.problem.inputs:
            out[d.name] = {"kind": "input", "shape": shape_json(d.shape), "requires_grad": d.requires_grad,
                           "is_leaf": True}
        for n in self.problem.nodes:
            out[n.name] = {"kind": "node", "expr": n.text, "shape": shape_json(n.symbol.tshape),
                           "requires_grad": g.requires_grad[n.name], "is_leaf": g.is_leaf[n.name]}
        return out

    # --- later stages -------------------------------------------------------------------
    def compile(self, device=None):
        from .compile import compile_gradients
        return compile_gradients(self)

    def module_source(self):
        from .compile import module_source
        return module_source(self)

    @property
    def schedule(self):
        if self.problem.backward is None:
            return None
        if self._schedule is None:
            from .schedule import predict
            self._schedule = predict(self)
        return self._schedule

    def check(self, device="cpu", dtype="float64", seed=0, fd=False, dims=None):
        from .check import run_check
        self._check = run_check(self, device=device, dtype=dtype, seed=seed, fd=fd, dims=dims)
        return self._check

    def to_json(self, check=None):
        from .report import to_json
        return to_json(self, check if check is not None else self._check)

    def to_dict(self, check=None):
        from .report import to_dict
        return to_dict(self, check if check is not None else self._check)

    def summary(self, check=None):
        from .report import summary
        return summary(self, check if check is not None else self._check)

    def render(self, fmt="md", check=None, template_dir=None):
        from .render import render
        return render(self, fmt, check if check is not None else self._check, template_dir)

    def _repr_latex_(self):
        from .render import repr_latex
        return repr_latex(self)

    def _repr_markdown_(self):
        try:
            return self.render("md")
        except Exception:       # a notebook display must never raise
            from .render_text import md_fence
            return md_fence(self.summary())


def plain_shape(shape):
    """A shape as Python values: ints, and dim names as strings."""
    return tuple(int(d) if d.is_Integer else str(d) for d in shape)


def _stem(path):
    import os
    return os.path.splitext(os.path.basename(path or "spec"))[0]


def derive(problem):
    """Derive every gradient of a loaded problem."""
    return Derivation(problem)
