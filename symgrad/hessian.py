"""Second derivatives as the API and the JSON report show them (SPEC section 11).

`Hessian` is one ``[f, x, y]`` of a spec's ``hessians:``: the Hessian d2f/dx dy, of shape
``x.shape + y.shape`` laid out as ``torch.func.hessian`` lays it out, and its
Hessian-vector product with a direction ``v_x``, of ``y``'s shape -- each as a closed form
in the spec language, in LaTeX (matrix and index notation), with the named adjoints it
reuses and a one-line description of its structure where one is proven
(`symgrad.diff.structure`).  The calculus is ``symgrad.diff.second``.
"""
from .diff.second import SecondOrder, direction_name
from .diff.structure import describe
from .errors import SymgradError
from .printing import to_text, to_latex, to_index_latex, index_letters
from .tensor import Tensor, shape_json

MAX_INLINE_TEXT = 2000      # as for gradients (SPEC section 9): inline text is null beyond this


class Hessian:
    """d2 output / d wrt[0] d wrt[1], and its Hessian-vector product."""

    def __init__(self, d, output, x, y):
        self.output, self.wrt = output, (x, y)
        taken = _taken(d)
        dirs = {}
        for f, x2, _ in d.problem.hessians:      # every direction of the module: v_x, one per x
            dirs.setdefault(x2, direction_name(x2, taken))
        t = d.problem.tensors
        self.shape = _plain(t[x].tshape) + _plain(t[y].tshape)
        self.direction = dirs[x]                     # v_x: the argument of hvps()
        self.y_rank = len(t[y].tshape)
        try:
            self.second = so = SecondOrder(d, output, x, y, taken | set(dirs.values()), dirs[x])
        except SymgradError as e:       # an op whose rule is not differentiable again: say which
            self.second, self.expr, self.hvp_expr, self.connected, self.structure = None, None, None, True, None
            self.error = "no Hessian-vector product: %s" % e
            return
        self.expr = so.hessian_expr                 # first-order adjoints by name (None: see error)
        self.hvp_expr = so.hvp_named                # second-order adjoints by name too
        self.error = so.hessian_error
        self.connected = so.connected
        self.structure = describe(self.expr, so, d) if self.expr is not None else None

    # --- the closed forms -------------------------------------------------------------------
    @property
    def text(self):
        return None if self.expr is None else to_text(self.expr)

    @property
    def latex(self):
        return None if self.expr is None else to_latex(self.expr)

    @property
    def index_latex(self):
        if self.expr is None:
            return None
        rx, ry = len(self.shape) - self.y_rank, self.y_rank
        ix = index_letters(rx)
        iy = index_letters(ry, start=rx)
        lhs = r"\frac{\partial^{2} %s}{\partial %s \partial %s}" % (
            to_latex(Tensor(self.output, ())), _entry(self.wrt[0], ix), _entry(self.wrt[1], iy))
        return "%s = %s" % (lhs, to_index_latex(self.expr, ix + iy))

    @property
    def hvp_text(self):
        return None if self.hvp_expr is None else to_text(self.hvp_expr)

    @property
    def hvp_latex(self):
        return None if self.hvp_expr is None else to_latex(self.hvp_expr)

    @property
    def hvp_inline_text(self):
        """The Hessian-vector product with every named adjoint substituted (None if long)."""
        if self.second is None:
            return None
        s = to_text(self.second.inline_first(self.second.hvp_expr))
        return s if len(s) <= MAX_INLINE_TEXT else None

    @property
    def inline_text(self):
        if self.expr is None:
            return None
        s = to_text(self.second.inline_first(self.expr))
        return s if len(s) <= MAX_INLINE_TEXT else None

    def adjoints(self):
        """The Hessian-vector product's own named adjoints (``v_z``, ``hvp_h``), in order."""
        return [] if self.second is None else [(a.name, a.shape, a.value) for a in self.second.names.defs]

    def hvp_adjoints(self):
        """The same for the notes and the JSON: [{name, shape, text, latex}] in order."""
        return [{"name": n, "shape": shape_json(_plain(s)), "text": to_text(v), "latex": to_latex(v)}
                for n, s, v in self.adjoints()]

    @property
    def uses(self):
        """Named adjoints (first order, then the HVP's own) that text or hvp_text need."""
        return [] if self.second is None else self.second.uses()

    def __getitem__(self, key):
        return self.to_dict()[key]

    def to_dict(self):
        return {"output": self.output, "wrt": list(self.wrt), "shape": shape_json(self.shape),
                "text": self.text, "latex": self.latex, "index_latex": self.index_latex,
                "hvp_text": self.hvp_text, "hvp_latex": self.hvp_latex, "direction": self.direction,
                "inline_text": self.inline_text, "hvp_inline_text": self.hvp_inline_text,
                "uses": self.uses,
                "hvp_adjoints": self.hvp_adjoints(),
                "structure": self.structure, "connected": self.connected, "error": self.error}


def _taken(d):
    """Names an HVP's own adjoints may not take: the spec's, the first sweep's adjoints'."""
    prob = d.problem
    names = set(prob.tensors) | set(prob.dims) | {"grad_" + o for o in prob.outputs}
    for o in prob.outputs:
        names |= {a.name for a in d.named[o].defs}
    return names


def _entry(name, idx):
    from .printing.latex import _P
    x = to_latex(Tensor(name, ()))
    return _P.subscripted(x, "".join(idx)) if idx else x


def _plain(shape):
    return tuple(int(s) if s.is_Integer else str(s) for s in shape)


def derive_hessians(d):
    """Every Hessian the spec asks for, in its order."""
    return [Hessian(d, f, x, y) for f, x, y in d.problem.hessians]
