"""Code generation: closed forms -> a self-contained Python module over torch (SPEC §7).

The generated module needs only ``torch`` and never calls autograd.  It has

* ``INPUTS``, ``OUTPUTS``, ``WRT``;
* ``forward(*inputs)`` -> ``{output: tensor}``, the spec's nodes evaluated;
* ``gradients(*inputs, grad_<o>=...)`` -> ``{output: {wrt: tensor}}``, the closed forms
  (their text is in the docstrings);
* ``SymgradFunction``, a ``torch.autograd.Function`` whose ``backward`` is the closed forms,
  so a derived gradient drops into a training loop: ``SymgradFunction.apply(*inputs)``.

How the code is made (one `Plan` per derivation):

1. *Forward reuse* (`Prepare`): any subexpression equal to a spec node's definition becomes
   the node's name, a relu mask ``(x @ W.T + b > 0)`` becomes ``(h > 0)`` for the node
   ``h = relu(x @ W.T + b)``, and a sum of transposes ``a.T - b.T`` is kept as ``(a - b).T``.
2. *Common subexpressions* (`Norm`, `Plan`): every subexpression is split into a scalar
   coefficient and a primitive part (``(y - p)/B`` and ``(p - y)`` share ``p - y``), the
   primitive parts that occur more than once are computed once, into temporaries named after
   what they are: ``grad_h`` for the adjoint of a node ``h`` (``derivation.sweeps``),
   ``softmax_z``, ``t0`` ...  Nodes needed by the closed forms are computed once, by name.
3. *Lowering* (`CodePrinter`, over the torch printer): ``torch.addmm`` for ``A @ B + bias``,
   relu-style masks as one fused kernel (``g * (h > 0)`` is what autograd runs for relu's
   backward, ``aten.threshold_backward``), ``torch.full_like`` instead of ``c * ones``,
   and 0/1 masks cast to the working dtype only where PyTorch would not promote them.

`op_count` counts the arithmetic of the generated statements from their shapes, for the
"gradient costs at most 4x the forward pass" target.
"""
import builtins
import keyword
from functools import lru_cache

import sympy
from sympy import S, Add, Mul, Pow
from sympy.printing.precedence import PRECEDENCE

from .ops.base import TensorOp, ElementwiseFn
from .ops.elementwise import (Mask, Gt, Ge, Lt, Le, Relu, LeakyRelu, Where, NATIVE, Sigmoid, Silu,
                               Softplus, Gelu, Log1p, Expm1, Heaviside)
from .ops.linalg import (MatmulOp, TransposeOp, OuterOp, DotOp, TraceOp, InverseOp, DetOp)
from .ops.reduce import SumOp, MeanOp
from .ops.shape import (ReshapeOp, UnsqueezeOp, SqueezeOp, OnesLikeOp, ZerosLikeOp, DetachOp,
                        Constant, EyeOp)
from .printing.torchcode import TorchPrinter
from .tensor import Tensor, shape_of
from .version import __version__

# ops through which a scalar factor moves unchanged: c*f(x) == f(c*x)
LINEAR = (MatmulOp, TransposeOp, SumOp, MeanOp, ReshapeOp, UnsqueezeOp, SqueezeOp, TraceOp,
          OuterOp, DotOp)
VIEWS = (TransposeOp, UnsqueezeOp, SqueezeOp, ReshapeOp, DetachOp)


# --- 1. forward reuse ------------------------------------------------------------------
class Transposed(TransposeOp):
    """A transpose kept outside a sum (TransposeOp pushes itself into sums): ``(a - b).T``
    computes the sum once -- and shares it with other uses of ``a - b``."""

    @classmethod
    def eval(cls, x, d0, d1):
        c, rest = split_coeff(x)
        if c != 1 and rest != 1:
            return c * cls(rest, d0, d1)
        if isinstance(x, TransposeOp) and (x.args[1], x.args[2]) == (d0, d1):
            return x.args[0]
        return None


@lru_cache(maxsize=200000)
def is_coeff(e):
    """True for a scalar with no tensor in it (a number, a dim, ``1/B``, ``sqrt(2)``)."""
    if isinstance(e, (Tensor, TensorOp)):
        return False
    return all(is_coeff(a) for a in e.args)


def split_coeff(e):
    """(scalar coefficient, the rest) of a product."""
    if isinstance(e, Mul):
        c = [a for a in e.args if is_coeff(a)]
        if c:
            return Mul(*c), Mul(*[a for a in e.args if not is_coeff(a)])
    if is_coeff(e):
        return e, S.One
    return S.One, e


def tensor_atoms(e):
    """The Tensor symbols in e (each shared subexpression visited once)."""
    out, seen, stack = set(), set(), [e]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if isinstance(x, Tensor):
            out.add(x)
        else:
            stack.extend(x.args)
    return out


def free_names(e):
    """Names of the free symbols (tensors and dims) in e."""
    out, seen, stack = set(), set(), [e]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if isinstance(x, sympy.Symbol):
            out.add(x.name)
        else:
            stack.extend(x.args)
    return out


def children(e):
    return e.tensors if isinstance(e, TensorOp) else e.args


def rebuild(e, new_children):
    if isinstance(e, TensorOp):
        return e.func(*(list(new_children) + list(e.attrs)))
    return e.func(*new_children)


class Prepare:
    """Rewrites closed forms to reuse the forward pass: node definitions -> node names."""

    def __init__(self, prob):
        self.named = {}
        for n in prob.nodes:
            e = n.expr
            if e.args and not isinstance(e, Tensor) and not is_coeff(e) and e not in self.named:
                self.named[e] = n.symbol
        self.memo = {}
        self.relu = {}                 # prepared pre-activation -> node h = relu(...)
        for n in prob.nodes:
            e = n.expr
            if isinstance(e, Relu) or (isinstance(e, LeakyRelu) and e.args[1].is_nonnegative):
                self.relu.setdefault(self(e.args[0]), n.symbol)
        self.memo = {}

    def __call__(self, e, top=False):
        if not e.args or isinstance(e, Tensor) or is_coeff(e):
            return e
        key = (e, top)
        r = self.memo.get(key)
        if r is not None:
            return r
        if not top and e in self.named:
            r = self.named[e]
        else:
            kids = children(e)
            new = [self(a) for a in kids]
            r = e if all(a is b for a, b in zip(kids, new)) else rebuild(e, new)
            if not top and r in self.named:
                r = self.named[r]
            elif isinstance(r, (Gt, Le)) and r.args[1] == 0 and r.args[0] in self.relu:
                r = type(r)(self.relu[r.args[0]], S.Zero)
            elif isinstance(r, Add):
                r = hoist_transpose(r)
        self.memo[key] = r
        return r


