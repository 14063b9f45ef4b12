"""Code generation for second order (SPEC section 11): ``hessians()`` and ``hvps()``.

Both are plain tensor arithmetic over the closed forms of ``symgrad.hessian`` -- neither
calls autograd nor ``torch.func``.  Each is one `Plan` (``symgrad.codegen.plan``) whose
results are the Hessians (shape ``x.shape + y.shape``) or the Hessian-vector products
(``y``'s shape): the forward nodes they reuse, the first sweep's named adjoints under their
names, the HVP's own (``v_z``, ``hvp_h``), shared subexpressions once, fused kernels as
for gradients.

    hessians(*inputs)             -> {f: {x: {y: tensor}}}
    hvps(*inputs, v_x=..., ...)   -> {f: {x: {y: tensor}}}, for each direction v_x given
"""
from ..printing import to_text
from ..tensor import Tensor
from .plan import Plan
from .source import doc_safe, prologue


class SecondPlan(Plan):
    """The statements of ``hessians()`` (``kind="hessian"``) or ``hvps()`` (``"hvp"``)."""

    def __init__(self, d, kind):
        self.kind = kind
        super().__init__(d)

    def targets(self):
        t = self.d.problem.tensors
        out = []
        for h in self.d.hessians:
            key = (h.output,) + h.wrt
            if (h.expr if self.kind == "hessian" else h.hvp_expr) is None:
                continue                     # no closed form (h.error says why): not in the result
            if self.kind == "hessian":
                shape = t[h.wrt[0]].tshape + t[h.wrt[1]].tshape
                out.append((key, key, h.expr, shape, "d2%s_d%s_d%s" % key))
            else:
                out.append((key, key, h.hvp_expr, t[h.wrt[1]], "hvp_%s_%s_%s" % key))
        return out

    def _adjoints(self):
        """The first sweep's named adjoints of each output (renamed where another output's
        took the name), then each HVP's own, which may use them."""
        out, rename, seen = [], {}, {}

        def add(owner, defs, base):
            ren = dict(base)
            for a in defs:
                sym = a.symbol
                value = self.prep(a.value.xreplace(ren) if ren else a.value)
                if value in seen:               # the same tangent of another [f, x, y]: computed once
                    ren[sym] = seen[value]
                    continue
                name = self.fresh(sym.name)
                if name != sym.name:
                    ren[sym] = Tensor(name, sym.tshape, real=True)
                seen[value] = ren.get(sym, sym)
                out.append((seen[value], value))
            rename[owner] = ren
        for f in dict.fromkeys(h.output for h in self.d.hessians):
            add(f, self.d.named[f].defs, {})
        for h in self.d.hessians:
            own = h.second.names.defs if self.kind == "hvp" else ()
            add((h.output,) + h.wrt, own, rename[h.output])
        return out, rename


def directions(d):
    """The direction argument of each x, in order: {x: name}."""
    out = {}
    for h in d.hessians:
        if h.hvp_expr is not None:
            out.setdefault(h.wrt[0], h.direction)
    return out


