"""The registry of the spec language: one `Function` per name, holding every fact of it.

An op's block (in ``symgrad.ops.*``) is its SymPy op class -- shape rule, vector-Jacobian
rule, numeric value and the text/LaTeX/index/torch spellings -- followed by one
registration that declares the rest, which the other stages read from here:

* the signature: PyTorch's argument names, kinds and defaults (`Param`), aliases, whether
  ``f(2, 3)`` packs sizes as ``f((2, 3))``;
* `build`: the SymPy expression for bound arguments (the parser calls it);
* what PyTorch accepts as the first tensor argument: a plain number (``exp(2)``), a bool
  tensor from a comparison (``on_bool``: kept, as ``flatten(x > 0)``, or refused); with
  ``strict``, no tensor argument may be a plain number;
* `torch`: the dotted name of the PyTorch function the spec's text means -- the reference
  the check runs (``symgrad.numeric.reference``) and the PyTorch listing of the notes; `ref`
  overrides the call where the spec binds arguments differently;
* the autograd model: PyTorch's backward node (``grad_fn.name()``), the fields it saves
  (``grad_fn._saved_<field>``; `Cross` when what is saved depends on which arguments
  require grad), or a `record` hook for calls that record a chain of nodes;
* `reason`: the one line the notes give for the rule;
* how calls are written: ``method_only`` (PyTorch has only ``x.expand(...)``, no
  ``torch.expand``), ``method_pack`` (the parameter that a method call's extra positional
  arguments fill, ``x.permute(2, 0, 1)``), ``pack`` (the same for every call: einsum's
  operands), and keyword-only parameters (``Param(..., kwonly=True)``).
* `fields`: for a function PyTorch answers with a named tuple (``eigh``), the names of its
  fields: the build returns a tuple of as many expressions, and ``f(...).name`` picks one;
  `picks`: the one field of PyTorch's named tuple that the spec's call means (``slogdet(A)``
  is ``torch.linalg.slogdet(A).logabsdet``) -- the reference and the notes' listing take it.

Nothing here knows a particular op.  `check_facts` runs at import: a function without a
torch reference, a differentiable one without a backward node or a reason, is a named
error (`MissingFact`) -- never a silent zero further down.

Second order (``hessians:``, ``symgrad.diff.second``) asks two more things of an op block:

* its vector-Jacobian rule (``TensorOp.vjp``) is built from ops that have rules themselves
  (the gradient's closed form is differentiated again by the same sweep; masks and
  comparisons are non-differentiable, so a relu mask's derivative is 0 as in PyTorch);
* a ``TensorOp`` says how it acts on a batch: ``batch(self, args, lifted, bshape)``.  A
  Hessian is its Hessian-vector product at every basis direction at once -- the direction
  replaced by an identity with leading batch dims ``bshape`` -- so each op on the way is
  applied to a batch, as ``torch.vmap`` would.  ``args[i]`` is tensor argument i: when
  ``lifted[i]`` it is a batch (its value broadcasts to ``bshape + arg.shape``, its logical
  dims are its *last* ``rank(arg)`` dims, leading batch dims of size 1 may be missing), else
  the argument itself.  Return the batch of results, its logical dims last the same way.
  Helpers (``symgrad.ops.batching``): ``pdim(a, r, d)`` is the dim of lifted ``a`` holding
  logical dim d; ``align(a, r, R)`` gives it logical rank R (unit dims after the batch
  dims, for broadcasting against rank-R arguments); ``full_along(a, shape, dims)`` makes it
  full where it broadcasts; ``reduce_lifted`` reduces logical dims.  Typical rules:
  ``transpose(a', pdim(a', r, d0), pdim(a', r, d1))``; a dim-wise op rebuilt on
  ``pdim``; a reduction through ``reduce_lifted``.  Elementwise functions need nothing
  (``ElementwiseFn`` broadcasts).  The default raises `MissingFact` naming the op: a
  Hessian through an op without a rule is an error, never a wrong answer.  Tested for
  every op case by ``tests/test_hessian_ops.py``.
"""
from ..errors import SymgradError

REQUIRED = object()
NOT_IMPLEMENTED = "torch::autograd::NotImplemented"


class MissingFact(SymgradError):
    """An op block lacks a fact that a stage needs."""


class Param:
    """One argument: its PyTorch name, its kind and its default.

    Kinds: ``tensor`` (an expression), ``mask`` (a comparison, a bool tensor in PyTorch),
    ``number`` (a constant expression), ``dim``
    (an int literal), ``dims`` (int or tuple of ints, or None), ``bool``, ``str``,
    ``size`` (a positive int or a dim name), ``shape`` (a tuple of sizes), ``index`` (an
    integer tensor: a ``dtype: long`` input or an expression of one), ``tensors`` (a tuple
    or list of tensors), ``intlist`` (a tuple or list of int literals), ``int`` (an integer:
    a literal, a dim, or + - * of them), ``ints`` (a tuple of ints or dim names, any
    sign: pad amounts).
    ``kwonly``: keyword-only (after ``*`` in PyTorch's signature, as var's ``correction``);
    ``seq``: a ``dims``/``shape`` that must be a tuple or list (PyTorch's ``int[]`` that
    refuses a bare int, as layer_norm's ``normalized_shape``); ``nullable``: a required
    tensor that may be None (batch_norm's ``running_mean``).
    """

    def __init__(self, name, kind="tensor", default=REQUIRED, kwonly=False, seq=False, nullable=False):
        self.name, self.kind, self.default = name, kind, default
        self.kwonly, self.seq, self.nullable = kwonly, seq, nullable

    def __repr__(self):
        return "Param(%r, %r)" % (self.name, self.kind)