def hoist_transpose(e):
    """c1*a.T + c2*b.T (+ scalars) -> Transposed(c1*a + c2*b)."""
    inner, dims, n = [], None, 0
    for t in e.args:
        c, rest = split_coeff(t)
        if rest == 1:
            inner.append(t)
            continue
        if not isinstance(rest, TransposeOp):
            return e
        d = (rest.args[1], rest.args[2])
        if dims is not None and d != dims:
            return e
        dims = d
        inner.append(c * rest.args[0])
        n += 1
    if n < 2:
        return e
    return Transposed(Add(*inner), *dims)


# --- 2. coefficients and primitive parts ---------------------------------------------------
class Norm:
    """e -> (c, P) with e == c*P: c a scalar coefficient, P the part that carries tensors.

    Two subexpressions with the same P are computed once.  Sums are made primitive and given
    a canonical sign (``y - p`` and ``p - y`` share one P); scalars move out of linear ops.
    """

    def __init__(self):
        self.memo = {}

    def __call__(self, e):
        r = self.memo.get(e)
        if r is None:
            r = self._norm(e)
            self.memo[e] = r
        return r

    def _norm(self, e):
        if is_coeff(e):
            return e, S.One
        if isinstance(e, Tensor):
            return S.One, e
        if isinstance(e, Mul):
            c, ps = S.One, []
            for a in e.args:
                ca, pa = self(a)
                c *= ca
                if pa != 1:
                    ps.append(pa)
            p = Mul(*ps)
            c2, p = split_coeff(p)
            return c * c2, p
        if isinstance(e, Add):
            return self._norm_add(e)
        if isinstance(e, Pow) and e.exp.is_Integer:
            cb, pb = self(e.base)
            if pb != 1:
                return cb ** e.exp, pb ** e.exp
        if isinstance(e, LINEAR):
            parts = [self(a) for a in e.tensors]
            if all(p != 1 for _, p in parts):
                c = Mul(*[c for c, _ in parts])
                p = rebuild(e, [p for _, p in parts])
                c2, p = split_coeff(p)
                return c * c2, p
        return S.One, e

    def _norm_add(self, e):
        terms = [self(a) for a in e.args]
        k = next((c for c, p in terms if p != 1), S.One)
        ratios = [c / k for c, _ in terms]
        if all(r.is_Rational for r in ratios):
            a = Add(*[r * p for r, (_, p) in zip(ratios, terms)])
        else:
            k, a = S.One, e
        if isinstance(a, Add):
            content, a = a.primitive()
            k = k * content
            if a.could_extract_minus_sign():
                a, k = -a, -k
        c2, a = split_coeff(a)
        return k * c2, a


def _transparent(e):
    """The single tensor factor of ``c*x`` (whose primitive part is x's)."""
    if isinstance(e, Mul):
        t = [a for a in e.args if not is_coeff(a)]
        if len(t) == 1:
            return t[0]
    return None


def _worth(p):
    """Whether a primitive part is worth its own statement when it occurs twice."""
    if isinstance(p, Tensor) or is_coeff(p):
        return False
    if isinstance(p, VIEWS + (Transposed,)) and all(isinstance(a, Tensor) for a in p.tensors):
        return False                       # a view of a name costs nothing
    if isinstance(p, Mask) and all(isinstance(a, Tensor) or is_coeff(a) for a in p.args):
        return False                       # (h > 0) is fused into its product (one kernel)
    return True


# --- 3. the plan: statements in order --------------------------------------------------------
class Stmt:
    """One assignment of the generated code: ``name = expr``."""
    __slots__ = ("name", "sym", "expr", "kind", "deps", "code", "result")

    def __init__(self, name, sym, expr, kind, deps, result=None):
        self.name, self.sym, self.expr, self.kind, self.deps = name, sym, expr, kind, deps
        self.code = None
        self.result = result           # (output, wrt) for a gradient


RESERVED = {"torch", "_dt", "_dev", "_g", "ctx", "INPUTS", "OUTPUTS", "WRT", "forward",
            "gradients", "SymgradFunction", "_tensors", "_closed_forms", "_fused_relu_mask",
            "_fused_leaky_mask", "_fused_tanh_grad", "_fused_sigmoid_grad"}


