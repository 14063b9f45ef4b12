"""The autograd graph PyTorch records when it runs a spec's node texts.

`autograd_graph` walks the checked AST of every node's text in Python's evaluation order
and records what PyTorch records: one `GradNode` per op application whose differentiable
inputs include a tensor that requires grad, named as ``grad_fn.name()`` names it, with
the tensors its backward saved (``grad_fn._saved_<field>``).  Each spec tensor is a
`TensorVal` -- a PyTorch tensor object, so ``b: a`` or ``b: flatten(a)`` (1-D ``a``) is
the very same object as ``a``, a leaf.  It is built from the AST and not from SymPy
because SymPy's canonical form is not what PyTorch runs (``x + x`` becomes ``2*x``,
``x - x`` becomes 0 while PyTorch still records a node).

Each op's block (`symgrad.ops`) gives its node and the fields it saves -- a `Cross` when
that depends on which arguments require grad (``mul`` saves ``other`` only for ``self``'s
gradient) -- or a ``record`` hook for calls whose chain depends on ranks or arguments
(``v @ M`` is ``SqueezeBackward4`` over ``MmBackward0``); a composite op's chain is one
`GradNode` that knows its root and the node of the chain that saved tensors (``raiser``).
The walker here only knows Python's operators and evaluation order (``2/x`` is
``x.reciprocal()*2``).  ``tests/test_schedule*.py`` check every rule against PyTorch itself.
"""

import ast
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import SpecError
from ..ops import REQUIRED, FUNCTIONS, OPERATORS, NOT_IMPLEMENTED
from ..ops.layout import strides_of, view_strides, is_contiguous, view_result
from ..ops.nodes import FIELD_ARG, cross_saved
from ..ops.registry import Cross
from ..spec.parse import parse_tree, call_parts, int_literal
from ..spec.subscripts import index_entries
from ..spec.steps import value_type
from .shapes import shapes_of, Recorder


@dataclass(eq=False)
class TensorVal:
    """One tensor object as PyTorch has it (several spec names may alias one object)."""
    requires_grad: bool
    shape: tuple = ()
    grad_fn: Any = None                 # the GradNode that made it, None for a leaf
    origin: str = ""                    # for a leaf: "input a", "detach(h)", "a constant" ...
    names: list = field(default_factory=list)   # spec names bound to this object
    contiguous: bool = True
    retains_grad: bool = False          # t.retain_grad() was called (non-leaves only)
    strides: Any = None                 # a view's strides, when known (its contiguity follows)
    number: Optional[str] = None        # for a spec name that is a plain Python number, not a
                                        # tensor (``c: 2``, ``c: n/2``): its type, "int" or "float"

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def name(self):
        return self.names[0] if self.names else None


@dataclass(eq=False)
class GradNode:
    """One recorded op: its backward node(s), what it passes gradients to, what it saved."""
    seq: int                            # creation order (the engine runs higher first)
    name: str                           # grad_fn.name() of the op's result
    inputs: list                        # TensorVals (requiring grad) it sends gradients to
    raiser: Optional[str] = None        # node of the chain whose saved tensors a rerun unpacks
    saved: tuple = ()                   # ((field, what it is), ...) of the raiser, as grad_fn._saved_<field>
    chain: tuple = ()                   # every backward node the op records, root first
    text: str = ""                      # the op as written
    owner: str = ""                     # the spec node whose text holds it
    not_implemented: Optional[str] = None   # PyTorch's error when it runs (heaviside)
    full: str = ""                      # the owner's whole text

    @property
    def saves(self):
        return self.raiser is not None

    def where(self):
        """``MulBackward0 (c = b*2)``, or with the sub-expression when it is not the whole node."""
        return "%s (%s)" % (self.name, self.owner_text())

    def owner_text(self):
        if not self.owner:
            return self.text
        if self.text == self.full:
            return "%s = %s" % (self.owner, self.full)
        return "%s in %s = %s" % (self.text, self.owner, self.full)


