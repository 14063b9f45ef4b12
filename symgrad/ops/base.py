"""The two kinds of op in the op table, and the helpers their rules share.

* `ElementwiseFn` -- a scalar function applied elementwise (``sigmoid``, ``relu`` ...).
  SymPy differentiates it through `fdiff`, so an elementwise region of a graph is
  differentiated by SymPy's own scalar calculus.
* `TensorOp` -- anything that is not elementwise (``matmul``, ``sum``, ``softmax`` ...).
  Its leading ``n_tensors`` arguments are tensors, the rest are static attributes
  (dims, flags, shapes) stored as SymPy atoms.  Each op declares, in one class:
  its shape rule (`out_shape`), its vector-Jacobian rule (`vjp`), its spelling in the
  spec language (`text`), in LaTeX (`latex`), in index notation (`index`), and its
  torch lowering (`torch`).

Native SymPy functions (``exp``, ``tanh``, ``Abs`` ...) are described in
``symgrad.ops.elementwise.NATIVE`` with the same fields.
"""
import sympy
from sympy import Function, S, Tuple, Mul, Add
from sympy.printing.precedence import PRECEDENCE

from ..tensor import shape_of
from .registry import MissingFact


class TensorOp(Function):
    """An unevaluated application of a non-elementwise tensor op."""

    is_commutative = True
    is_real = True
    n_tensors = 1
    spec_name = None          # name in the spec language
    differentiable = True     # False: no gradient flows, the result never requires grad
    prec = PRECEDENCE["Func"]

    @property
    def precedence(self):
        return self.prec

    @property
    def tensors(self):
        return self.args[:self.n_tensors]

    @property
    def attrs(self):
        return self.args[self.n_tensors:]

    def out_shape(self):
        raise NotImplementedError

    def vjp(self, i, g):
        """Adjoint contribution for tensor argument ``i`` given the output adjoint ``g``.

        ``g`` has this op's shape or broadcasts to it (a scalar ``g`` stands for a
        constant tensor).  The result must broadcast to argument ``i``'s shape.
        """
        raise NotImplementedError("no vector-Jacobian rule for %s" % self.spec_name)

    def batch(self, args, lifted, bshape):
        """This op over a batch of arguments (second order: ``symgrad.diff.batch``).

        ``args[i]`` is tensor argument i: when ``lifted[i]`` it is a batch with leading dims
        ``bshape`` (see ``symgrad.ops.batching``), else the argument itself.  Returns the
        batch of results, with the same leading dims.  The registry's docstring has the
        protocol; an op without a rule is a named error, never a wrong Hessian."""
        raise MissingFact("no batching rule for %s: a Hessian through it needs %s.batch "
                          "(see symgrad.ops.registry)" % (self.spec_name, type(self).__name__))

    # --- printing: the defaults print a function call -----------------------------
    def text_kwargs(self, p):
        return []

    def text(self, p):
        op = getattr(p, "operand", None)
        parts = [op(a, 0) if op else p._print(a) for a in self.tensors] + self.text_kwargs(p)
        return "%s(%s)" % (self.spec_name, ", ".join(parts))

    def latex(self, p):
        args = ", ".join(p._print(a) for a in self.tensors)
        return r"\operatorname{%s}\left(%s\right)" % (self.spec_name.replace("_", r"\_"), args)

    def torch(self, p):
        parts = [p._print(a) for a in self.tensors] + self.text_kwargs(p)
        return "torch.%s(%s)" % (self.spec_name, ", ".join(parts))

    # SymPy printers skip intermediate base classes when dispatching on a Function
    # subclass, so each printer reaches the op through its own print method name.
    def _sympystr(self, p):
        return self.text(p)

    def _latex(self, p, exp=None, **kwargs):
        out = self.latex(p)
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _torchcode(self, p):
        return self.torch(p)


