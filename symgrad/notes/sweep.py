"""The derivation as a person writes backprop: one line per adjoint, with shapes and reasons.

`derivation_section` reads one reverse sweep's record (`symgrad.diff.sweep.Sweep`: its
``steps`` and each step's ``rule``) and groups it by the spec node whose definition the
steps belong to.  Each group names the functions of that node with their one-line
reasons (the op blocks' ``reason``, ``symgrad.ops.registry``), then gives one line per
adjoint it sends back:

    \\bar{W}_3 = \\bar{z}^T h_2          in R^{3x6}      (3x4)(4x6) ✓

written with the adjoints of the spec tensors by name (\\bar{z}), followed by the value
the sweep itself recorded when that differs and is short.  Inside a node, the rules of
its parts are composed by applying each recorded step's ``rule`` to what its unit
received -- the notes never run the engine's logic again.  A pre-activation gets its own
line and name (``\\delta_{h_2}``, ``grad_h2_pre`` in the code); a tensor used in several
places gets ``+=`` lines and their sum.  `results` gives each gradient as the library
states it (``Gradient.form``, in named adjoints) and in the spec language.
"""
from sympy import Add, S

from ..ops import TensorOp
from ..diff.simplify import tidy
from ..tensor import Tensor, shape_of
from .latex import Named, bar, name_tex, pre_tex, shape_tex, tex, too_long, visible_len
from .reasons import reason_rich, reasons
from .text import Rich

# A value form longer than this (LaTeX characters) is not shown after the form by name.
LONG = 200

def _symbol(key, shape, latex):
    return Named("\u0001adj:" + key, shape, latex)


def derivation_section(d, o):
    """The reverse sweep from output o: groups of one-line adjoints (see the module docstring)."""
    sw = d.sweeps[o]
    graph, prob = d.graph, d.problem
    out_sym = prob.tensors[o]
    otex = name_tex(o)
    if not sw.adjoints:
        intro = Rich().t("No input in ").c("wrt").t(" influences ").m(otex).t(": every gradient of it is zero.")
        return {"output": o, "tex": otex, "intro": intro, "groups": []}
    upstream = sw.upstream
    scalar = not isinstance(upstream, Tensor)
    intro = Rich()
    if scalar:
        intro.t("The sweep starts at the output: ").m(r"%s = \partial %s / \partial %s = 1" % (bar(otex), otex, otex)).t(".")
    else:
        intro.t("The output ").m(otex).t(" is not a scalar: the sweep starts from an upstream gradient ").m(
            bar(otex)).t(" of its shape (").c(upstream.name).t(", as in ").c("%s.backward(gradient=%s)" % (o, upstream.name)).t(
            "), and every line is a vector–Jacobian product with it.")
    def_of = {graph.defs[n]: n for n in sw.order if n in graph.defs}
    pre = {u: n for u, n in graph.pre_activations.items()}
    symbols = {}

    def symbol(u):
        """The adjoint of a spec tensor or a pre-activation, by name."""
        if u not in symbols:
            if isinstance(u, Tensor):
                if u == out_sym and not scalar:
                    symbols[u] = upstream              # grad_o, the upstream gradient
                else:
                    symbols[u] = _symbol(u.name, u.tshape, bar(name_tex(u.name)))
            else:
                n = pre[u]
                symbols[u] = _symbol(n.name + "_pre", shape_of(u), pre_tex(name_tex(n.name)))
        return symbols[u]

    upstream_symbol = symbol(out_sym) if scalar else None
    # each step's unit: which group (spec node) it belongs to, and the adjoint it passes on
    owner, received, lines = {}, {}, {}
    order = []                                 # groups in the order the sweep reaches them
    for n in sw.order:
        du = graph.defs.get(n)
        if isinstance(du, Tensor):             # b: a -- the same tensor, no step
            received.setdefault(du, []).append((n, symbol(n)))
    for st in sw.steps:
        u, arg = st.unit, st.arg
        if u in def_of:
            own = def_of[u]
        else:
            own = owner.get(u)
        if own not in lines:
            lines[own] = []
            order.append(own)
        if u in def_of:
            G = symbol(def_of[u])
        elif u in pre and u in owner:
            G = symbol(u)
        else:
            parts = [r for _, r in received.get(u, [])]
            G = tidy(Add(*parts)) if len(parts) > 1 else (parts[0] if parts else S.Zero)
        try:
            r = st.rule(G)
        except Exception:                      # a rule that cannot take a symbolic adjoint
            r = st.contribution
        received.setdefault(arg, []).append((own, r))
        if not isinstance(arg, Tensor) and arg not in def_of:
            owner.setdefault(arg, own)
    targets = [a for a in received if isinstance(a, Tensor) or a in pre]
    sources = {a: [g for g, _ in received[a]] for a in targets}
    groups, number = [], {}
    for own in order:
        items = []
        if own is not None and len(set(sources.get(own, ()))) > 1:
            items.append(_total(own, received[own], sw.adjoints.get(own), symbol, number))
        for a in targets:
            mine = [r for g, r in received[a] if g == own]
            if mine:
                acc = len(set(sources[a])) > 1
                items.append(_line(a, mine, None if acc or a in pre else sw.adjoints.get(a), symbol, acc,
                                   upstream_symbol if own == out_sym else None))
        if not items:
            continue
        groups.append(_group(d, own, out_sym, items))
        number[own] = len(groups)
    # leaves used in several places: the sum of what they received
    tail = [_total(a, received[a], sw.adjoints.get(a), symbol, number) for a in targets
            if isinstance(a, Tensor) and a not in def_of.values() and len(set(sources[a])) > 1
            and a not in graph.defs]
    if tail:
        groups.append({"title": Rich().t("At the inputs used in several places: their contributions add up"),
                       "reasons": [], "notes": [], "math": _block(tail)})
    legend = []
    for u, s in symbols.items():
        if not isinstance(u, Tensor):
            legend.append((s.tex, tex(u), "grad_%s_pre" % pre[u].name))
    return {"output": o, "tex": otex, "intro": intro, "groups": groups, "legend": legend}