class Plan:
    """The generated code of a derivation, as statements over inputs, nodes and temporaries."""

    def __init__(self, d):
        self.d = d
        prob = self.prob = d.problem
        self.norm = Norm()
        self.prep = Prepare(prob)
        self.inputs = [x.name for x in prob.inputs]
        self.input_syms = {x.name: x.symbol for x in prob.inputs}
        self.dim_names = list(prob.dims)
        self.nodes = {n.name: n for n in prob.nodes}
        self.seeds = []
        for o in prob.outputs:
            g = next((g for g in d.gradients if g.output == o and g.seed), None)
            if g is not None and g.seed not in self.seeds:
                self.seeds.append(g.seed)
        self.used = set(RESERVED) | set(self.inputs) | set(self.nodes) | set(self.dim_names) \
            | set(self.seeds) | set(keyword.kwlist) | set(dir(builtins))
        self.stmts = []
        self.by_name = {}
        self.n_generic = 0
        self._build()

    # names -----------------------------------------------------------------------------
    def fresh(self, base):
        base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in base) or "t"
        if base[0].isdigit():
            base = "t" + base
        name, k = base, 2
        while name in self.used:
            name = "%s_%d" % (base, k)
            k += 1
        self.used.add(name)
        return name

    def _adjoint_names(self):
        """primitive part -> (name, coefficient) for the adjoints of the spec's nodes."""
        out = {}
        multi = len(self.prob.outputs) > 1
        for o, sw in self.d.sweeps.items():
            for sym, adj in sw.adjoints.items():
                if sym.name not in self.nodes or sym.name == o:
                    continue
                try:
                    c, p = self.norm(self.prep(adj))
                except Exception:      # a naming aid only
                    continue
                if p == 1 or isinstance(p, Tensor) or p in out:
                    continue
                out[p] = ("grad_%s_%s" % (sym.name, o) if multi else "grad_%s" % sym.name, c)
        for o, sw in self.d.sweeps.items():     # the adjoint at an activation's input
            for sym, adj in sw.adjoints.items():
                pre = self._pre_activation_adjoint(sym, adj)
                if pre is None:
                    continue
                c, p = pre
                if p != 1 and not isinstance(p, Tensor) and p not in out:
                    out[p] = ("grad_pre_%s_%s" % (sym.name, o) if multi
                              else "grad_pre_%s" % sym.name, c)
        return out

    def _pre_name(self, p):
        """pre_h for the argument u of a node h = f(u) with f elementwise (a pre-activation)."""
        for n in self.prob.nodes:
            f = n.expr
            if ((isinstance(f, ElementwiseFn) and not isinstance(f, (Mask, Where))) or type(f) in NATIVE) \
                    and f.args and not isinstance(f.args[0], Tensor):
                c, q = self.norm(self.prep(f.args[0]))
                if q == p and c == 1:
                    return "pre_%s" % n.name
        return None

    def _pre_activation_adjoint(self, sym, adj):
        """For a node h = f(u) with f elementwise: the adjoint of u, adj(h)*f'(u)."""
        n = self.nodes.get(sym.name)
        if n is None:
            return None
        f = n.expr
        if not ((isinstance(f, ElementwiseFn) and not isinstance(f, (Mask, Where)))
                or type(f) in NATIVE) or len(f.args) < 1 or isinstance(f.args[0], Tensor):
            return None
        try:
            u = f.args[0]
            x = sympy.Dummy(real=True)
            fx = f.func(x, *f.args[1:])
            deriv = fx.diff(x).xreplace({x: u})
            return self.norm(self.prep(adj * deriv))
        except Exception:                      # a naming aid only
            return None

    # building ----------------------------------------------------------------------------
    def _build(self):
        prob, d = self.prob, self.d
        results = [(g, self.prep(g.expr)) for g in d.gradients]
        defs = {n.name: self.prep(n.expr, top=True) for n in prob.nodes}

        # nodes needed by the outputs and by the closed forms (with what they use)
        need = set(prob.outputs)
        for _, e in results:
            need |= {t.name for t in tensor_atoms(e) if t.name in self.nodes}
        stack = list(need)
        while stack:
            n = stack.pop()
            if n not in defs:
                continue
            for t in tensor_atoms(defs[n]):
                if t.name in self.nodes and t.name not in need:
                    need.add(t.name)
                    stack.append(t.name)
        node_order = [n.name for n in prob.nodes if n.name in need]

        # count the uses of every primitive part
        norm = self.norm
        uses, first = {}, {}

        in_forward = set()                # parts the forward pass computes
        seen_fwd = set()

        def visit(e, fwd):
            if isinstance(e, Tensor) or is_coeff(e):
                return
            f = _transparent(e)
            if f is not None:
                visit(f, fwd)
                return
            c, p = norm(e)
            uses.setdefault(p, []).append(c)
            if fwd:
                in_forward.add(p)
            if p in first and (not fwd or p in seen_fwd):
                return
            first.setdefault(p, e)
            if fwd:
                seen_fwd.add(p)
            for a in children(e):
                visit(a, fwd)
        for n in node_order:
            for a in children(defs[n]):
                visit(a, True)
        for _, e in results:
            visit(e, False)

        # what gets a name: the nodes, and primitive parts used more than once
        self.table = {}                   # primitive part -> [kind, source, coefficient, sym]
        for n in node_order:
            c, p = norm(defs[n])
            if p != 1 and not isinstance(p, Tensor) and p not in self.table:
                self.table[p] = ["node", n, c, None]
        adjoints = {p: v for p, v in self._adjoint_names().items() if p not in in_forward}
        for p, cs in uses.items():
            if len(cs) < 2 or p in self.table or not _worth(p):
                continue
            k = adjoints[p][1] if p in adjoints else None     # else: set when defined
            self.table[p] = ["temp", first[p], k, None]
        self.adjoints = adjoints
        self.defs = defs
        self.rewrite_memo = {}
        self.in_progress = set()

        for n in node_order:
            self.define_node(n)
        self.results = []
        for g, e in results:
            expr = self.rewrite(e)
            x = prob.tensors[g.wrt]
            if is_coeff(expr):               # a constant: a tensor of x's shape all the same
                expr = ZerosLikeOp(x) if expr == 0 else expr * OnesLikeOp(x)
            elif shape_of(expr) != x.tshape:
                expr = expr * OnesLikeOp(x)
            name = self.fresh("d%s_d%s" % (g.output, g.wrt))
            deps = self.deps(expr)
            st = Stmt(name, None, expr, "result", deps, (g.output, g.wrt))
            self.stmts.append(st)
            self.results.append(st)
        self.node_order = node_order
        self.finish()

    def deps(self, expr):
        return {t.name for t in tensor_atoms(expr) if t.name in self.by_name}

    def define_node(self, n):
        if n in self.by_name:
            return self.by_name[n].sym
        if n in self.in_progress:
            raise RuntimeError("cyclic node reuse at %s" % n)
        self.in_progress.add(n)
        expr = self.rewrite(self.defs[n], top=True)
        self.in_progress.discard(n)
        sym = self.nodes[n].symbol
        st = Stmt(n, sym, expr, "node", self.deps(expr))
        self.stmts.append(st)
        self.by_name[n] = st
        return sym

    def define_temp(self, p, entry):
        _, e0, k, _ = entry
        if p in self.in_progress:
            raise RuntimeError("cyclic temporary")
        self.in_progress.add(p)
        c0, _ = self.norm(e0)
        body = self.rewrite(e0, top=True)
        self.in_progress.discard(p)
        if p in self.adjoints:                 # exactly the adjoint of a node: grad_h
            base = self.adjoints[p][0]
            expr = (k / c0) * body
        else:                                  # absorb the scale its parts carry already
            cb, q = split_coeff(body)
            if q == 1:
                cb, q = S.One, body
            k, expr = c0 / cb, q
            base = (_describe(p) or self._pre_name(p)) if k == 1 else None
            if base is None:
                base = "t%d" % self.n_generic
                self.n_generic += 1
        entry[2] = k
        name = self.fresh(base)
        sym = Tensor(name, shape_of(p), real=True)
        st = Stmt(name, sym, expr, "temp", self.deps(expr))
        self.stmts.append(st)
        self.by_name[name] = st
        entry[3] = sym
        return sym

    def rewrite(self, e, top=False):
        """e written over the named statements (nodes, temporaries)."""
        if isinstance(e, Tensor) or is_coeff(e):
            return e
        key = (e, top)
        r = self.rewrite_memo.get(key)
        if r is not None:
            return r
        c, p = self.norm(e)
        entry = None if top else self.table.get(p)
        if entry is not None and entry[0] == "node" and entry[1] in self.in_progress:
            entry = None
        if entry is not None and entry[0] == "temp" and p in self.in_progress:
            entry = None
        if entry is not None:
            if entry[0] == "node":
                sym = self.define_node(entry[1])
            else:
                sym = entry[3] if entry[3] is not None else self.define_temp(p, entry)
            r = (c / entry[2]) * sym
        else:
            kids = children(e)
            new = [self.rewrite(a) for a in kids]
            r = e if all(a is b for a, b in zip(kids, new)) else rebuild(e, new)
        self.rewrite_memo[key] = r
        return r

    # after building: dtype fixes and code ------------------------------------------------
    def finish(self):
        bools = set()
        for st in self.stmts:
            is_bool = _is_bool(st.expr, bools)
            keep_bool = st.kind in ("temp", "node") and is_bool
            st.expr = fix_bools(st.expr, bools, top_bool_ok=keep_bool)
            if keep_bool:
                bools.add(st.name)
        # a 0/1 temporary only ever used as a number is made a number once
        for st in self.stmts:
            if st.kind != "temp" or st.name not in bools:
                continue
            cast = AsFloat(st.sym)
            users = [u for u in self.stmts if st.name in u.deps]
            if users and all(not u.expr.xreplace({cast: S.One}).has(st.sym) for u in users):
                st.expr = AsFloat(st.expr)
                bools.discard(st.name)
                for u in users:
                    u.expr = u.expr.xreplace({cast: st.sym})
        self.bools = bools
        printer = CodePrinter(bools)
        for st in self.stmts:
            e = st.expr
            if st.kind == "node" and is_coeff(e):
                st.code = "torch.as_tensor(%s, dtype=_dt, device=_dev)" % printer.doprint(e)
            else:
                st.code = printer.doprint(e)
        # a returned gradient never aliases an input or another returned gradient
        returned = set()
        for st in self.results:
            e = st.expr
            if isinstance(e, Tensor):
                if e.name in self.input_syms or e.name in returned:
                    st.code = "%s.clone()" % st.code
                returned.add(e.name)

    # selections ----------------------------------------------------------------------------
    def closure(self, names):
        """The statements needed for the given statement names, in order."""
        need = set()
        stack = list(names)
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            st = self.by_name.get(n)
            if st is not None:
                stack.extend(st.deps)
        return [st for st in self.stmts if st.name in need and st.kind != "result"]

    def forward_stmts(self):
        return self.closure([o for o in self.prob.outputs if o in self.by_name])

    def node_stmts(self):
        """Everything the autograd Function's forward computes: all needed nodes."""
        return self.closure(self.node_order)

    def gradient_stmts(self):
        deps = set()
        for st in self.results:
            deps |= st.deps
        return self.closure(deps)

    def names_in(self, stmts, extra=()):
        """Inputs and dims the given statements (and extra expressions) mention."""
        syms = set()
        for st in stmts:
            syms |= free_names(st.expr)
        for e in extra:
            syms |= free_names(e)
        return ([x for x in self.inputs if x in syms], [n for n in self.dim_names if n in syms],
                any("_dt" in st.code or "_dev" in st.code for st in stmts))


