"""The plan of a compiled module: which statements compute the closed forms, in order.

The forward nodes the closed forms need, the derivation's named adjoints under their own
names, shared subexpressions computed once with readable names, then the gradients; each
statement's torch code comes from ``symgrad.codegen.lower``.  The forms it works on
(forward reuse, coefficients) are ``symgrad.codegen.forms``'; see ``symgrad.codegen.module``
for the whole picture.
"""
import builtins
import keyword

import sympy
from sympy import S, Pow, Tuple

from ..ops.base import TensorOp, ElementwiseFn
from ..ops.elementwise import Mask, NATIVE
from ..ops.kinds import value_dtype
from ..ops.linalg import TransposeOp, InverseOp
from ..ops.shape import OnesLikeOp, ZerosLikeOp, OnesOp, ZerosOp
from ..tensor import Tensor, shape_of
from .forms import (VIEWS, Transposed, CoeffSplit, Prepare, children, free_names, is_coeff, rebuild, split_coeff,
                    tensor_atoms, transparent)
from .lower import _is_bool, fix_bools, AsFloat, CodePrinter, nesting


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


# The names the generated module uses itself: its globals, the locals it binds, the builtins
# it calls, and what the torch printers write (torch, _dt, _dev).  A spec name among them is
# renamed in the generated code (`Plan.py`), so a spec may call a tensor `torch` or `ctx`
# (tests/test_compile.py checks this set against the names generated modules really use).
MODULE_NAMES = {"torch", "math", "_dt", "_dev", "_g", "ctx", "INPUTS", "OUTPUTS", "WRT", "forward",
                "gradients", "SymgradFunction", "_tensors", "_closed_forms", "_fused_relu_mask",
                "_fused_leaky_mask", "_fused_tanh_grad", "_fused_sigmoid_grad", "_ints",
                "isinstance", "next", "staticmethod", "TypeError", "AttributeError", "RuntimeError",
                "float"}          # float(torch.digamma(...)): a function of dims is a Python number