def _group(d, own, out_sym, items):
    prob = d.problem
    if own is None:
        return {"title": Rich().t("Further steps"), "reasons": [], "notes": [], "math": _block(items)}
    node = prob.node(own.name)
    t = Rich().t("The output " if own == out_sym else "Through ").m(
        "%s = %s" % (name_tex(own.name), tex(node.expr)))
    rs = [reason_rich(name, why) for name, why in reasons(node.text)]
    notes = []
    simplex = [x for x in prob.inputs if x.domain == "simplex" and x.symbol in node.expr.free_symbols]
    for x in simplex:
        notes.append(Rich().m(name_tex(x.name)).t(" is declared ").c("simplex").t(
            ": each row sums to 1, and the rule uses it."))
    return {"title": t, "reasons": rs, "notes": notes, "math": _block(items)}


def _line(a, rules, value, symbol, acc, upstream_symbol=None):
    """One adjoint: ``lhs = rule by name [= recorded value]``, its shape and dimension check.
    In the output's own group the rule is written with the output's adjoint (``\bar{d}/4``)
    unless that is much longer than its value with the adjoint 1 (a loss's formula)."""
    lhs = symbol(a).tex
    by_name = tidy(Add(*rules)) if len(rules) > 1 else rules[0]
    rhs = [tex(by_name)]
    if value is not None and value != 0 and not (isinstance(value, Tensor) and value.name.startswith("grad_")):
        v = tex(value)
        if upstream_symbol is not None and len(rhs[0]) > 2 * len(v) + 12:
            rhs, by_name = [v], value
        elif v != rhs[0] and len(v) <= LONG:
            rhs.append(v)
    return {"lhs": lhs, "rhs": rhs, "rel": r"\mathrel{+}=" if acc else "=",
            "shape": shape_of(a), "check": dimension_check(by_name, shape_of(a))}


def _total(a, got, value, symbol, number=None):
    """The sum of a tensor's ``+=`` lines; a long one is named by its step, not written again."""
    lhs = symbol(a).tex if isinstance(symbol(a), Named) else tex(symbol(a))
    texts = [tex(p) for _, p in got]
    if visible_len(" + ".join(texts)) > DISPLAY_WIDE:
        texts = [t if visible_len(t) <= PART_WIDE else _step_ref((number or {}).get(g)) for (g, _), t in zip(got, texts)]
    rhs = [""]
    for k, t in enumerate(texts):               # a - b, not a + -b
        t = _paren(t) if not t.startswith("-") else t
        rhs[0] += t if not k else (" - " + t[1:].lstrip() if t.startswith("-") else " + " + t)
    if isinstance(value, Tensor) and value.name.startswith("grad_"):
        value = None                            # its own name again
    if value is not None:
        v = tex(value)
        if v != rhs[0] and len(v) <= LONG:
            rhs.append(v)
    return {"lhs": lhs, "rhs": rhs, "rel": "=", "shape": shape_of(a), "check": ""}