def _describe(p):
    """A readable name for a primitive part of one named argument, or None."""
    if isinstance(p, Mask):
        return None
    if isinstance(p, (TensorOp, ElementwiseFn)) or type(p) in NATIVE:
        ts = p.tensors if isinstance(p, TensorOp) else p.args
        if ts and all(isinstance(a, Tensor) for a in ts if not is_coeff(a)) and \
                any(isinstance(a, Tensor) for a in ts):
            names = "_".join(a.name for a in ts if isinstance(a, Tensor))
            if isinstance(p, (TransposeOp, Transposed)):
                return "%s_T" % names
            if isinstance(p, InverseOp):
                return "inv_%s" % names
            fname = getattr(p, "spec_name", None) or NATIVE[type(p)].spec_name
            return "%s_%s" % (fname, names)
    if isinstance(p, Pow) and isinstance(p.base, Tensor):
        return {2: "%s_sq", -1: "inv_%s", S.Half: "sqrt_%s", -S.Half: "rsqrt_%s"}.get(
            p.exp, "%s_pow") % p.base.name
    return None


# --- 4. lowering ---------------------------------------------------------------------------
class AsFloat(sympy.Function):
    """A 0/1 mask used as a number: cast to the working dtype."""
    nargs = 1
    is_commutative = True

    def _torchcode(self, p):
        a = self.args[0]
        code = p._print(a)
        return "%s.to(_dt)" % (code if isinstance(a, (Mask, Tensor)) else "(%s)" % code)

    def _sympystr(self, p):
        return p._print(self.args[0])


def _is_bool(e, bools):
    return isinstance(e, Mask) or (isinstance(e, Tensor) and e.name in bools)


def fix_bools(e, bools, top_bool_ok=False):
    """Wrap masks where PyTorch would keep them bool (sums, reductions, matmul, a result)."""
    def fix(e, ctx):
        # ctx: "value" (must be a number tensor), "factor" (a factor of a float product),
        # "cond" (where's condition)
        if _is_bool(e, bools):
            if isinstance(e, Mask):
                e = e.func(*[fix(a, "value") for a in e.args])
            return e if ctx in ("factor", "cond") else AsFloat(e)
        if not e.args or is_coeff(e) or isinstance(e, Tensor):
            return e
        if isinstance(e, Mul):
            floats = [a for a in e.args if not _is_bool(a, bools) and not is_coeff(a)]
            new, first = [], not floats
            for a in e.args:
                if _is_bool(a, bools) and first:
                    new.append(fix(a, "value"))
                    first = False
                else:
                    new.append(fix(a, "factor" if _is_bool(a, bools) else "value"))
            return Mul(*new)
        if isinstance(e, Where):
            c, x, y = e.args
            return Where(fix(c, "cond"), fix(x, "value"), fix(y, "value"))
        kids = children(e)
        new = [fix(a, "value") for a in kids]
        return e if all(a is b for a, b in zip(kids, new)) else rebuild(e, new)
    return fix(e, "cond" if top_bool_ok else "value")