def P(*specs):
    """A parameter list: plain strings are required tensor parameters."""
    return [s if isinstance(s, Param) else Param(s) for s in specs]


class Cross:
    """Saved fields of a binary node that depend on which argument requires grad:
    ``first`` is saved for argument 0's gradient, ``second`` for argument 1's."""

    def __init__(self, first, second):
        self.first, self.second = tuple(first), tuple(second)

    def fields(self, rg0, rg1):
        out = []
        for f in (self.first if rg0 else ()) + (self.second if rg1 else ()):
            if f not in out:
                out.append(f)
        return tuple(out)


class Function:
    """A function of the spec language and every fact about it (see the module docstring)."""

    def __init__(self, name, params, build, *, kind="op", torch=None, ref=None, grad_fn=None,
                 saved=(), record=None, reason=None, aliases=(), varshape=False,
                 number_ok=None, on_bool=None, strict=False, method_only=False, method_pack=None,
                 pack=None, fields=(), picks=None):
        self.name = name
        self.params = params
        self.build = build
        self.kind = kind              # "elementwise" | "op" | "constant" | "stop"
        self.torch = torch            # dotted name of the PyTorch function ("torch.nn.functional.gelu")
        self.ref = ref                # callable(ctx, *args) overriding the call of `torch`
        self.grad_fn = grad_fn        # PyTorch's backward node for the default call
        self.saved = saved            # fields it saves: a tuple, or a `Cross`
        self.record = record          # hook(walker, node, vals, nodes) for calls that record a chain
        self.reason = reason          # the notes' one line about the rule
        self.aliases = tuple(aliases)
        self.varshape = varshape      # ones(2, 3) as well as ones((2, 3))
        self.number_ok = kind == "elementwise" if number_ok is None else number_ok
        self.on_bool = on_bool        # "keep": a bool tensor stays bool; "fail": PyTorch refuses it
        self.strict = strict          # every tensor argument must be a tensor (logaddexp(x, 2.0) raises)
        self.method_only = method_only    # x.expand(...) only: PyTorch has no torch.expand
        self.method_pack = method_pack    # x.permute(2, 0, 1): the parameter extra arguments fill
        self.pack = pack                  # einsum(eq, a, b): the parameter extra arguments fill
        self.fields = tuple(fields)   # a named tuple's fields: eigh(A).eigenvectors
        self.picks = picks            # the field the spec's call means: slogdet(A) is .logabsdet

    @property
    def saves(self):
        """Whether the default node saves tensors (a second backward through it raises)."""
        return bool(self.saved) and self.grad_fn not in (None, NOT_IMPLEMENTED)

    @property
    def differentiable(self):
        return self.kind not in ("constant", "stop")

    @property
    def is_elementwise(self):
        return self.kind == "elementwise"

    @property
    def listing(self):
        """How the notes' PyTorch listing spells a call: ``F.gelu``, ``torch.linalg.solve``."""
        return "F." + self.torch[len("torch.nn.functional."):] if self.torch.startswith(
            "torch.nn.functional.") else self.torch

    def __repr__(self):
        return "Function(%r)" % self.name


FUNCTIONS = {}     # name (and alias) -> Function


def register(name, params, build=None, **facts):
    """Register a function; usable as a decorator of its build function."""
    def deco(b):
        if isinstance(b, type):             # an op class: called with the arguments in order
            b = _positional(b, params)
        f = Function(name, params, b, **facts)
        for n in (name,) + f.aliases:
            if n in FUNCTIONS:
                raise MissingFact("function '%s' is registered twice" % n)
            FUNCTIONS[n] = f
        return b
    if build is not None:
        deco(build)
        return FUNCTIONS[name]
    return deco


def build(name, **args):
    """The expression of a registered function for bound arguments: how an op's adjoint uses
    a function of a module that imports its own (a scatter's adjoint is a gather)."""
    return FUNCTIONS[name].build(**args)


def _positional(cls, params):
    def build(**kw):
        return cls(*[kw[p.name] for p in params])
    return build


class Operator:
    """An operator of the language, as PyTorch records it (``a * b`` is MulBackward0)."""

    def __init__(self, symbol, grad_fn, saved=(), reason=None, function=None, record=None):
        self.symbol, self.grad_fn, self.saved, self.reason = symbol, grad_fn, saved, reason
        self.function = function      # the function it means (``@`` is matmul): its block records it
        self.record = record          # hook recording its chain (``x[1:3, 0]``), as a function's

    @property
    def saves(self):
        return bool(self.saved)


OPERATORS = {}


def operator(symbol, grad_fn, saved=(), reason=None, function=None, record=None):
    OPERATORS[symbol] = Operator(symbol, grad_fn, saved, reason, function, record)


def check_facts():
    """Every fact each stage needs is declared: a missing one is a `MissingFact` at import."""
    for name, f in FUNCTIONS.items():
        if f.torch is None and f.ref is None:
            raise MissingFact("function '%s' has no torch reference" % name)
        if f.differentiable:
            if f.grad_fn is None and f.record is None:
                raise MissingFact("function '%s' has no backward node (grad_fn) for the autograd model" % name)
            if not f.reason:
                raise MissingFact("function '%s' has no reason for the notes" % name)