class Plan:
    """The generated code of a derivation, as statements over inputs, nodes and temporaries."""

    def __init__(self, d):
        self.d = d
        prob = self.prob = d.problem
        self.split = CoeffSplit()
        self.prep = Prepare(prob)
        self.inputs = [x.name for x in prob.inputs]
        self.input_syms = {x.name: x.symbol for x in prob.inputs}
        self.dim_names = list(prob.dims)
        self.nodes = {n.name: n for n in prob.nodes}
        self.upstreams = []
        for o in prob.outputs:
            g = next((g for g in d.gradients if g.output == o and g.upstream), None)
            if g is not None and g.upstream not in self.upstreams:
                self.upstreams.append(g.upstream)
        self.used = set(MODULE_NAMES) | set(self.inputs) | set(self.nodes) | set(self.dim_names) \
            | set(self.upstreams) | set(keyword.kwlist) | set(dir(builtins))
        # spec name -> its name in the generated code (itself, unless the module uses it)
        self.py = {n: self.fresh(n + "_") if n in MODULE_NAMES else n
                   for n in self.inputs + list(self.nodes) + self.dim_names}
        self.stmts = []
        self.by_name = {}
        self.n_generic = 0
        self._build()

    # names -----------------------------------------------------------------------------
    def name(self, n):
        """The name of a spec tensor, dim or temporary in the generated code."""
        return self.py.get(n, n)

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

    # building ----------------------------------------------------------------------------
    def _build(self):
        prob = self.prob
        adjoints, rename = self._adjoints()
        results = [(t, self.prep(t[2].xreplace(rename[t[1]]) if rename.get(t[1]) else t[2]))
                   for t in self.targets()]
        defs = {n.name: Prepare(prob, upto=k)(n.expr, top=True) for k, n in enumerate(prob.nodes)}

        # nodes needed by the outputs and by the closed forms (with what they use)
        need = set(prob.outputs)
        for e in [e for _, e in results] + [e for _, e in adjoints]:
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
        split = self.split
        uses, first = {}, {}

        seen_fwd = set()                  # parts the forward pass computes

        def visit(e, fwd):
            if isinstance(e, Tensor) or is_coeff(e):
                return
            f = transparent(e)
            if f is not None:
                visit(f, fwd)
                return
            c, p = split(e)
            uses.setdefault(p, []).append(c)
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
        for _, e in adjoints:
            visit(e, False)
        for _, e in results:
            visit(e, False)

        # what gets a name: the nodes, and primitive parts used more than once
        self.table = {}                   # primitive part -> [kind, source, coefficient, sym]
        for n in node_order:
            c, p = split(defs[n])
            if p != 1 and not isinstance(p, Tensor) and p not in self.table:
                self.table[p] = ["node", n, c, None]
        for p, cs in uses.items():
            # shared parts get a name (the derivation's named adjoints have theirs already)
            if len(cs) < 2 or p in self.table or not _worth(p):
                continue
            self.table[p] = ["temp", first[p], None, None]      # coefficient: set when defined
        self.defs = defs
        self.rewrite_memo = {}
        self.in_progress = set()

        for n in node_order:
            self.define_node(n)
        for sym, e in adjoints:             # the derivation's named adjoints, in order
            expr = self.rewrite(e, top=True)
            st = Stmt(sym.name, sym, expr, "temp", self.deps(expr))
            self.stmts.append(st)
            self.by_name[sym.name] = st
        self.results = []
        for (key, _, _, like, base), e in results:
            expr = filled(self.rewrite(e), like)
            name = self.fresh(base)
            deps = self.deps(expr)
            st = Stmt(name, None, expr, "result", deps, key)
            self.stmts.append(st)
            self.results.append(st)
        self.node_order = node_order
        self.finish()

    def targets(self):
        """What the plan computes: (key, owner of its adjoints' names, closed form, a tensor of
        its shape or the shape, base of its name) for each result -- here the gradients."""
        return [((g.output, g.wrt), g.output, g.form, self.prob.tensors[g.wrt], "d%s_d%s" % (g.output, g.wrt))
                for g in self.d.gradients]

    def _adjoints(self):
        """The derivation's named adjoints as [(symbol, prepared value)] in order, and per
        output the renaming of those whose name another output's adjoint took first."""
        out, rename = [], {}
        for o in self.prob.outputs:
            rename[o] = {}
            for a in self.d.named[o].defs:
                sym = a.symbol
                name = self.fresh(sym.name)
                if name != sym.name:
                    rename[o][sym] = Tensor(name, sym.tshape, real=True)
                value = a.value.xreplace(rename[o]) if rename[o] else a.value
                out.append((rename[o].get(sym, sym), self.prep(value)))
        return out, rename

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
        c0, _ = self.split(e0)
        body = self.rewrite(e0, top=True)
        self.in_progress.discard(p)
        cb, q = split_coeff(body)              # absorb the scale its parts carry already
        if q == 1:
            cb, q = S.One, body
        k, expr = c0 / cb, q
        base = _describe(p) if k == 1 else None
        if base is None:
            base = "t%d" % self.n_generic
            self.n_generic += 1
        entry[2] = k
        name = self.fresh(base)
        sym = Tensor(name, shape_of(p), real=True, dtype="long" if value_dtype(expr) == "long" else "float")
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
        c, p = self.split(e)
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
            st.expr = fix_bools(st.expr, bools, top_bool_ok=keep_bool, top_long_ok=st.kind != "result")
            if keep_bool:
                bools.add(st.name)
        # a 0/1 temporary only ever used as a number is made a number once
        for st in self.stmts:
            if st.kind != "temp" or st.name not in bools:
                continue
            cast = AsFloat(st.sym)
            users = [u for u in self.stmts if st.name in u.deps]
            probe = Tensor("_probe", shape_of(st.sym))     # (1 would break a matmul's shape)
            if users and all(not u.expr.xreplace({cast: probe}).has(st.sym) for u in users):
                st.expr = AsFloat(st.expr)
                bools.discard(st.name)
                for u in users:
                    u.expr = u.expr.xreplace({cast: st.sym})
        self.bools = bools
        renamed = {n: p for n, p in self.py.items() if n != p}
        dims = {self.prob.dims[n][0]: sympy.Symbol(renamed[n], integer=True, positive=True)
                for n in self.dim_names if n in renamed}
        printer = CodePrinter(bools, renamed=renamed, dims=dims)
        for st in self.stmts:
            e = st.expr
            if st.kind == "node" and is_coeff(e):
                st.code = "torch.as_tensor(%s, dtype=_dt, device=_dev)" % printer.doprint(e)
            else:
                st.code = printer.doprint(e)
                if nesting(st.code) > 150:    # nested fused calls of a deep chain: a flat product
                    st.code = CodePrinter(bools, fuse=False, renamed=renamed, dims=dims).doprint(e)
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


def filled(expr, like):
    """A result of exactly the shape of ``like`` (a tensor, or a shape): a constant, or a form
    that broadcasts to it, made full."""
    shape = like.tshape if isinstance(like, Tensor) else tuple(like)
    if is_coeff(expr):               # a constant: a tensor of that shape all the same
        if isinstance(like, Tensor):
            return ZerosLikeOp(like) if expr == 0 else expr * OnesLikeOp(like)
        return ZerosOp(Tuple(*shape)) if expr == 0 else expr * OnesOp(Tuple(*shape))
    if shape_of(expr) != shape:
        return expr * (OnesLikeOp(like) if isinstance(like, Tensor) else OnesOp(Tuple(*shape)))
    return expr


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