class CodePrinter(TorchPrinter):
    """The torch printer, plus the fusions that make generated code fast."""

    def __init__(self, bools=()):
        super().__init__({"order": "none"})
        self.bools = set(bools)
        self.norm = Norm()

    def _as_ordered_terms(self, expr, order=None):
        """Positive terms first: ``p - y`` (one kernel), not ``-y + p`` (two)."""
        terms = list(expr.args)
        neg = [t.could_extract_minus_sign() for t in terms]
        return [t for t, n in zip(terms, neg) if not n] + [t for t, n in zip(terms, neg) if n]

    def _number(self, e):
        try:
            return super()._number(e)
        except TypeError:                  # relu(2), sigmoid(1/2): functions SymPy cannot evalf
            return repr(_value(e))

    def _print(self, e, **kw):
        if is_coeff(e) and not e.is_Number and not e.free_symbols:
            return self._number(e)
        if isinstance(e, Add):
            consts = [t for t in e.args if is_coeff(t) and not t.free_symbols]
            if len(consts) > 1 or (consts and not consts[0].is_Number):
                # relu(2) + 1/2: one number, computed here
                c = sympy.Float(_value(Add(*consts)), 17)
                rest = [t for t in e.args if not (is_coeff(t) and not t.free_symbols)]
                return self._print(Add(c, *rest, evaluate=False) if c != 0 else Add(*rest))
            r = self._addmm(e)
            if r is None:
                r = self._factor(e)
            if r is not None:
                return r
        elif isinstance(e, Mul):
            r = self._mul(e)
            if r is not None:
                return r
        elif isinstance(e, TransposeOp) and len(shape_of(e)) == 2:
            return "%s.T" % self.parenthesize(e.args[0], PRECEDENCE["Atom"], strict=True)
        elif isinstance(e, Where) and is_coeff(e.args[1]) and is_coeff(e.args[2]):
            return "torch.where(%s, torch.tensor(%s, dtype=_dt, device=_dev), %s)" % (
                self._print(e.args[0]), self._print(e.args[1]), self._print(e.args[2]))
        return super()._print(e, **kw)

    def _factor(self, e):
        """x/4 - y/4 -> (x - y)/4: one scaling instead of one per term."""
        if is_coeff(e):
            return None
        k, a = self.norm._norm_add(e)
        if k == 1 or k == -1 or not isinstance(a, Add) or \
                any(split_coeff(t)[0] not in (1, -1) for t in a.args):
            return None
        if k.could_extract_minus_sign():
            k, a = -k, -a
        return self._print(Mul(k, a, evaluate=False))

    def _addmm(self, e):
        """bias + A @ B (2-D) -> torch.addmm(bias, A, B)."""
        out = shape_of(e)
        if len(out) != 2:
            return None
        for t in e.args:
            c, m = split_coeff(t)
            if not isinstance(m, MatmulOp) or not c.is_Number:
                continue
            a, b = m.args
            if len(shape_of(a)) != 2 or len(shape_of(b)) != 2 or shape_of(m) != out:
                continue
            rest = Add(*[u for u in e.args if u is not t])
            if is_coeff(rest) or _is_bool(rest, self.bools):
                continue
            alpha = "" if c == 1 else ", alpha=%s" % self._print(c)
            return "torch.addmm(%s, %s, %s%s)" % (self._print(rest), self._print(a),
                                                 self._print(b), alpha)
        return None

    def _mul(self, e):
        args = list(e.args)
        ones = next((a for a in args if isinstance(a, OnesLikeOp)), None)
        if ones is not None and shape_of(e) == shape_of(ones.args[0]):
            rest = Mul(*[a for a in args if a is not ones])
            like = self._print(ones.args[0])
            if is_coeff(rest):
                return "torch.full_like(%s, %s)" % (like, self._print(rest))
            return "torch.broadcast_to(%s, %s.shape).contiguous()" % (self._print(rest), like)
        masks = [a for a in args if _is_bool(a, self.bools)]
        others = [a for a in args if not _is_bool(a, self.bools)]
        if masks and not all(is_coeff(a) for a in others):
            code = self._print(Mul(*others))
            for m in masks:
                if isinstance(m, Gt) and is_coeff(m.args[1]) and not is_coeff(m.args[0]) \
                        and not _is_bool(m.args[0], self.bools):
                    code = "_fused_relu_mask(%s, %s, %s)" % (code, self._print(m.args[0]),
                                                              self._print(m.args[1]))
                else:
                    code = "torch.where(%s, %s, 0.0)" % (self._print(m), code)
            return code
        if masks:
            return None
        fused = self._fused(args)
        if fused is not None:
            return fused
        c, rest = split_coeff(e)
        if c == 1 or c == -1 or rest == 1:
            return None
        # one scalar (computed by Python) times the tensor part: one kernel
        x = self.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
        num, den = c.as_numer_denom()
        if num == 1:
            return "%s/%s" % (x, self.parenthesize(den, PRECEDENCE["Mul"], strict=False))
        sign = ""
        if c.could_extract_minus_sign():
            sign, c = "-", -c
        code = self._print(c)
        if not (c.is_number or c.is_Symbol or code.startswith("(")):
            code = "(%s)" % code
        return "%s%s*%s" % (sign, code, x)       # -(1/4)*x: Python negates the scalar

    def _print_Rational(self, e):
        return "-(%d/%d)" % (-e.p, e.q) if e.p < 0 else "(%d/%d)" % (e.p, e.q)

    def _fused(self, args):
        """Autograd's one-kernel backward formulas, recognised in a product g*f'."""
        for k, a in enumerate(args):
            if not isinstance(a, Add) or len(a.args) != 2:
                continue
            rest = args[:k] + args[k + 1:]
            one, other = (a.args if a.args[0] == 1 else a.args[::-1])
            if one == 1:
                # g*(1 - h**2): tanh's backward
                t = -other
                if isinstance(t, Pow) and t.exp == 2 and isinstance(t.base, Tensor) \
                        and not all(is_coeff(r) for r in rest):
                    return "_fused_tanh_grad(%s, %s)" % (self._print(Mul(*rest)), t.base.name)
                # g*s*(1 - s): sigmoid's backward
                if isinstance(t, Tensor) and t in rest:
                    rest2 = list(rest)
                    rest2.remove(t)
                    if not all(is_coeff(r) for r in rest2):
                        return "_fused_sigmoid_grad(%s, %s)" % (self._print(Mul(*rest2)), t.name)
            # g*((x > 0) + c*(x <= 0)): leaky_relu's backward
            leaky = _leaky_slope(a)
            if leaky is not None and not all(is_coeff(r) for r in rest):
                x, slope = leaky
                return "_fused_leaky_mask(%s, %s, %s)" % (self._print(Mul(*rest)), self._print(x),
                                                           self._print(slope))
        return None