def _step_ref(k):
    return r"(\mathrel{+}= \text{ of step %d})" % k if k else r"(\mathrel{+}= \text{ above})"


def _paren(s):
    return r"\left(%s\right)" % s if (" + " in s or " - " in s) and not s.startswith(r"\left(") else s


def dimension_check(e, target):
    """The shapes that meet in a line's top-level op: ``(3 x 4)(4 x 6) -> 3 x 6``, with a
    tick when the result has the target's shape ("each entry" for a constant)."""
    try:
        shape = tuple(shape_of(e))
    except Exception:
        return ""
    target = tuple(target)
    if not shape and target:
        return r"\text{each entry}"
    core = e
    if not isinstance(core, TensorOp):
        _, core = e.as_coeff_Mul()
    parts = ""
    if isinstance(core, TensorOp) and core.n_tensors:
        shapes = [tuple(shape_of(t)) for t in core.tensors]
        if any(s != shape for s in shapes):
            parts = "".join(r"\left(%s\right)" % _dims(s) for s in shapes) + r" \to "
    tick = r"\ \checkmark" if shape == target else r"\ \text{(broadcast)}"
    return parts + _dims(shape) + tick


def _dims(shape):
    return r"\text{scalar}" if not shape else r"{\times}".join(
        str(s) if str(s).isdigit() else name_tex(str(s)) for s in shape)


# A line of a display wider than this (characters as printed) gets its shape and check on
# a line below it instead of in columns beside it, which would shrink the whole display.
DISPLAY_WIDE = 80
# In the sum of a tensor's ``+=`` lines, a part wider than this is named by its step.
PART_WIDE = 30


def _block(items):
    """The group's lines as one aligned display: relation, shape, dimension check."""
    rows = []
    wide = any(visible_len("%s %s %s" % (it["lhs"], too_long(it["rhs"][0]), it["check"] or "")) > DISPLAY_WIDE
               for it in items)
    for it in items:
        forms = [too_long(r) for r in it["rhs"]]
        shape = r"\in \mathbb{R}^{%s}" % shape_tex(it["shape"]) if it["shape"] else r"\in \mathbb{R}"
        tail = shape + (r" \quad %s" % it["check"] if it["check"] else "")
        if wide:        # shape and check on a line of their own: the formula keeps its size
            rows.append("%s &%s %s" % (it["lhs"], it["rel"], forms[0]))
            rows += ["&= %s" % f for f in forms[1:]]
            rows.append(r"&\qquad %s" % tail)
            continue
        rows.append("%s &%s %s && %s" % (it["lhs"], it["rel"], forms[0], tail.replace(r" \quad ", " && ")))
        for f in forms[1:]:
            rows.append("&= %s" % f)
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


# --- results ------------------------------------------------------------------------------------

# A result wider than this (characters as printed) is given by its adjoint's name: the sweep
# above derives it line by line, and the formula would shrink past reading in the table.
RESULT_WIDE = 45


def _result_form(g, xt):
    form = tex(g.form)
    if g.upstream or visible_len(form) <= RESULT_WIDE:
        return too_long(form)
    return r"%s \quad \text{(derived above)}" % bar(xt)


def results(d, num=None, with_values=True):
    """Each gradient as the library gives it: matrix form in named adjoints, spec text, value."""
    from .numbers import fmt
    out = []
    for g in d.gradients:
        xt, ot = name_tex(g.wrt), name_tex(g.output)
        if g.upstream:
            lhs = bar(xt)
            what = Rich().t("vector–Jacobian product of ").m(ot).t(" with ").m(bar(ot)).t(" (").c(g.upstream).t(")")
        else:
            lhs = r"\partial %s / \partial %s" % (ot, xt)
            what = Rich().t("gradient of ").m(ot).t(" with respect to ").m(xt)
        value = None
        if num and with_values:
            v = num.grads.get(g.output, {}).get(g.wrt)
            if v is not None:
                value = fmt(v)
            elif g.output in num.grads and num.grads[g.output]:
                value = "None: no path from %s to %s (zero)" % (g.wrt, g.output)
        out.append({"output": g.output, "wrt": g.wrt, "what": what, "connected": g.connected,
                    "shape_tex": shape_tex(g.shape), "math": "%s = %s" % (lhs, _result_form(g, xt)),
                    "text": g.text, "value": value})
    return out