def second_source(d, names, args, lookup, py, ints=None):
    """(lines of hessians() and hvps(), the statements they run) for a Derivation with
    Hessians; ``names`` are the inputs' spec names, ``args`` their names in the code."""
    if not d.hessians:
        return [], []
    L = ["HESSIANS = %r" % (tuple((h.output,) + h.wrt for h in d.hessians),), "", ""]
    stmts = []
    dirs = directions(d)
    for kind, fname in (("hessian", "hessians"), ("hvp", "hvps")):
        plan = SecondPlan(d, kind)
        stmts += plan.stmts
        body = plan.gradient_stmts() + plan.results
        _, dims, dt = plan.names_in(body)
        extra = list(dirs.values()) if kind == "hvp" else []
        sig = ["%s=None" % v for v in extra]
        doc = ["    %s" % doc_safe(line) for line in _doc_lines(d, kind)]
        what = ("Closed-form Hessians; returns {output: {x: {y: tensor}}} (shape x.shape + y.shape)."
                if kind == "hessian" else
                "Closed-form Hessian-vector products; returns {output: {x: {y: tensor}}} (y's shape).")
        impl = fname
        if args != names:             # an input renamed in the code: the public function keeps its name
            impl = plan.fresh("_" + fname)
            L += ["def %s(%s):" % (fname, ", ".join(names + sig)), '    """%s"""' % what,
                  "    return %s(%s)" % (impl, ", ".join(names + ["%s=%s" % (v, v) for v in extra])), "", ""]
        L.append("def %s(%s):" % (impl, ", ".join(args + sig)))
        L += ['    """%s' % what, ""] + doc + ['    """']
        L += prologue(args, dims, lookup, dt or bool(extra), py, detach=True, ints=ints)
        if kind == "hessian":
            L += ["    %s = %s" % (py(st.name), st.code) for st in body]
            L += _returned(plan.results) + ["", ""]
            continue
        if not extra:
            L += ["    return {}", "", ""]
            continue
        L += ["    if %s:" % " and ".join("%s is None" % v for v in extra),
              "        raise TypeError(%r)" % ("hvps() needs a direction: %s" % ", ".join(
                  "%s (of %s's shape)" % (v, x) for x, v in dirs.items()))]
        L += _by_direction(plan, dirs, py)
        L += ["", ""]
    return L, stmts


def _by_direction(plan, dirs, py):
    """hvps()'s body: what every direction needs, then for each direction given
    (``if v_x is not None:``) what only its products need, and the products."""
    groups = {x: [st for st in plan.results if st.result[1] == x] for x in dirs}
    need = {x: {st.name for st in plan.closure({n for st in rs for n in st.deps})} for x, rs in groups.items()}
    shared = {n for x in need for n in need[x] if sum(n in need[z] for z in need) > 1}
    out = ["    %s = %s" % (py(st.name), st.code) for st in plan.stmts if st.name in shared]
    out.append("    _out = {}")
    for x, v in dirs.items():
        out += ["    if %s is not None:" % v,
                "        %s = torch.as_tensor(%s, dtype=_dt, device=_dev).detach()" % (v, v)]
        out += ["        %s = %s" % (py(st.name), st.code) for st in plan.stmts
                if st.name in need[x] - shared and st.kind != "result"]
        for st in groups[x]:
            f, _, y = st.result
            out += ["        %s = %s" % (py(st.name), st.code),
                    "        _out.setdefault(%r, {}).setdefault(%r, {})[%r] = %s" % (f, x, y, py(st.name))]
    return out + ["    return _out"]


def _returned(results):
    """return {f: {x: {y: result}}}, one line per output."""
    by = {}
    for st in results:
        f, x, y = st.result
        by.setdefault(f, {}).setdefault(x, []).append("%r: %s" % (y, st.name))
    items = ["%r: {%s}" % (f, ", ".join("%r: {%s}" % (x, ", ".join(ys)) for x, ys in xs.items()))
             for f, xs in by.items()]
    one = "    return {%s}" % ", ".join(items)
    if len(one) <= 99:
        return [one]
    return ["    return {"] + ["        %s," % it for it in items] + ["    }"]


def _doc_lines(d, kind):
    out = []
    for h in d.hessians:
        f, x, y = (h.output,) + h.wrt
        if kind == "hessian":
            out.append("d2%s/d%s d%s = %s" % (f, x, y, h.text if h.text is not None else "(%s)" % h.error))
        elif h.hvp_expr is None:
            out.append("d/d%s (d%s/d%s . %s): (%s)" % (y, f, x, h.direction, h.error))
        else:
            out += ["%s = %s" % (name, to_text(value)) for name, _, value in h.adjoints()]
            out.append("d/d%s (d%s/d%s . %s) = %s" % (y, f, x, h.direction, h.hvp_text))
    return out