def _value(e):
    """The float value of a constant expression, for functions SymPy cannot evaluate."""
    import math
    try:
        return float(e.evalf(17))
    except TypeError:
        pass
    a = [_value(x) for x in e.args]
    if isinstance(e, Add):
        return math.fsum(a)
    if isinstance(e, Mul):
        return math.prod(a)
    if isinstance(e, Pow):
        return a[0] ** a[1]
    sig = lambda x: 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
    fns = {
        sympy.exp: math.exp, sympy.log: math.log, sympy.sin: math.sin, sympy.cos: math.cos,
        sympy.tan: math.tan, sympy.tanh: math.tanh, sympy.Abs: abs, sympy.erf: math.erf,
        sympy.sign: lambda x: float((x > 0) - (x < 0)),
        Sigmoid: sig, Relu: lambda x: max(x, 0.0), Silu: lambda x: x * sig(x),
        LeakyRelu: lambda x, s: x if x > 0 else s * x,
        Softplus: lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))),
        Gelu: lambda x: x * (1 + math.erf(x / math.sqrt(2))) / 2,
        Log1p: math.log1p, Expm1: math.expm1,
        Gt: lambda x, y: float(x > y), Ge: lambda x, y: float(x >= y),
        Lt: lambda x, y: float(x < y), Le: lambda x, y: float(x <= y),
        Heaviside: lambda x, v: 0.0 if x < 0 else (v if x == 0 else 1.0),
        Where: lambda c, x, y: x if c else y,
    }
    f = fns.get(type(e))
    if f is None:
        raise TypeError("cannot evaluate the constant %s" % e)
    return float(f(*a))


def _leaky_slope(a):
    """(x, slope) when a == (x > 0) + slope*(x <= 0), else None."""
    gt = le = None
    slope = None
    for t in a.args:
        c, m = split_coeff(t)
        if isinstance(m, AsFloat):
            m = m.args[0]
        if isinstance(m, Gt) and m.args[1] == 0 and c == 1:
            gt = m.args[0]
        elif isinstance(m, Le) and m.args[1] == 0 and c.is_Number:
            le, slope = m.args[0], c
    if gt is not None and gt == le and not is_coeff(gt):
        return gt, slope
    return None


# --- 5. the module -------------------------------------------------------------------------
# helpers the generated module defines when it uses them: autograd's own fused kernels
FUSED = [
    ("_fused_relu_mask", "g * (x > threshold), in one kernel (autograd's relu backward).",
     ("g, x, threshold", "torch.ops.aten.threshold_backward(g, x, threshold)")),
    ("_fused_leaky_mask", "g * ((x > 0) + slope * (x <= 0)), in one kernel (leaky_relu's backward).",
     ("g, x, slope", "torch.ops.aten.leaky_relu_backward(g, x, slope, False)")),
    ("_fused_tanh_grad", "g * (1 - h**2), in one kernel (autograd's tanh backward).",
     ("g, h", "torch.ops.aten.tanh_backward(g, h)")),
    ("_fused_sigmoid_grad", "g * s * (1 - s), in one kernel (autograd's sigmoid backward).",
     ("g, s", "torch.ops.aten.sigmoid_backward(g, s)")),
]


def _dim_lookup(prob):
    """dim name -> python expression reading it off an input's shape (or its declared value)."""
    out = {}
    for name, (sym, val) in prob.dims.items():
        src = None
        for d in prob.inputs:
            for k, s in enumerate(d.shape):
                if s == sym and src is None:
                    src = "%s.shape[%d]" % (d.name, k)
        out[name] = src if src is not None else repr(val)
    return out


def _tuple(names):
    return "(%s)" % (names[0] + ",") if len(names) == 1 else "(%s)" % ", ".join(names)


def _prologue(args, dims, lookup, need_dt, indent="    ", detach=False):
    """Inputs as tensors of one floating dtype; a fast path when they already are.

    With ``detach``, inputs that require grad are detached first, so that no autograd
    graph is recorded (gradients() is plain tensor arithmetic).
    """
    out = []
    if args:
        a0 = args[0]
        checks = ["_dt.is_floating_point"] + ["%s.dtype is _dt" % a for a in args[1:]]
        if detach:
            checks += ["not %s.requires_grad" % a for a in args]
        cond, line = [], "    if not ("
        for k, c in enumerate(checks):
            piece = c if k == 0 else " and " + c
            if len(indent) + len(line) + len(piece) > 92:
                cond.append(line)
                line, piece = "            ", c if k == 0 else "and " + c
            line += piece
        cond.append(line + "):")
        out += ["try:",
                "    _dt = %s.dtype" % a0] + cond + [
                "        raise TypeError",
                "except (AttributeError, TypeError):",
                "    %s = _tensors(%s%s)" % (", ".join(args) + ("," if len(args) == 1 else ""),
                                             ", ".join(args), ", detach=True" if detach else ""),
                "    _dt = %s.dtype" % a0]
        if need_dt:
            out.append("_dev = %s.device" % a0)
    elif need_dt:
        out += ["_dt, _dev = torch.get_default_dtype(), None"]
    for n in dims:
        out.append("%s = %s" % (n, lookup[n]))
    return [indent + line for line in out]


