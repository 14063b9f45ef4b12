"""`derive`: a Problem -> a `Derivation` holding every closed-form gradient.

A `Derivation` is the hub of the library API: ``gradient(o, x)``, ``compile()``,
``check()``, ``schedule``, ``render(fmt)`` and ``to_json()`` -- each delegating to the
module that owns that stage.
"""


from sympy import S

from .diff.adjoints import AdjointNames, tree_size
from .diff.sweep import sweep, upstream_for, materialize_for
from .errors import SymgradError
from .diff.graph import Graph
from .printing import to_text, to_latex, to_index_latex, index_letters
from .tensor import Tensor, shape_json


MAX_INLINE_TEXT = 2000      # SPEC section 9: inline_text is null beyond this


class Gradient:
    """One closed form: d output / d wrt (a vector-Jacobian product for non-scalar outputs).

    ``named`` is the closed form in terms of the output's named adjoints (what ``text``
    prints; None when it uses none); ``expr`` is the same closed form with every adjoint
    substituted (what the check compares).  Setting ``expr`` replaces the closed form: the
    named one is dropped with it."""

    def __init__(self, output, wrt, shape, expr, upstream, connected, named=None, uses=()):
        self.output, self.wrt, self.shape = output, wrt, shape
        self.upstream = upstream        # "grad_<o>" for a non-scalar output, else None
        self.connected = connected      # False when the output does not depend on wrt
        self._expr, self.named, self.uses = expr, named, tuple(uses)

    @property
    def expr(self):
        return self._expr

    @expr.setter
    def expr(self, value):
        self._expr, self.named, self.uses = value, None, ()

    @property
    def form(self):
        return self.expr if self.named is None else self.named

    @property
    def text(self):
        return to_text(self.form)

    @property
    def inline_text(self):
        if not self.uses:
            return self.text
        if tree_size(self.expr, MAX_INLINE_TEXT + 1) > MAX_INLINE_TEXT:
            return None                  # printing a tree of that size is already too long
        t = to_text(self.expr)
        return t if len(t) <= MAX_INLINE_TEXT else None

    @property
    def latex(self):
        return to_latex(self.form)

    @property
    def index_latex(self):
        idx = index_letters(len(self.shape))
        x = to_latex(Tensor(self.wrt, ()))
        from .printing.latex import _P as latex_printer
        xi = latex_printer.subscripted(x, "".join(idx)) if idx else x
        o = to_latex(Tensor(self.output, ()))
        if self.upstream:
            lhs = (r"{\overline{%s}}_{%s}" % (x, "".join(idx))) if idx else r"\overline{%s}" % x
        else:
            lhs = r"\frac{\partial %s}{\partial %s}" % (o, xi)
        return "%s = %s" % (lhs, to_index_latex(self.form, idx))

    def __getitem__(self, key):          # g["text"] as in the JSON report
        return self.to_dict()[key]

    def to_dict(self):
        return {"output": self.output, "wrt": self.wrt, "shape": shape_json(self.shape),
                "text": self.text, "latex": self.latex, "index_latex": self.index_latex,
                "uses": list(self.uses), "inline_text": self.inline_text,
                "upstream": self.upstream, "connected": self.connected}


class AdjointForm:
    """A named adjoint as the API and the JSON report show it (SPEC section 9)."""

    def __init__(self, output, adj):
        self.output, self.name, self.of, self.expr = output, adj.name, adj.of, adj.value
        self.shape = plain_shape(adj.shape)

    @property
    def text(self):
        return to_text(self.expr)

    @property
    def latex(self):
        return to_latex(self.expr)

    def to_dict(self):
        return {"output": self.output, "name": self.name, "of": self.of, "shape": shape_json(self.shape),
                "text": self.text, "latex": self.latex}


