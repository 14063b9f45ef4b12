"""The reverse sweep as the notes tell it: each local partial, named adjoints, fan-out summed.

`sweep_section` replays one `symgrad.diff.sweep.Sweep`: the steps are grouped under the spec
node whose definition they belong to, in the sweep's (reverse topological) order.  Each
step shows the rule with the incoming adjoint as a name (``\\bar{b} = 2 \\bar{c}``), then
with its value substituted (``2 \\cdot \\frac14``), then the simplified contribution the
sweep itself made (``\\frac12``) -- the notebook's ``4a_i/4 = a_i``.  A tensor that feeds
several places gets ``+=`` contributions and a line that sums them.  `closed_forms` gives
each gradient in matrix and index notation.
"""
from sympy import Add, S
import sympy

from ..diff.sweep import strip_leading
from ..ops import TensorOp
from ..printing.index import index_letters
from .latex import Named, bar, chain, entry, name_tex, shape_plain, shape_tex, tex, tex_index
from .text import Rich
from ..diff.simplify import tidy
from ..tensor import Tensor, shape_of

# Substituted or simplified forms longer than this (LaTeX characters) are not shown in a step.
LONG = 360

# --- the reverse sweep, step by step ---------------------------------------------------

class _Names:
    """Adjoint names for one sweep: \\bar{n} for spec tensors, \\delta_k for the rest."""

    def __init__(self):
        self.units = {}            # unit -> Named symbol of its adjoint
        self.k = 0
        self.new = []

    def of(self, u):
        if u in self.units:
            return self.units[u]
        if isinstance(u, Tensor):
            s = Named("\u0001adj:" + u.name, u.tshape, bar(name_tex(u.name)))
        else:
            self.k += 1
            s = Named("\u0001adj:%d" % self.k, shape_of(u), r"\delta_{%d}" % self.k)
            self.new.append((s, u))
        self.units[u] = s
        return s


def _unit_tex(u, named):
    return tex(u.xreplace(named) if named else u)