class AutogradGraph:
    """Every spec tensor as a PyTorch tensor object, and the backward nodes between them."""

    def __init__(self, prob):
        self.prob = prob
        self.values = {}            # spec name -> TensorVal
        self.nodes = []             # GradNodes in creation order

    # --- queries ------------------------------------------------------------------------
    def flags(self, name):
        v = self.values[name]
        return v.requires_grad, v.is_leaf, (v.grad_fn.name if v.grad_fn else None)

    def executed(self, root):
        """Nodes a ``root.backward()`` runs, in the engine's order (newest first)."""
        seen, stack = set(), [root.grad_fn] if root.grad_fn else []
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(t.grad_fn for t in n.inputs if t.grad_fn is not None)
        return sorted(seen, key=lambda n: -n.seq)

    def needed(self, root, inputs=None):
        """Nodes a ``root.backward(inputs=...)`` runs, in the engine's order, and those of them
        that run only their first backward node.

        Without ``inputs`` every reachable node runs.  With ``inputs`` the engine runs only the
        nodes on a path from the root to an input -- to a leaf input's accumulator, or to a
        non-leaf input's own ``grad_fn``, which runs even when nothing below it is needed
        (for a composite op, only the first node of its chain then runs).
        """
        full = self.executed(root)
        if inputs is None:
            return full, set()
        own = {t.grad_fn for t in inputs if not t.is_leaf}
        leaves = {t for t in inputs if t.is_leaf}
        below = {}                      # node -> whether a node below it leads to an input
        for n in sorted(full, key=lambda n: n.seq):          # inputs of a node are older
            below[n] = any(t in leaves or (t.grad_fn is not None and
                                           (t.grad_fn in own or below.get(t.grad_fn)))
                           for t in n.inputs)
        run = [n for n in full if below[n] or n in own]
        partial = {n for n in run if not below[n] and len(n.chain) > 1}
        return run, partial

    def reached(self, root, executed=None, retaining=None, inputs=None):
        """Tensors whose ``.grad`` a ``root.backward()`` writes: the leaves requiring grad
        that it reaches (only those in ``inputs``, when given), and the non-leaves that
        retain their grad (``retaining``: by default those with ``retain_grad()``) whose
        ``grad_fn`` runs -- or that are the root: the engine starts at the root's ``grad_fn``
        and fires its retain_grad hook even when ``inputs`` leave that node nothing to run."""
        executed = self.executed(root) if executed is None else executed
        retaining = {v for v in self.values.values() if v.retains_grad} if retaining is None else retaining
        out = []
        cands = [root] + [t for n in executed for t in n.inputs]
        run = set(executed)
        for t in cands:
            if t in out or not t.requires_grad:
                continue
            if t.is_leaf and (inputs is None or t in inputs):
                out.append(t)
            elif not t.is_leaf and t in retaining and (t.grad_fn in run or t is root):
                out.append(t)
        return out

    def holders(self):
        """Tensors that can hold a ``.grad``: leaves requiring grad, retained non-leaves."""
        out = []
        for name, v in self.values.items():
            if v.requires_grad and (v.is_leaf or v.retains_grad) and v not in out:
                out.append(v)
        return out


def autograd_graph(prob):
    """The autograd graph PyTorch records when it runs the spec's node texts.

    Built once per problem (the loader's flags, the derivation's `Graph` and the schedule's
    prediction all ask for it) and kept on the problem, with the identities of what it was
    built from; nobody changes it after it is built.
    """
    key = (tuple(map(id, prob.inputs)), tuple(map(id, prob.nodes)), tuple(prob.retain_grad), id(prob.dims))
    have = prob.__dict__.get("_autograd_graph")
    if have is not None and have[0] == key:
        return have[1]
    g = _build(prob)
    prob.__dict__["_autograd_graph"] = (key, g)
    return g