def _doc_forms(d):
    """The closed forms' text, one line each."""
    return ["d%s/d%s = %s%s" % (g.output, g.wrt, g.text,
                                "   (upstream gradient %s)" % g.seed if g.seed else "")
            for g in d.gradients]


def module_source(d, plan=None):
    """The text of the compiled module for a Derivation."""
    plan = plan or Plan(d)
    prob = d.problem
    args = plan.inputs
    lookup = _dim_lookup(prob)
    title = d.title
    L = ['"""%s -- closed-form gradients generated by symgrad %s.' % (title, __version__), ""]
    forms = ["    " + t for t in _doc_forms(d)]
    L += forms
    L += ["",
          "Needs only torch; gradients() never calls autograd.  Usage:",
          "",
          "    forward(%s)    -> {output: tensor}" % ", ".join(args),
          "    gradients(%s%s) -> {output: {input: tensor}}" % (
              ", ".join(args), "".join(", %s=..." % s for s in plan.seeds)),
          "    SymgradFunction.apply(%s) -> %s   # autograd.Function, backward = closed forms" % (
              ", ".join(args), ", ".join(prob.outputs)),
          '"""',
          "import torch", "",
          "INPUTS = %r" % (tuple(args),),
          "OUTPUTS = %r" % (tuple(prob.outputs),),
          "WRT = %r" % (tuple(prob.wrt),), "", ""]
    L += ["def _tensors(*values, detach=False):",
          '    """Inputs as tensors of one floating dtype, on the device of the first tensor."""',
          "    ref = next((v for v in values if isinstance(v, torch.Tensor)), None)",
          "    dt = ref.dtype if ref is not None and ref.is_floating_point() else torch.get_default_dtype()",
          "    dev = ref.device if ref is not None else None",
          "    if detach:",
          "        values = [v.detach() if isinstance(v, torch.Tensor) else v for v in values]",
          "    return [torch.as_tensor(v, dtype=dt, device=dev) for v in values]",
          "", ""]
    for name, doc, body in FUSED:
        if any(name + "(" in st.code for st in plan.stmts):
            L += ["def %s(%s):" % (name, body[0]),
                  '    """%s"""' % doc,
                  "    return %s" % body[1], "", ""]

    # forward()
    fwd = plan.forward_stmts()
    outs_exprs = [prob.input(o).symbol for o in prob.outputs if o not in plan.by_name
                  and o in plan.input_syms]
    _, fdims, fdt = plan.names_in(fwd, outs_exprs)
    L.append("def forward(%s):" % ", ".join(args))
    L.append('    """The spec\'s nodes, evaluated; returns {output: tensor}."""')
    L += _prologue(args, fdims, lookup, fdt)
    for st in fwd:
        L.append("    %s = %s" % (st.name, st.code))
    L.append("    return {%s}" % ", ".join("%r: %s" % (o, o) for o in prob.outputs))
    L += ["", ""]

    # gradients() = the forward part it needs + _closed_forms()
    grad_stmts = plan.gradient_stmts()
    fwd_names = {st.name for st in plan.node_stmts()}
    head = [st for st in grad_stmts if st.name in fwd_names]
    tail = [st for st in grad_stmts if st.name not in fwd_names]
    bwd_refs = set()
    for st in tail + plan.results:
        bwd_refs |= free_names(st.expr)
    iface = [x for x in args if x in bwd_refs] + [st.name for st in head if st.name in bwd_refs]
    bdims = [n for n in prob.dims if n in bwd_refs]
    bdt = any("_dt" in st.code or "_dev" in st.code for st in tail + plan.results)
    sig = args + ["%s=None" % s for s in plan.seeds]
    L.append("def gradients(%s):" % ", ".join(sig))
    L.append('    """Closed-form gradients; returns {output: {input: tensor}}.')
    L.append("")
    L += forms
    L.append('    """')
    _, hdims, hdt = plan.names_in(head)
    hdims = [n for n in prob.dims if n in set(hdims) | set(bdims)]
    L += _prologue(args, hdims, lookup, hdt or bdt, detach=True)
    for s in plan.seeds:
        L.append("    if %s is None:" % s)
        L.append("        raise TypeError(%r)" % ("gradients() needs %s, the upstream gradient of %s"
                                                   % (s, s[len("grad_"):])))
    for st in head:
        L.append("    %s = %s" % (st.name, st.code))
    dt_args = ["_dt", "_dev"] if bdt else []
    call_args = iface + bdims + dt_args + ["%s=%s" % (s, s) for s in plan.seeds]
    L.append("    return _closed_forms(%s)" % ", ".join(call_args))
    L += ["", ""]

    L.append("def _closed_forms(%s):" % ", ".join(iface + bdims + dt_args +
                                                  ["%s=None" % s for s in plan.seeds]))
    L.append('    """The closed forms, given the inputs and forward values they reuse."""')
    for st in tail + plan.results:
        L.append("    %s = %s" % (st.name, st.code))
    body = []
    for o in prob.outputs:
        items = ", ".join("%r: %s" % (st.result[1], st.name) for st in plan.results
                          if st.result[0] == o)
        body.append("%r: {%s}" % (o, items))
    one = "    return {%s}" % ", ".join(body)
    if len(one) <= 99:
        L.append(one)
    else:
        L.append("    return {")
        for o in prob.outputs:
            L.append("        %r: {" % o)
            for st in plan.results:
                if st.result[0] == o:
                    L.append("            %r: %s," % (st.result[1], st.name))
            L.append("        },")
        L.append("    }")
    L += ["", ""]

    L += _function_source(d, plan, args, lookup, iface, bdims, dt_args)
    return "\n".join(L) + "\n"