def sweep_section(d, o):
    """The reverse sweep from output o as a list of paragraphs (prose + displays)."""
    sw = d.sweeps[o]
    graph = d.graph
    named = graph.named
    prob = d.problem
    out_sym = prob.tensors[o]
    names = _Names()
    seed = sw.seed
    scalar_seed = not isinstance(seed, Tensor)
    otex = name_tex(o)
    intro = Rich()
    if not sw.adjoints:
        intro.t("No input in ").c("wrt").t(" influences ").m(otex).t(": every gradient of it is zero.")
        return {"output": o, "tex": otex, "intro": intro, "groups": [], "deltas": []}
    if scalar_seed:
        intro.t("The sweep starts at the output with its own adjoint, ").m(
            r"%s = \frac{\partial %s}{\partial %s} = 1" % (bar(otex), otex, otex)).t(".")
    else:
        intro.t("The output ").m(otex).t(" is not a scalar, so the sweep starts from an upstream "
                                         "gradient ").m(bar(otex)).t(" of its shape (").c(seed.name).t(
            " in the code; ").c("%s.backward(gradient=%s)" % (o, seed.name)).t(
            " in PyTorch). Every result below is a vector–Jacobian product with it.")

    # which spec node owns each unit (the last one, in sweep order, whose definition holds it)
    subexprs = {}
    for n in sw.order:
        de = graph.defs.get(n)
        if de is not None:
            subexprs[n] = set(sympy.preorder_traversal(de))
    owner = {}
    for st in sw.steps:
        if st.unit in owner:
            continue
        own = None
        for n in sw.order:
            if n in subexprs and st.unit in subexprs[n]:
                own = n
        owner[st.unit] = own
    def_of = {graph.defs[n]: n for n in sw.order if n in graph.defs}

    n_contrib = {}
    for st in sw.steps:
        n_contrib[st.arg] = n_contrib.get(st.arg, 0) + 1
    received = {}                                 # unit -> [contribution]
    named_parts = {}                              # unit -> [contribution written with adjoint names]
    value = {}                                    # unit -> its adjoint (simplified)
    value[out_sym] = sw.adjoints.get(out_sym, seed)

    groups = []
    by_owner = {}
    for st in sw.steps:
        by_owner.setdefault(owner[st.unit], []).append(st)

    def adjoint_of(u):
        if u in value:
            return value[u]
        if u in def_of:
            v = sw.adjoints.get(def_of[u], S.Zero)
        else:
            parts = received.get(u, [])
            v = tidy(Add(*parts)) if len(parts) > 1 else (parts[0] if parts else S.Zero)
        value[u] = v
        return v

    def gsym(u):
        if u in def_of:
            return names.of(def_of[u])
        return names.of(u)

    for n in list(sw.order) + [None]:
        steps = by_owner.get(n, [])
        if n is None and not steps:
            continue
        items = []
        if n is not None:
            ntex = name_tex(n.name)
            g = sw.adjoints.get(n, S.Zero)
            parts = received.get(n, [])
            dtex = tex(graph.defs[n])
            if n == out_sym:
                title = Rich().t("The output ").m("%s = %s" % (ntex, dtex))
            else:
                title = Rich().t("Through ").m("%s = %s" % (ntex, dtex))
            if len(parts) > 1:
                items.append({"text": Rich().m(ntex).t(" feeds %d places, so its adjoint is the sum of "
                                                       "what flows back from each (fan-out summed):"
                                                       % len(parts)),
                              "math": _fan_in(bar(ntex), named_parts.get(n, []), parts, g)})
        else:
            title = Rich().t("Further steps")
        for st in steps:
            items.append(_step_item(st, names, named, adjoint_of, gsym, def_of, n_contrib, received,
                                    named_parts))
        if items:
            groups.append({"title": title, "steps": items})

    # the inputs: fan-out at the leaves
    for x in prob.wrt:
        xs = prob.tensors[x]
        parts = received.get(xs, [])
        if len(parts) > 1:
            xt = name_tex(x)
            groups.append({"title": Rich().t("At the input ").m(xt), "steps": [{
                "text": Rich().m(xt).t(" is used in %d places; its contributions add up:" % len(parts)),
                "math": _fan_in(bar(xt), named_parts.get(xs, []), parts, sw.adjoints[xs])}]})
    return {"output": o, "tex": otex, "intro": intro, "groups": groups,
            "deltas": [(s.tex, _unit_tex(u, named)) for s, u in names.new]}


def _fan_in(lhs, named, parts, total):
    """lhs = the contributions by name = their values = the simplified sum (short forms only)."""
    rhs = [" + ".join(_paren_sum(p) for p in named)] if len(named) == len(parts) else []
    for r in (" + ".join(_paren_sum(tex(p)) for p in parts), tex(total)):
        if len(r) <= LONG or not rhs:
            rhs.append(r)
    return chain(lhs, rhs)


def _paren_sum(s):
    return r"\left(%s\right)" % s if (" + " in s or " - " in s) and not s.startswith(r"\left(") else s