def _build(prob):
    g = AutogradGraph(prob)
    env = {name: sym for name, (sym, _) in prob.dims.items()}
    for d in prob.inputs:
        v = TensorVal(d.requires_grad, tuple(d.shape), origin="input %s" % d.name, names=[d.name])
        g.values[d.name] = v
        env[d.name] = d.symbol
    types = dict.fromkeys(prob.dims, "int")
    types.update(dict.fromkeys(g.values, "tensor"))
    for n in prob.nodes:
        w = _Walker(g, n.name, n.text, env)
        v = w.value(w.tree.body)
        if not isinstance(v, TensorVal):          # a node that is a plain number
            v = TensorVal(False, tuple(n.symbol.tshape), origin="a constant",
                          number=value_type(w.tree.body, types))
        types[n.name] = v.number or "tensor"
        v.names.append(n.name)
        g.values[n.name] = v
        env[n.name] = n.symbol
    for name in prob.retain_grad:
        v = g.values[name]
        if not v.is_leaf:
            v.retains_grad = True
    return g


class _Walker:
    """Walks one node's AST in Python's evaluation order, recording PyTorch's nodes."""

    def __init__(self, g, owner, text, env):
        self.g, self.owner = g, owner
        self.src = text.strip()
        self.tree = parse_tree(self.src)
        self.shapes = shapes_of(self.tree.body, env)
        self.env, self._seen = env, None

    # --- helpers --------------------------------------------------------------------------
    def text(self, node):
        return ast.get_source_segment(self.src, node) or ast.unparse(node)

    def built(self, node):
        """The SymPy expression built for an AST node (the pieces of a split, the op a call
        became): built on demand, for the few blocks that need more than its shape."""
        if self._seen is None:
            rec = Recorder(self.env)
            try:
                rec.build(self.tree.body)
            except SpecError:
                pass
            self._seen = rec.seen
        return self._seen.get(id(node))

    def shape(self, node, default=()):
        s = self.shapes.get(id(node))
        return tuple(default) if s is None else s

    def record(self, node, name, args, raiser=None, saved=(), chain=None, shape=None,
               contiguous=True, not_implemented=None, diff=None):
        """The result of an op on ``args``: a new node if a differentiable arg requires grad."""
        diff = args if diff is None else diff
        grads = [a for a in diff if isinstance(a, TensorVal) and a.requires_grad]
        shp = self.shape(node) if shape is None else tuple(shape)
        if not grads:
            return TensorVal(False, shp, origin="a tensor that does not require grad", contiguous=contiguous)
        inputs = []
        for a in grads:
            if a not in inputs:
                inputs.append(a)
        n = GradNode(len(self.g.nodes) + 1, name, inputs, raiser, tuple(saved),
                     tuple(chain or (name,)), self.text(node), self.owner, not_implemented, self.src)
        self.g.nodes.append(n)
        return TensorVal(True, shp, grad_fn=n, contiguous=contiguous)

    @staticmethod
    def is_tensor(v):
        return isinstance(v, TensorVal)

    @staticmethod
    def contiguous_elementwise(args, shape):
        return _contig_elementwise(args, shape)

    def describe(self, field_, args, argnodes, result_text):
        k = FIELD_ARG.get(field_)
        if field_ == "result":
            return (field_, "its output, %s" % (self.owner if result_text == self.src else result_text))
        if k is None or k >= len(args):
            return (field_, "")
        a, an = args[k], argnodes[k]
        if isinstance(a, TensorVal):
            return (field_, self.text(an) if an is not None else "")
        return (field_, "the scalar %s" % (self.text(an) if an is not None else a))

    def saved(self, fields, args, argnodes, node):
        return tuple(self.describe(f, args, argnodes, self.text(node)) for f in fields)

    # --- the walk ---------------------------------------------------------------------------
    def value(self, n):
        t = type(n)
        if t is ast.Constant:
            return n.value
        if t is ast.Name:
            if n.id in self.g.values:
                return self.g.values[n.id]
            if n.id in self.g.prob.dims:
                return self.g.prob.dims[n.id][0]
            return n.id                       # pi
        if t is ast.UnaryOp:
            v = self.value(n.operand)
            if not isinstance(v, TensorVal):
                return -v if isinstance(n.op, ast.USub) and isinstance(v, (int, float)) else v
            if isinstance(n.op, ast.UAdd):
                return v                      # +x is x itself
            return self.record(n, "NegBackward0", [v], shape=v.shape, contiguous=v.contiguous)
        if t is ast.BinOp:
            a, b = self.value(n.left), self.value(n.right)
            return self.binop(n, type(n.op), a, b, n.left, n.right)
        if t is ast.Compare:
            sides = (self.value(n.left), self.value(n.comparators[0]))
            if not any(isinstance(x, TensorVal) for x in sides):
                return None                   # two numbers: a Python bool
            return TensorVal(False, self.shape(n), origin="a comparison")
        if t is ast.Attribute:                # .T, .mT, a field of a result (eigh(A).eigenvectors)
            v = self.value(n.value)
            if isinstance(v, tuple):
                fields = getattr(call_parts(n.value)[1], "fields", ()) if isinstance(n.value, ast.Call) else ()
                return v[list(fields).index(n.attr)]
            if not isinstance(v, TensorVal):
                return v
            if n.attr not in ("T", "mT"):     # a field: every output of the call shares its node
                return self.field(n, v)
            st = strides_of(v)
            if n.attr == "mT":
                perm = list(range(len(v.shape) - 2)) + [len(v.shape) - 1, len(v.shape) - 2]
                name = OPERATORS[".mT"].grad_fn
            else:
                perm, name = list(reversed(range(len(v.shape)))), "PermuteBackward0"
            shape = tuple(v.shape[d] for d in perm)
            return view_result(self, n, (name,), v, shape, None if st is None else tuple(st[d] for d in perm))
        if t is ast.Subscript:
            v = self.value(n.value)
            if isinstance(v, tuple):          # a piece of split/chunk (each has its own node)
                return v[int_literal(n.slice)]
            if isinstance(v, TensorVal) and _named_tuple_call(n.value):
                return self.field(n, v)       # eigh(A)[0]: a field by position
            entries, single = index_entries(n.slice)
            index_vals = [self.value(e[1]) for e in entries if e[0] == "tensor"]
            return OPERATORS["[]"].record(self, n, v, entries, index_vals, single)
        if t in (ast.Tuple, ast.List):
            return tuple(self.value(e) for e in n.elts)
        if t is ast.Call:
            return self.call(n)
        raise TypeError("cannot walk %s" % t.__name__)

    def field(self, n, v):
        """A field of a named-tuple result (``eigh(A).eigenvalues`` or ``eigh(A)[0]``): every
        output of the call shares the call's node."""
        return TensorVal(v.requires_grad, self.shape(n), grad_fn=v.grad_fn, origin=v.origin)

    def binop(self, n, op, a, b, an, bn):
        ta, tb = isinstance(a, TensorVal), isinstance(b, TensorVal)
        if not ta and not tb:
            return None
        shp = self.shape(n)
        cont = _contig_elementwise([a, b], shp)
        args, nodes = [a, b], [an, bn]
        if op is ast.Add:
            return self.record(n, "AddBackward0", args, shape=shp, contiguous=cont)
        if op is ast.Sub:
            return self.record(n, "SubBackward0" if ta else "RsubBackward1", args, shape=shp, contiguous=cont)
        if op is ast.Mult:
            if not ta:                        # 2*x is x.__rmul__(2): self is x, other is 2
                args, nodes = [b, a], [bn, an]
            return self.mul_like(n, OPERATORS["*"], args, nodes, shp, cont)
        if op is ast.Div:
            if ta:
                return self.mul_like(n, OPERATORS["/"], args, nodes, shp, cont)
            # 2/x is x.reciprocal() * 2
            fields = cross_saved("MulBackward0", True, False) if b.requires_grad else ()
            return self.record(n, "MulBackward0", [b], "MulBackward0",
                               self.saved(fields, [b, a], [bn, an], n),
                               ("MulBackward0", "ReciprocalBackward0"), shp, cont)
        if op in (ast.Pow, ast.MatMult):          # x**y is pow(x, y), a @ b is matmul(a, b)
            fn = FUNCTIONS[OPERATORS["**" if op is ast.Pow else "@"].function]
            names = [p.name for p in fn.params]
            return fn.record(self, n, fn, dict(zip(names, (a, b))), dict(zip(names, (an, bn))))
        raise TypeError(op)

    def mul_like(self, n, opr, args, nodes, shp, cont):
        rg = [isinstance(x, TensorVal) and x.requires_grad for x in args]
        fields = opr.saved.fields(rg[0], rg[1])
        return self.record(n, opr.grad_fn, args, opr.grad_fn, self.saved(fields, args, nodes, n),
                           shape=shp, contiguous=cont)

    def bind(self, n):
        """(name, {param: value}, {param: ast node}) in the order Python evaluates them."""
        name, spec, args = call_parts(n)
        vals, nodes = {}, {}
        for p, a in zip(spec.params, args):
            vals[p.name], nodes[p.name] = self.value(a), a
        for k in n.keywords:
            vals[k.arg], nodes[k.arg] = self.value(k.value), k.value
        for p in spec.params:
            if p.name not in vals:
                vals[p.name], nodes[p.name] = (None if p.default is REQUIRED else p.default), None
        return name, spec, vals, nodes

    def call(self, n):
        name, spec, vals, nodes = self.bind(n)
        args, argnodes = [], []
        for p in spec.params:
            if p.kind in ("tensor", "index"):
                args.append(vals[p.name])
                argnodes.append(nodes[p.name])
            elif p.kind == "tensors" and isinstance(vals[p.name], tuple):    # cat((a, b)): each one
                args.extend(vals[p.name])
                elts = getattr(nodes[p.name], "elts", None) or [None] * len(vals[p.name])
                argnodes.extend(elts)
        if spec.is_elementwise and not any(isinstance(v, TensorVal) for v in vals.values()):
            return None                       # sqrt(d): a function of numbers is a number
        if not spec.differentiable:
            x = vals.get("input")
            return TensorVal(False, self.shape(n, x.shape if isinstance(x, TensorVal) else ()),
                             origin=("%s (a stop-gradient)" % self.text(n)) if spec.kind == "stop" else "a constant")
        if spec.record is not None:
            return spec.record(self, n, spec, vals, nodes)
        if spec.grad_fn == NOT_IMPLEMENTED:
            return self.record(n, spec.grad_fn, args, chain=(spec.grad_fn,),
                               not_implemented="derivative for aten::%s is not implemented" % name)
        saved = spec.saved
        if isinstance(saved, Cross):
            saved = saved.fields(*[isinstance(a, TensorVal) and a.requires_grad for a in args[:2]])
        shp = self.shape(n)
        cont = _contig_elementwise(args, shp) if spec.is_elementwise else True
        return self.record(n, spec.grad_fn, args, spec.grad_fn if saved else None,
                           self.saved(saved, args, argnodes, n), contiguous=cont)

    def view(self, n, x, default, same):
        """A reshape: a view of a contiguous tensor, an alias of a non-contiguous one whose
        strides allow it (ATen's computeStride), else a copy."""
        if not isinstance(x, TensorVal):
            return x
        if x.contiguous:
            return self.record(n, default, [x])
        st = strides_of(x)
        new = self.shape(n)
        vs = view_strides(x.shape, st, new) if st is not None else None
        if vs is not None or (st is None and same):
            out = self.record(n, "ReshapeAliasBackward0", [x], chain=("ReshapeAliasBackward0",),
                              contiguous=vs is not None and is_contiguous(new, vs))
            out.strides = vs
            return out
        return self.record(n, "UnsafeViewBackward0", [x], chain=("UnsafeViewBackward0", "CloneBackward0"))


def _named_tuple_call(node):
    """Whether ``node`` calls a function that answers with a named tuple (eigh)."""
    return isinstance(node, ast.Call) and bool(getattr(call_parts(node)[1], "fields", ()))


def _contig_elementwise(args, shape):
    """Elementwise results follow the layout of the first operand of the result's shape."""
    for a in args:
        if isinstance(a, TensorVal) and tuple(a.shape) == tuple(shape):
            return a.contiguous
    return True