class ElementwiseFn(Function):
    """A scalar function applied elementwise; subclasses give `fdiff` and spellings."""

    is_commutative = True
    is_real = True
    spec_name = None
    torch_name = None
    latex_name = None
    differentiable = True

    def text(self, p):
        return "%s(%s)" % (self.spec_name, ", ".join(p._print(a) for a in self.args))

    def value(self, *args):
        """The function as a SymPy expression of numbers (for numeric evaluation)."""
        return None

    def _eval_evalf(self, prec):
        if all(a.is_number for a in self.args):
            v = self.value(*self.args)
            if v is not None:
                return sympy.sympify(v).evalf(prec)

    def latex(self, p):
        name = self.latex_name or r"\operatorname{%s}" % self.spec_name.replace("_", r"\_")
        return r"%s\left(%s\right)" % (name, ", ".join(p._print(a) for a in self.args))

    def torch(self, p):
        return "%s(%s)" % (self.torch_name, ", ".join(p._print(a) for a in self.args))

    # SymPy printers skip intermediate base classes when dispatching on a Function
    # subclass, so each printer reaches the op through its own print method name.
    def _sympystr(self, p):
        return self.text(p)

    def _latex(self, p, exp=None, **kwargs):
        out = self.latex(p)
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _torchcode(self, p):
        return self.torch(p)


# --- helpers the rules share (those that build ops live with the ops: `shape`, `reduce`) ---

def split_scalar(expr):
    """Split ``expr`` into (scalar factor, tensor part) when it is a product."""
    if isinstance(expr, Mul):
        sc, rest = [], []
        for f in expr.args:
            (sc if shape_of(f) == () else rest).append(f)
        return Mul(*sc), Mul(*rest)
    if shape_of(expr) == ():
        return expr, S.One
    return S.One, expr


def split_content(x):
    """`split_scalar`, and for a sum the common number of its terms: SymPy distributes
    ``2*(r - y)`` into ``2*r - 2*y``; a matrix product takes the 2 out (``2*A.T @ r``)."""
    if isinstance(x, Add):
        c, rest = x.primitive()
        if c != 1 and c.is_positive:
            return c, rest
    return split_scalar(x)


def norm_dim(d, rank, what="dim"):
    """Normalise a (possibly negative) dim index for a tensor of the given rank."""
    from ..errors import ShapeError
    r = max(rank, 1)
    if not -r <= d < r:
        raise ShapeError("%s %d is out of range for a tensor with %d dimension%s"
                         % (what, d, rank, "" if rank == 1 else "s"))
    return d % r




def shape_text(shape):
    """A shape as PyTorch code: ``(3,)``, ``(2, n)``."""
    items = [str(d) for d in shape]
    return "(%s,)" % items[0] if len(items) == 1 else "(%s)" % ", ".join(items)


def symmetric(x):
    """Whether a matrix is known to equal its transpose: an input of domain ``spd``, the
    identity, an inverse of a symmetric matrix, A @ A.T, and sums and scalings of these."""
    if len(shape_of(x)) != 2:
        return False
    own = getattr(x, "symmetric", None)
    if own is not None:
        return bool(own)
    if isinstance(x, sympy.Add):
        return all(symmetric(t) or shape_of(t) == () for t in x.args)
    if isinstance(x, Mul):
        return sum(1 for f in x.args if shape_of(f) != ()) == 1 and \
            all(symmetric(f) for f in x.args if shape_of(f) != ())
    return False


def rank(x):
    return len(shape_of(x))


def dims_of(x, dim):
    """The sorted non-negative dims that ``dim`` (None, an int or a tuple) names for x."""
    from ..errors import ShapeError
    r = rank(x)
    if dim is None:
        return tuple(range(r))
    ds = dim if isinstance(dim, tuple) else (dim,)
    out = sorted({norm_dim(d, r) for d in ds})
    if len(out) != len(ds):
        raise ShapeError("dim %s names a dimension twice" % (dim,))
    return tuple(out)


def count(shape, dims):
    n = S.One
    for d in dims:
        n *= shape[d]
    return n


def flag(b):
    return sympy.true if b else sympy.false