def _step_item(st, names, named, adjoint_of, gsym, def_of, n_contrib, received, named_parts):
    """One step: the local partial or vector-Jacobian rule, and the contribution it sends back.

    The display reads ``target = rule (with the adjoint's name) = rule (with its value) =
    simplified``; forms longer than `LONG` are left out (the closed forms section has them).
    """
    u, arg = st.unit, st.arg
    G = adjoint_of(u)
    Gs = gsym(u)
    if isinstance(arg, Tensor):
        target = names.of(arg)
        what = Rich().m(name_tex(arg.name))
    else:
        target = names.of(arg)
        what = Rich().m(target.tex).t(", the adjoint of ").m(_unit_tex(arg, named))
    acc = n_contrib.get(arg, 1) > 1
    lhs = target.tex
    text = Rich()
    rule = None
    try:
        rule = strip_leading(st.rule(Gs))
        if isinstance(u, TensorOp):
            opname = u.spec_name or type(u).__name__
            text.t("The vector–Jacobian rule of ").c(opname).t(" sends ").m(Gs.tex).t(" to ")
            text.extend(what)
            text.t(":")
        else:
            local = st.local
            den = name_tex(arg.name) if isinstance(arg, Tensor) else r"\left(%s\right)" % _unit_tex(arg, named)
            if u in def_of:
                d_tex = r"\frac{\partial %s}{\partial %s}" % (name_tex(def_of[u].name), den)
            else:
                d_tex = r"\frac{\partial}{\partial %s}\left(%s\right)" % (den, _unit_tex(u, named))
            text.t("Local partial (elementwise) ").m("%s = %s" % (d_tex, tex(local)))
            if shape_of(arg) != shape_of(u):
                text.t("; ").extend(what)
                text.t(" is broadcast, so the product is summed back to its shape")
            text.t(":")
    except Exception:                  # a rule that cannot take a symbolic adjoint: show the result
        rule = None
        text = Rich().t("Back to ").extend(what)
        text.t(":")
    rhs = []
    if rule is not None:
        rhs.append(tex(rule))
        named_parts.setdefault(arg, []).append(rhs[0])
        if isinstance(G, Tensor) and rule.xreplace({Gs: G}) == st.contribution:
            # the upstream gradient itself arrives: the rule is the result
            received.setdefault(arg, []).append(st.contribution)
            return {"text": text, "math": _acc_chain(lhs, rhs, acc)}
        trivial = G == 1 or isinstance(G, Tensor) or rule == Gs
        if not trivial:
            shown = Named("\u0001shown:%s" % Gs.name, shape_of(G), tex(G), shown=True)
            try:
                rhs.append(tex(rule.xreplace({Gs: shown})))
            except Exception:
                pass
    else:
        named_parts.setdefault(arg, []).append(tex(st.contribution))
    rhs.append(tex(st.contribution))
    received.setdefault(arg, []).append(st.contribution)
    short = [r for r in rhs[1:] if len(r) <= LONG]
    if len(short) < len(rhs) - 1:
        text.t(" (written out in full, it is long: the closed forms below give it)")
    return {"text": text, "math": _acc_chain(lhs, rhs[:1] + short, acc)}


def _acc_chain(lhs, rhs, acc):
    if not acc:
        return chain(lhs, rhs)
    s = chain(lhs, rhs)
    # the first relation is an accumulation: lhs += r1 = r2 = ...
    if s.startswith("\\begin{aligned}"):
        return s.replace(lhs + " &=", lhs + r" &\mathrel{+}=", 1)
    return s.replace(lhs + " =", lhs + r" \mathrel{+}=", 1)


# --- closed forms --------------------------------------------------------------------

def closed_forms(d):
    out = []
    for g in d.gradients:
        idx = index_letters(len(g.shape))
        xt, ot = name_tex(g.wrt), name_tex(g.output)
        if g.seed:
            lhs_m = bar(xt)
            lhs_i = entry(bar(xt), idx)
            what = Rich().t("vector–Jacobian product of ").m(ot).t(" with ").m(bar(ot)).t(
                " (").c(g.seed).t(")")
        else:
            lhs_m = r"\frac{\partial %s}{\partial %s}" % (ot, xt)
            lhs_i = r"\frac{\partial %s}{\partial %s}" % (ot, entry(xt, idx))
            what = Rich().t("gradient of ").m(ot).t(" with respect to ").m(xt)
        out.append({
            "output": g.output, "wrt": g.wrt, "otex": ot, "xtex": xt, "what": what, "connected": g.connected,
            "shape": shape_plain(g.shape), "shape_tex": shape_tex(g.shape), "text": g.text,
            "matrix": chain(lhs_m, [tex(g.expr)]),
            "index": chain(lhs_i, [tex_index(g.expr, idx)]),
            "parts": (lhs_m, tex(g.expr), lhs_i, tex_index(g.expr, idx)),
        })
    return out