def _function_source(d, plan, args, lookup, iface, bdims, dt_args):
    """class SymgradFunction(torch.autograd.Function): forward = nodes, backward = closed forms."""
    prob = d.problem
    node_st = plan.node_stmts()
    _, ndims, ndt = plan.names_in(node_st)
    ndims = [n for n in prob.dims if n in set(ndims) | set(bdims)]
    outs = list(prob.outputs)
    L = ["class SymgradFunction(torch.autograd.Function):",
         '    """The spec as one autograd op whose backward is the closed forms (not autograd):',
         "",
         "        %s = SymgradFunction.apply(%s)" % (", ".join(outs), ", ".join(args)),
         "",
         "    For a scalar output o the closed form d o/dx is scaled by the incoming gradient;",
         "    for a non-scalar one the incoming gradient is grad_o.",
         '    """',
         "",
         "    @staticmethod",
         "    def forward(ctx, %s):" % ", ".join(args)]
    L += _prologue(args, ndims, lookup, ndt or bool(dt_args), indent="        ")
    for st in node_st:
        L.append("        %s = %s" % (st.name, st.code))
    if iface:
        L.append("        ctx.save_for_backward(%s)" % ", ".join(iface))
    if bdims:
        L.append("        ctx.dims = (%s)" % (", ".join(bdims) + ("," if len(bdims) == 1 else "")))
    if dt_args:
        L.append("        ctx.dt = (_dt, _dev)")
    nondiff = [o for o in outs if not d.graph.requires_grad.get(o, False)]
    if nondiff:
        L.append("        ctx.mark_non_differentiable(%s)" % ", ".join(nondiff))
    L.append("        return %s" % ", ".join(outs))
    L.append("")
    L.append("    @staticmethod")
    gnames = ["grad_%s" % o for o in outs]
    L.append("    def backward(ctx, %s):" % ", ".join(gnames))
    if iface:
        L.append("        %s = ctx.saved_tensors" % (", ".join(iface) + ("," if len(iface) == 1 else "")))
    if bdims:
        L.append("        %s = ctx.dims" % (", ".join(bdims) + ("," if len(bdims) == 1 else "")))
    if dt_args:
        L.append("        _dt, _dev = ctx.dt")
    call = iface + bdims + dt_args + ["%s=%s" % (s, s) for s in plan.seeds]
    L.append("        _g = _closed_forms(%s)" % ", ".join(call))
    ret = []
    for x in args:
        terms = []
        if x in prob.wrt:
            for o in outs:
                gr = d.gradient(o, x)
                if not gr.connected or gr.expr == 0 or isinstance(gr.expr, ZerosLikeOp):
                    continue
                if gr.seed:
                    terms.append("_g[%r][%r]" % (o, x))
                else:
                    shape = prob.tensors[o].tshape
                    scale = "grad_%s" % o if len(shape) == 0 else "grad_%s.reshape(())" % o
                    terms.append("_g[%r][%r] * %s" % (o, x, scale))
        ret.append(" + ".join(terms) if terms else "None")
    for k, x in enumerate(args):
        if x not in prob.wrt:
            L.append("        if ctx.needs_input_grad[%d]:" % k)
            L.append("            raise RuntimeError(%r)" % (
                "symgrad derived no gradient for input '%s': it is not in WRT" % x))
    one = "        return %s" % (", ".join(ret) + ("," if len(ret) == 1 else ""))
    if len(one) <= 99:
        L.append(one)
    else:
        L.append("        return (")
        for x, r in zip(args, ret):
            L.append("            %s,%s" % (r, "" if r != "None" else "  # %s" % x))
        L.append("        )")
    return L


def load_module(source, name="symgrad_compiled"):
    """Execute generated source (ours, never user text) into a fresh module."""
    import types
    mod = types.ModuleType(name)
    mod.__file__ = "<symgrad %s>" % name
    code = compile(source, mod.__file__, "exec")
    exec(code, mod.__dict__)
    return mod


def compile_module(d):
    """The generated module, loaded in-process (it has .source)."""
    src = module_source(d)
    mod = load_module(src)
    mod.source = src
    return mod


def compile_gradients(d):
    """An in-process callable with the contract of the module's gradients()."""
    mod = compile_module(d)
    fn = mod.gradients
    fn.module = mod
    fn.forward = mod.forward
    fn.Function = mod.SymgradFunction
    return fn


# --- 6. arithmetic count -------------------------------------------------------------------
CUBIC = (InverseOp, DetOp)


def _flops(e, size):
    """Arithmetic of one expression (each name is free): matmul 2mnk, other ops one per element."""
    if isinstance(e, Tensor) or is_coeff(e) or not e.args:
        return 0
    kids = children(e)
    own = 0
    if isinstance(e, MatmulOp):
        a = shape_of(e.args[0])
        own = 2 * size(shape_of(e)) * size(a[-1:])
    elif isinstance(e, DotOp):
        own = 2 * size(shape_of(e.args[0]))
    elif isinstance(e, CUBIC):
        n = size(shape_of(e.args[0])[-1:])
        own = n ** 3
    elif isinstance(e, VIEWS + (Transposed, Constant, EyeOp, OnesLikeOp, ZerosLikeOp, AsFloat)):
        own = 0
    elif isinstance(e, (Add, Mul)):
        if isinstance(e, Mul) and any(isinstance(a, OnesLikeOp) for a in e.args):
            own = size(shape_of(e))          # full_like / broadcast copy
        else:
            n = sum(1 for a in e.args if not is_coeff(a)) + (1 if any(is_coeff(a) for a in e.args) else 0)
            own = max(n - 1, 0) * size(shape_of(e))
    else:                                 # elementwise, reductions, softmax ...
        own = max([size(shape_of(e))] + [size(shape_of(a)) for a in kids])
    return own + sum(_flops(a, size) for a in kids)


def op_count(d, dims=None, plan=None):
    """Arithmetic of the generated forward() and gradients(), counted from their statements.

    Returns {"forward": flops, "gradients": flops, "ratio": gradients/forward,
    "statements": [(name, flops), ...] of gradients()}.  Matmuls count 2mnk, every other
    computing op one per element of its largest operand, views and factories nothing.
    """
    plan = plan or Plan(d)
    vals = {}
    for name, (sym, v) in d.problem.dims.items():
        v = (dims or {}).get(name, v)
        if v is None:
            raise ValueError("dim %s has no value: pass dims={%r: N}" % (name, name))
        vals[sym] = int(v)

    def size(shape):
        n = 1
        for s in shape:
            n *= int(s.subs(vals)) if not s.is_Integer else int(s)
        return n
    fwd = sum(_flops(st.expr, size) for st in plan.forward_stmts())
    rows = [(st.name, _flops(st.expr, size)) for st in plan.gradient_stmts() + plan.results]
    grad = sum(f for _, f in rows)
    return {"forward": fwd, "gradients": grad, "ratio": grad / fwd if fwd else float("inf"),
            "statements": rows}