class Derivation:
    def __init__(self, problem):
        self.problem = problem
        self.graph = Graph(problem)
        self.sweeps = {}
        self.gradients = []
        self.named = {}                 # output -> its AdjointNames
        names = problem.tensors
        wanted = {names[n] for n in problem.wrt}
        taken = set(names) | set(problem.dims) | {"grad_" + o for o in problem.outputs}
        for o in problem.outputs:
            sym = names[o]
            upstream = upstream_for(sym)
            adjoints = AdjointNames(self.graph, taken)
            sw = sweep(self.graph, sym, upstream, wanted, adjoints)
            self.sweeps[o] = sw
            self.named[o] = adjoints
            if sw.expand is not None:            # adjoints the sweep hid while it went on
                for a in adjoints.defs:
                    a.value = sw.expand(a.value)
            forms = adjoints.finish({x: materialize_for(sw.adjoints.get(names[x], S.Zero), names[x])
                                     for x in problem.wrt})
            for x in problem.wrt:
                xs = names[x]
                uses = tuple(adjoints.uses_of(forms[x]))
                self.gradients.append(Gradient(
                    o, x, plain_shape(xs.tshape), adjoints.inline(forms[x]), None if upstream == 1 else upstream.name,
                    xs in sw.adjoints, forms[x] if uses else None, uses))
        self._check = None
        self._schedule = None
        from .hessian import derive_hessians
        self.hessians = derive_hessians(self)        # SPEC section 11

    # --- queries ----------------------------------------------------------------------
    def gradient(self, output, wrt):
        for g in self.gradients:
            if g.output == output and g.wrt == wrt:
                return g
        raise SymgradError("no gradient d%s/d%s (outputs: %s; wrt: %s)" % (
            output, wrt, ", ".join(self.problem.outputs), ", ".join(self.problem.wrt)))

    def hessian(self, output, x, y=None):
        """The `Hessian` d2 output / dx dy (y defaults to x) that the spec's ``hessians:`` asks for."""
        y = x if y is None else y
        for h in self.hessians:
            if (h.output, h.wrt) == (output, (x, y)):
                return h
        asked = ", ".join("[%s, %s, %s]" % ((h.output,) + h.wrt) for h in self.hessians) or "none"
        raise SymgradError("no Hessian d2%s/d%s d%s: the spec's 'hessians' lists %s" % (output, x, y, asked))

    def adjoints(self, output):
        """The named adjoints of ``output`` in definition order: name -> `AdjointForm`."""
        if output not in self.named:
            raise SymgradError("no output %s (outputs: %s)" % (output, ", ".join(self.problem.outputs)))
        return {a.name: AdjointForm(output, a) for a in self.named[output].defs}

    @property
    def title(self):
        return self.problem.title or _stem(self.problem.file)

    def tensor_info(self):
        """name -> dict(kind, shape, requires_grad, is_leaf[, expr][, dtype, high]) in spec order."""
        out = {}
        g = self.graph
        for d in self.problem.inputs:
            out[d.name] = {"kind": "input", "shape": shape_json(d.shape), "requires_grad": d.requires_grad,
                           "is_leaf": True}
            if d.dtype != "float":            # integer and bool inputs say so (SPEC section 10)
                out[d.name]["dtype"] = d.dtype
                if d.high is not None:
                    out[d.name]["high"] = shape_json((d.high,))[0]
        for n in self.problem.nodes:
            out[n.name] = {"kind": "node", "expr": n.text, "shape": shape_json(n.symbol.tshape),
                           "requires_grad": g.requires_grad[n.name], "is_leaf": g.is_leaf[n.name]}
            if n.symbol.dtype != "float":
                out[n.name]["dtype"] = n.symbol.dtype
        return out

    # --- later stages -------------------------------------------------------------------
    def compile(self, device=None):
        from .codegen.module import compile_gradients
        return compile_gradients(self)

    def module_source(self):
        from .codegen.module import module_source
        return module_source(self)

    @property
    def schedule(self):
        if self.problem.backward is None:
            return None
        if self._schedule is None:
            from .autograd.schedule import predict
            self._schedule = predict(self)
        return self._schedule

    def check(self, device="cpu", dtype="float64", seed=0, fd=False, dims=None):
        from .numeric.check import run_check
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

    def render(self, fmt="md", check=None, template_dir=None, numbers=True):
        from .notes.render import render
        return render(self, fmt, check if check is not None else self._check, template_dir, numbers=numbers)

    def _repr_latex_(self):
        from .notes.render import repr_latex
        return repr_latex(self)

    def _repr_html_(self):
        from .notes.render import repr_html
        return repr_html(self)

    def _repr_markdown_(self):
        try:
            return self.render("md")
        except Exception:       # a notebook display must never raise
            from .notes.text import md_fence
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
