"""The lecture notes as data: every section built once from a `Derivation`, format-neutral.

`notes(d, check)` returns a plain dict that the Markdown and the LaTeX templates lay out
(``templates/notes.md.j2``, ``templates/notes.tex.j2``): formulas are LaTeX strings that
both KaTeX and pdflatex accept, prose is `Rich` text, and nothing here knows either
output format.  The sections follow a lecture: the tensors, the forward definitions in
matrix and index notation, the graph, the reverse sweep step by step (local partials,
named adjoints, fan-out summed, the substitution before each simplification), the
closed forms, what PyTorch's autograd does with the spec's ``backward`` schedule, and
the numeric check.

Adjoints get names: ``\\bar{c}`` for a tensor of the spec, ``\\delta_k`` for an
intermediate result inside one node's definition.  The notes print with printers
derived from the library's (`NotesLatex`, `NotesIndex`); they add only those names,
merged subscripts (``W_{1,ij}``) and an order of terms that does not depend on hashing.
"""
import re

import sympy
from sympy import Add, Mul, Number, S, Symbol

from .derive import partial as _partial, strip_leading, unbroadcast
from .ops import TensorOp, is_elementwise
from .printing.index import IndexPrinter, index_letters
from .printing.latex import MatrixLatexPrinter
from .printing.text import to_text
from .render_text import Rich, torch_code
from .simplify import tidy
from .tensor import Tensor, shape_of

# A display formula is printed on several lines (an aligned chain) beyond this length.
WRAP = 80
# Expanded forward definitions longer than this are not shown.
EXPAND_MAX = 140


# --- printers --------------------------------------------------------------------------

class Named(Tensor):
    """A tensor that prints as given LaTeX: an adjoint's name, or a value shown in place."""

    def __new__(cls, key, shape, tex, shown=False):
        obj = Tensor.__new__(cls, key, shape)
        obj.tex = tex
        obj.shown = shown
        return obj

    def _hashable_content(self):
        # the printed form is part of the identity: SymPy caches results by equality
        return Tensor._hashable_content(self) + (self.tex, self.shown)


def _balanced(s):
    depth = 0
    for ch in s:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


class _NotesNames:
    """What the notes' printers add: named adjoints and merged subscripts."""

    def _print_TensorSymbol(self, e):
        if isinstance(e, Named):
            if e.shown and (_needs_parens(e.tex) or _is_product(e.tex)):
                return r"\left(%s\right)" % e.tex
            return e.tex
        if e.name.startswith("grad_"):
            return bar(self._name(e.name[5:]))
        return self._name(e.name)

    def _print_Symbol(self, e, style="plain"):
        # a dim: a word prints upright-italic as one name, not as a product of letters
        return self._name(e.name) if type(e) is Symbol else super()._print_Symbol(e, style)

    def subscripted(self, name, idx):
        m = re.fullmatch(r"(.*)_\{([^{}]*)\}", name, re.S)
        if m and _balanced(m.group(1)) and "^" not in m.group(1):
            return "%s_{%s,%s}" % (m.group(1), m.group(2), idx)
        if "_" in name or "^" in name:
            return "{%s}_{%s}" % (name, idx)
        return "%s_{%s}" % (name, idx)

    def _print_Mul(self, e):
        front = [f for f in e.args if isinstance(f, Named)]
        if not front:
            return super()._print_Mul(e)
        coeff, rest = Mul(*[f for f in e.args if f not in front]).as_coeff_Mul()
        pieces = []                  # (latex, is a tensor, is a shown value)
        for f in front:
            pieces.append((self._print(f), shape_of(f) != (), f.shown))
        if rest != 1:
            rs = self._print(rest)
            if isinstance(rest, Add) or (isinstance(rest, Mul) and any(isinstance(f, Add) for f in rest.args)
                                         and len(rest.args) > 1 and not rs.startswith(r"\left(")):
                rs = r"\left(%s\right)" % rs
            pieces.append((rs, shape_of(rest) != (), False))
        out = ""
        if coeff == -1:
            out = "-"
        elif coeff != 1:
            out = self._print(coeff)
            out += r" \cdot " if pieces[0][2] or pieces[0][0][:1].isdigit() else " "
        prev = None
        for p in pieces:
            if prev is not None:
                out += r" \odot " if (prev[1] and p[1]) else (r" \cdot " if (prev[2] or p[2]) else " ")
            out += p[0]
            prev = p
        return out


class NotesLatex(_NotesNames, MatrixLatexPrinter):
    """Matrix notation for the notes."""


class _Raw(Symbol):
    """A symbol that prints as given LaTeX; named by that LaTeX, so ordering is stable."""

    def __new__(cls, tex):
        obj = Symbol.__new__(cls, "\u2063" + tex)
        obj.raw = tex
        return obj

    def _latex(self, printer):
        return self.raw


class NotesIndex(_NotesNames, IndexPrinter):
    """Index notation for the notes."""

    def index_of(self, e, idx, prec=None):
        if isinstance(e, (Tensor, TensorOp)) or not is_elementwise(e):
            return super().index_of(e, idx, prec)
        idx = list(idx)
        shape = shape_of(e)
        repl = {}
        for leaf in _ew_leaves(e):
            ls = shape_of(leaf)
            off = len(shape) - len(ls)
            li = [("1" if ls[k] == 1 and shape[k + off] != 1 else idx[k + off]) for k in range(len(ls))]
            repl[leaf] = _Raw(self.index_of(leaf, li, "Mul"))
        s = NotesLatex({"mul_symbol": None}).doprint(e.xreplace(repl))
        if prec and isinstance(e, Add):
            return r"\left(%s\right)" % s
        return s


def _ew_leaves(expr):
    out, seen, stack = [], set(), [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if isinstance(e, (Tensor, TensorOp)):
            out.append(e)
        elif is_elementwise(e):
            stack.extend(reversed(e.args))
    return out


_LATEX = NotesLatex({"mul_symbol": None})


def tex(e):
    """An expression in matrix notation."""
    return _LATEX.doprint(e)


def tex_index(e, idx):
    """The entry of an expression at the indices idx."""
    return _unwrap_numerators(NotesIndex(used=idx).index_of(e, list(idx)))


def _unwrap_numerators(s):
    r"""\frac{\left(X\right)}{n} -> \frac{X}{n}: a numerator needs no parentheses."""
    key = r"\frac{\left("
    start = 0
    while True:
        k = s.find(key, start)
        if k < 0:
            return s
        body = k + len(key)
        depth, j = 1, body
        while j < len(s) and depth:
            if s.startswith(r"\left(", j):
                depth += 1
                j += len(r"\left(")
                continue
            if s.startswith(r"\right)", j):
                depth -= 1
                if depth == 0:
                    break
                j += len(r"\right)")
                continue
            j += 1
        end = j + len(r"\right)")
        if depth == 0 and s.startswith("}{", end):
            s = s[:k] + r"\frac{" + s[body:j] + s[end:]
        start = k + 1


def name_tex(name):
    return _LATEX._name(name)


def entry(name_latex, idx):
    return _LATEX.subscripted(name_latex, "".join(idx)) if idx else name_latex


def bar(name_latex):
    """The adjoint's name: \\bar{c}, \\bar{W}_{1}, \\overline{\\mathit{out}}."""
    m = re.fullmatch(r"(\\[A-Za-z]+|[A-Za-z])((?:_\{[^{}]*\})?)", name_latex)
    if m:
        return r"\bar{%s}%s" % (m.group(1), m.group(2))
    m = re.fullmatch(r"(\\mathit\{[A-Za-z]+\})((?:_\{[^{}]*\})?)", name_latex)
    if m:
        return r"\overline{%s}%s" % (m.group(1), m.group(2))
    return r"\overline{%s}" % name_latex


def _needs_parens(s):
    """Whether a value shown as a factor needs parentheses (a sum, or a leading minus)."""
    if s.startswith("-"):
        return True
    depth = 0
    for k, ch in enumerate(s):
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif depth == 0 and k and ch in "+-":
            return True
    return False


def _is_product(s):
    """A product at the top level (a space outside braces), but not one fraction alone."""
    depth = 0
    for ch in s:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif depth == 0 and ch == " ":
            return True
    return False


def chain(lhs, rhs, sep="="):
    """``lhs = r1 = r2 ...`` with repeats dropped; an aligned block when it is long."""
    seen, parts = set(), []
    for r in rhs:
        if r is None or r in seen:
            continue
        seen.add(r)
        parts.append(r)
    if not parts:
        return lhs
    if len(lhs) + sum(len(p) + 3 for p in parts) <= WRAP or len(parts) == 1:
        return lhs + "".join(" %s %s" % (sep, p) for p in parts)
    rows = [r"%s &%s %s" % (lhs, sep, parts[0])] + [r"&%s %s" % (sep, p) for p in parts[1:]]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def aligned(rows):
    """rows of (lhs, [rhs...]) as one aligned block; a one-row block stays a plain equation."""
    if len(rows) == 1:
        lhs, rhs = rows[0]
        return chain(lhs, rhs)
    lines = []
    for lhs, rhs in rows:
        parts = []
        for r in rhs:
            if r not in parts:
                parts.append(r)
        lines.append("%s &= %s" % (lhs, " = ".join(parts)))
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def shape_tex(shape):
    if not shape:
        return r"\text{scalar}"
    return r" \times ".join(str(s) if isinstance(s, int) or str(s).isdigit() else name_tex(str(s))
                             for s in shape)


def shape_plain(shape):
    if not shape:
        return "scalar"
    return " × ".join(str(s) for s in shape)


# --- the notes ---------------------------------------------------------------------------

def notes(d, check=None):
    """Everything the templates show, in reading order."""
    prob = d.problem
    info = d.tensor_info()
    out = {
        "title": d.title,
        "description": prob.description or "",
        "tensors": tensors_section(d, info),
        "dims": [{"name": name, "tex": name_tex(name), "value": val}
                 for name, (sym, val) in prob.dims.items()],
        "forward": forward_section(d),
        "graph": graph_section(d, info),
        "sweeps": [sweep_section(d, o) for o in prob.outputs],
        "closed_forms": closed_forms(d),
        "autograd": autograd_section(d, info),
        "check": check_section(check),
    }
    out["outputs"] = [{"name": o, "tex": name_tex(o)} for o in prob.outputs]
    out["wrt"] = [{"name": x, "tex": name_tex(x)} for x in prob.wrt]
    return out


def tensors_section(d, info):
    prob = d.problem
    retained = set(prob.retain_grad or ())
    rows = []
    for name, t in info.items():
        note = []
        if t["kind"] == "input" and t.get("domain", "real") != "real":
            note.append("domain: %s" % t["domain"])
        if name in retained:
            note.append("retain_grad()")
        if name in prob.outputs:
            note.append("output")
        if t["kind"] == "node" and not t["requires_grad"]:
            note.append("constant: needs no gradient")
        rows.append({
            "name": name, "tex": name_tex(name), "kind": t["kind"],
            "shape": shape_plain(t["shape"]), "shape_tex": shape_tex(t["shape"]),
            "definition": t.get("expr", ""), "requires_grad": t["requires_grad"],
            "is_leaf": t["is_leaf"], "note": ", ".join(note),
        })
    return rows


def _expanded(d):
    """Each node's definition with earlier nodes substituted (in terms of the inputs)."""
    full = {}
    for n in d.problem.nodes:
        try:
            full[n.symbol] = n.expr.xreplace(full) if full else n.expr
        except Exception:       # an op that refuses the substitution: keep the node as is
            full[n.symbol] = n.symbol
    return full


def forward_section(d):
    rows_m, rows_i = [], []
    full = _expanded(d)
    for n in d.problem.nodes:
        idx = index_letters(len(n.symbol.tshape))
        lhs = name_tex(n.name)
        rows_m.append((lhs, [tex(n.expr)]))
        ix = [tex_index(n.expr, idx)]
        e = full.get(n.symbol)
        if e is not None and e != n.expr and e != n.symbol:
            try:
                s = tex_index(e, idx)
            except Exception:
                s = None
            if s and len(s) <= EXPAND_MAX:
                ix.append(s)
        rows_i.append((entry(lhs, idx), ix))
    items = [{"name": n.name, "tex": name_tex(n.name), "text": n.text} for n in d.problem.nodes]
    return {"matrix": aligned(rows_m) if rows_m else "", "index": aligned(rows_i) if rows_i else "",
            "nodes": items}


# --- the graph -------------------------------------------------------------------------

def graph_section(d, info):
    prob = d.problem
    order = [x.name for x in prob.inputs] + [n.name for n in prob.nodes]
    syms = prob.tensors
    deps = {}
    for n in prob.nodes:
        used = {t.name for t in n.expr.atoms(Tensor)}
        deps[n.name] = [m for m in order if m in used and m != n.name]
    layer = {}
    for n in prob.nodes:
        layer[n.name] = 1 + max([layer.get(m, 0) for m in deps[n.name]], default=0)
    users = {m: [n for n in deps if m in deps[n]] for m in order}
    for x in prob.inputs:
        ls = [layer[u] for u in users[x.name]]
        layer[x.name] = min(ls) - 1 if ls else 0
    columns = {}
    for m in order:
        columns.setdefault(layer[m], []).append(m)
    _order_columns(columns, deps, users)
    nodes = []
    pos = {}
    for col in sorted(columns):
        names = columns[col]
        for k, m in enumerate(names):
            pos[m] = (col * 3.4, ((len(names) - 1) / 2.0 - k) * 1.5)
    retained = set(prob.retain_grad or ())
    for m in order:
        t = info[m]
        label = name_tex(m)
        if t["kind"] == "node":
            full = "%s = %s" % (label, tex(prob.node(m).expr))
            if len(full) <= 44:
                label = full
        if t["kind"] == "input":
            style = "input" if t["requires_grad"] else "constant"
        else:
            style = "output" if m in prob.outputs else ("node" if t["requires_grad"] else "constant")
        flags = []
        if t["kind"] == "input":
            flags.append("leaf" if t["requires_grad"] else "no grad")
        elif m in retained:
            flags.append("retain_grad")
        elif not t["requires_grad"]:
            flags.append("no grad")
        x, y = pos[m]
        nodes.append({
            "id": "t_" + m, "tikz": "n%d" % len(nodes), "name": m, "label_tex": label, "style": style, "x": "%.2f" % x,
            "y": "%.2f" % y, "shape": shape_plain(t["shape"]), "shape_tex": shape_tex(t["shape"]),
            "text": (m if t["kind"] == "input" else "%s = %s" % (m, t["expr"])),
            "flags": ", ".join(flags),
        })
    tikz = {v["name"]: v["tikz"] for v in nodes}
    edges = [{"src": "t_" + m, "dst": "t_" + n, "src_tikz": tikz[m], "dst_tikz": tikz[n]}
             for n in deps for m in deps[n]]
    width = (max(layer.values()) + 1) if layer else 1
    return {"nodes": nodes, "edges": edges, "columns": width,
            "mermaid": mermaid(nodes, edges)}


def _order_columns(columns, deps, users, sweeps=4):
    """Order each column by the mean position of its neighbours (fewer crossing edges)."""
    rank = {m: k for col in columns.values() for k, m in enumerate(col)}

    def centre(m, col):
        nb = [x for x in deps.get(m, []) + users.get(m, []) if x not in col]
        return sum(rank[x] - (len(columns[_col_of(columns, x)]) - 1) / 2.0 for x in nb) / len(nb) \
            if nb else None

    for _ in range(sweeps):
        for c in sorted(columns):
            col = columns[c]
            keyed = []
            for k, m in enumerate(col):
                b = centre(m, col)
                keyed.append((k - (len(col) - 1) / 2.0 if b is None else b, k, m))
            col[:] = [m for _, _, m in sorted(keyed)]
            for k, m in enumerate(col):
                rank[m] = k


def _col_of(columns, m):
    for c, col in columns.items():
        if m in col:
            return c


def _mermaid_text(s):
    return (s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def mermaid(nodes, edges):
    lines = ["flowchart LR"]
    shapes = {"input": ('(["', '"])'), "constant": ('(["', '"])'), "node": ('["', '"]'),
              "output": ('[["', '"]]')}
    for n in nodes:
        o, c = shapes[n["style"]]
        label = _mermaid_text(n["text"]) + "<br/>" + _mermaid_text(
            n["shape"] + (" · " + n["flags"] if n["flags"] else ""))
        lines.append("  %s%s%s%s:::%s" % (n["id"], o, label, c, n["style"]))
    for e in edges:
        lines.append("  %s --> %s" % (e["src"], e["dst"]))
    lines += [
        "  classDef input fill:#e8f0fe,stroke:#3b5b92;",
        "  classDef constant fill:#f3f3f3,stroke:#999999,stroke-dasharray: 4 3;",
        "  classDef node fill:#ffffff,stroke:#555555;",
        "  classDef output fill:#fff1dc,stroke:#b36b00,stroke-width:2px;",
    ]
    return "\n".join(lines)


# --- the reverse sweep, step by step ---------------------------------------------------

class _Names:
    """Adjoint names for one sweep: \\bar{n} for spec tensors, \\delta_k for the rest."""

    def __init__(self, d):
        self.d = d
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
    names = _Names(d)
    seed = sw.seed
    scalar_seed = not isinstance(seed, Tensor)
    otex = name_tex(o)
    intro = Rich()
    if not sw.adjoints:
        intro.t("No input in ").c("wrt").t(" influences ").m(otex).t(": every gradient of it is zero.")
        return {"output": o, "tex": otex, "intro": intro, "groups": [], "results": []}
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
                              "math": chain(bar(ntex), [" + ".join(_paren_sum(tex(p)) for p in parts),
                                                        tex(g)])})
        else:
            title = Rich().t("Further steps")
        cursor = {}
        for st in steps:
            items.append(_step_item(st, d, names, named, adjoint_of, gsym, def_of, n_contrib, received,
                                    cursor))
        if items:
            groups.append({"title": title, "steps": items})

    # the inputs: fan-out at the leaves, then the results
    results = []
    for x in prob.wrt:
        xs = prob.tensors[x]
        parts = received.get(xs, [])
        if len(parts) > 1:
            xt = name_tex(x)
            groups.append({"title": Rich().t("At the input ").m(xt), "steps": [{
                "text": Rich().m(xt).t(" is used in %d places; its contributions add up:" % len(parts)),
                "math": chain(bar(xt), [" + ".join(_paren_sum(tex(p)) for p in parts),
                                        tex(sw.adjoints[xs])])}]})
    for g in d.gradients:
        if g.output != o:
            continue
        results.append(g.wrt)
    return {"output": o, "tex": otex, "intro": intro, "groups": groups, "results": results,
            "deltas": [(s.tex, _unit_tex(u, named)) for s, u in names.new]}


def _paren_sum(s):
    return r"\left(%s\right)" % s if (" + " in s or " - " in s) and not s.startswith(r"\left(") else s


def _step_item(st, d, names, named, adjoint_of, gsym, def_of, n_contrib, received, cursor):
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
        if isinstance(u, TensorOp):
            k = cursor.get(u, -1) + 1
            while k < len(u.tensors) and u.tensors[k] != arg:
                k += 1
            cursor[u] = k
            rule = u.vjp(k, Gs)
            rule = strip_leading(tidy(rule.xreplace(named) if named else rule))
            opname = u.spec_name or type(u).__name__
            text.t("The vector–Jacobian rule of ").c(opname).t(" sends ").m(Gs.tex).t(" to ")
            text.extend(what)
            text.t(":")
        else:
            local = st.local
            rule = tidy(unbroadcast(Gs * local, shape_of(u), shape_of(arg)))
            rule = strip_leading(rule)
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
    rhs.append(tex(st.contribution))
    received.setdefault(arg, []).append(st.contribution)
    return {"text": text, "math": _acc_chain(lhs, rhs, acc)}


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


# --- autograd -------------------------------------------------------------------------

SECOND_BACKWARD = "backward through the graph a second time"
IMPLICIT = "implicitly created only for scalar outputs"
NO_GRAD = "does not require grad"


def autograd_section(d, info):
    prob = d.problem
    if prob.backward is None:
        return None
    unavailable = None
    try:
        sched = d.schedule
        sd = sched.to_dict() if sched is not None else None
    except Exception as e:           # the prediction is not available: say so, keep the notes
        sched, sd = None, None
        unavailable = "%s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
    code = pytorch_listing(d, sd)
    steps = []
    sdsteps = (sd or {}).get("steps") or []
    for k, b in enumerate(prob.backward):
        s = sdsteps[k] if k < len(sdsteps) else {}
        err = s.get("error")
        grads = s.get("grad") if isinstance(s.get("grad"), dict) else None
        shown = [(name, v) for name, v in (grads or {}).items() if v is not None]
        steps.append({
            "n": k + 1, "call": b.call, "error": err,
            "why": _error_why(d, b, err) if err else None,
            "fix": (err or {}).get("fix"),
            "grads": shown, "known": grads is not None,
            "zero_grad": b.kind == "zero_grad",
        })
        if err:
            break
    grads = []
    lessons = []
    if sd is not None:
        final = sd.get("grad") or {}
        why = sd.get("why_none") or {}
        flags = sd.get("autograd") or {}
        for name, t in info.items():
            v = final.get(name)
            f = flags.get(name, {})
            grads.append({"name": name, "tex": name_tex(name), "value": v,
                          "grad_fn": f.get("grad_fn"), "is_leaf": f.get("is_leaf", t["is_leaf"]),
                          "requires_grad": f.get("requires_grad", t["requires_grad"]),
                          "why": "" if v is not None else why.get(name, "")})
        if sd.get("raised_at"):
            lessons.append(Rich().t("The schedule stops at step %d: PyTorch raised there, and the "
                                    "table shows the gradients after the last step that completed."
                                    % sd["raised_at"]))
        lessons += _retain_graph_lessons(d, sd)
    lessons += _leaf_lessons(d, info)
    if sum(1 for b in prob.backward if b.kind == "backward") > 1:
        lessons.append(Rich().t("Gradients accumulate: each ").c("backward()").t(
            " adds to ").c(".grad").t(" rather than overwriting it, so after several calls a leaf "
                                      "holds the sum of the gradients of all the outputs since the "
                                      "last ").c("zero_grad()").t(" (an optimizer clears them "
                                                                  "between its steps)."))
    return {"code": code, "steps": steps, "grads": grads, "lessons": lessons,
            "unavailable": unavailable}


def _error_why(d, b, err):
    r = Rich()
    if err.get("explanation"):
        for k, part in enumerate(str(err["explanation"]).split("`")):
            if part:
                (r.c if k % 2 else r.t)(part)
    else:
        r.extend(explain_error(d, b, err))
    return r


def _retain_graph_lessons(d, sd):
    """Why each retain_graph=True is there: the same schedule without it, predicted."""
    prob = d.problem
    out = []
    for k, b in enumerate(prob.backward):
        if not (b.kind == "backward" and b.retain_graph):
            continue
        if not any(x.kind == "backward" for x in prob.backward[k + 1:]):
            continue
        alt = _predict_without_retain(d, k)
        r = Rich().t("Why ").c("retain_graph=True").t(" in step %d: " % (k + 1))
        if alt is not None and alt.get("raised_at"):
            j = alt["raised_at"]
            msg = (alt["steps"][j - 1].get("error") or {}).get("message", "")
            r.t("a backward pass frees the tensors the graph saved for it (the inputs of ")
            r.t("products and powers, for instance) unless told to keep them. Without it, step "
                "%d, " % j).c(prob.backward[j - 1].call).t(", would run through the freed part "
                                                          "of the graph and raise ").c(
                "RuntimeError").t(": %s." % msg.split(". ")[0].rstrip("."))
        elif alt is not None:
            r.t("here it is not needed: the later steps run no node whose saved tensors step "
                "%d would free, so the schedule would pass without it too." % (k + 1))
        else:
            r.t("it keeps the saved tensors of the graph for the backward calls that follow.")
        out.append(r)
    return out


def _predict_without_retain(d, k):
    try:
        import copy
        from dataclasses import replace
        from .schedule import predict, with_retain_graph  # noqa: F401  (the module must exist)
        prob = copy.copy(d.problem)
        st = prob.backward[k]
        call = re.sub(r",?\s*retain_graph\s*=\s*True", "", st.call).replace("(, ", "(")
        prob.backward = list(prob.backward)
        prob.backward[k] = replace(st, retain_graph=False, call=call)
        dd = copy.copy(d)
        dd.problem = prob
        dd._schedule = None
        return predict(dd).to_dict()
    except Exception:
        return None


def _leaf_lessons(d, info):
    prob = d.problem
    retained = set(prob.retain_grad or ())
    nonleaf = [n for n, t in info.items() if t["kind"] == "node" and t["requires_grad"]]
    if not nonleaf:
        return []
    kept = [n for n in nonleaf if n in retained]
    dropped = [n for n in nonleaf if n not in retained]
    r = Rich().t("Leaves and non-leaves. Only leaf tensors — inputs created with ").c(
        "requires_grad=True").t(", like the weights of an ").c("nn.Linear").t(
        " — get a ").c(".grad").t(" from ").c("backward()").t(".")
    if dropped:
        r.t(" The intermediate results ")
        _names_list(r, dropped)
        r.t(" are non-leaves: their ").c(".grad").t(" stays ").c("None").t(
            " (PyTorch warns when you read it) unless you call ").c("%s.retain_grad()" % dropped[0]).t(
            " before the backward pass.")
    if kept:
        r.t(" Here ")
        _names_list(r, kept)
        r.t(" called ").c("retain_grad()").t(", so ")
        r.t("its " if len(kept) == 1 else "their ").c(".grad").t(
            " holds the adjoint from the sweep above, summed over the backward calls.")
    return [r]


def _names_list(r, names):
    for k, n in enumerate(names):
        if k:
            r.t(" and " if k == len(names) - 1 else ", ")
        r.m(name_tex(n))


def explain_error(d, b, err):
    """A reason for PyTorch's error when the schedule gives none of its own."""
    msg = (err or {}).get("message", "") or ""
    r = Rich()
    if SECOND_BACKWARD in msg:
        r.t("an earlier ").c("backward()").t(
            " freed the tensors the graph saved for its backward pass, and this call needs them "
            "again. Keep them with ").c("retain_graph=True").t(
            " on every call but the last that goes through the shared part of the graph.")
    elif IMPLICIT in msg:
        o = b.output or "the output"
        r.c(o).t(" is not a scalar, so PyTorch cannot assume an upstream gradient of 1. Pass one "
                 "of its shape: ").c("%s.backward(gradient=torch.ones_like(%s))" % (o, o)).t(
            " gives the gradient of ").c("%s.sum()" % o).t(".")
    elif NO_GRAD in msg or "grad_fn" in msg:
        r.t("nothing that ").c(b.output or "it").t(" depends on requires grad, so it has no ").c(
            "grad_fn").t(" and there is nothing to backpropagate.")
    else:
        r.t(msg)
    return r


def _input_code(x, dims):
    shape = ", ".join(str(s) for s in x.shape)
    rg = x.requires_grad
    if x.value is not None:
        vals = _py(x.value)
        return "%s = torch.tensor(%s%s)" % (x.name, vals, ", requires_grad=True" if rg else "")
    sh = shape if shape else ""
    base = {
        "positive": "0.5 + 1.5 * torch.rand(%s)" % sh,
        "nonnegative": "0.05 + torch.rand(%s)" % sh,
        "unit": "0.1 + 0.8 * torch.rand(%s)" % sh,
        "simplex": "torch.softmax(torch.randn(%s), dim=-1)" % sh,
    }.get(x.domain)
    if x.domain == "spd" and x.shape:
        n = str(x.shape[0])
        m = "torch.randn(%s)" % sh
        base = "(lambda m: m @ m.T + %s * torch.eye(%s))(%s)" % (n, n, m)
    if base is None:
        return "%s = torch.randn(%s%s)" % (x.name, sh, (", " if sh else "") + "requires_grad=True" if rg else "")
    return "%s = (%s)%s" % (x.name, base, ".requires_grad_()" if rg else "")


def _py(v):
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(_py(a) for a in v)
    return repr(v)


def pytorch_listing(d, sd=None):
    """The spec as a PyTorch script, as in the notebook, with what each step leaves."""
    prob = d.problem
    body, uses_f = [], False
    for name, (sym, val) in prob.dims.items():
        body.append("%s = %s" % (name, val if val is not None else 5))
    for x in prob.inputs:
        body.append(_input_code(x, prob.dims))
    retained = set(prob.retain_grad or ())
    for n in prob.nodes:
        code, f = torch_code(n.text)
        uses_f = uses_f or f
        body.append("%s = %s" % (n.name, code))
        if n.name in retained:
            body.append("%s.retain_grad()" % n.name)
    body.append("")
    leaves = [x.name for x in prob.inputs if x.requires_grad] + [n for n in prob.retain_grad or ()]
    if any(b.kind == "zero_grad" for b in prob.backward or ()):
        zg = ["def zero_grad():                # as optimizer.zero_grad(set_to_none=True)",
              "    for t in (%s%s):" % (", ".join(leaves), "," if len(leaves) == 1 else ""),
              "        t.grad = None", ""]
        body = body[:-1] + [""] + zg
    steps = (sd or {}).get("steps") or []
    inputs = [x.name for x in prob.inputs if x.requires_grad]
    lines = []                                  # (code, comment)
    for k, b in enumerate(prob.backward or ()):
        line = b.call
        if b.kind == "backward" and b.gradient is not None:
            line, f = torch_code(b.call)
            uses_f = uses_f or f
        s = steps[k] if k < len(steps) else None
        if s and s.get("error"):
            e = s["error"]
            lines.append((line, "raises %s" % e.get("type", "an error")))
            lines.append(("# %s: %s" % (e.get("type", "Error"), _short(e.get("message", ""))), None))
            break
        grads = (s or {}).get("grad") if isinstance((s or {}).get("grad"), dict) else None
        comment = None
        if grads is not None:
            have = ["%s.grad = %s" % (x, grads[x]) for x in inputs if grads.get(x) is not None]
            keep = []
            for h in have:
                if len(", ".join(keep + [h])) > 64 and keep:
                    break
                keep.append(h)
            comment = (", ".join(keep) + (", ..." if len(keep) < len(have) else "")) if keep else None
        lines.append((line, comment))
    width = max([len(c) for c, m in lines if m] or [0])
    for c, m in lines:
        body.append("%s   # %s" % (c.ljust(width), m) if m else c)
    head = ["import torch"]
    if uses_f:
        head.append("import torch.nn.functional as F")
    head += ["", "torch.set_default_dtype(torch.float64)", ""]
    if sd and sd.get("grad") and not any(s.get("error") for s in steps):
        body.append("")
        for name, v in sd["grad"].items():
            if v is not None:
                body.append("print(%s.grad)   # %s" % (name, v))
    return "\n".join(head + body).rstrip() + "\n"


def _short(msg, n=110):
    msg = " ".join(str(msg).split())
    return msg if len(msg) <= n else msg[:n - 3].rstrip() + "..."


# --- the numeric check ----------------------------------------------------------------

def check_section(check):
    if check is None:
        return None
    rows = []
    for r in check.rows:
        kind = getattr(r, "kind", "autograd")
        rows.append({
            "what": ("d%s/d%s" % (r.output, r.wrt)) if kind == "autograd" else "gradcheck %s wrt %s" % (r.output, r.wrt),
            "output": r.output, "wrt": r.wrt, "device": r.device, "dtype": r.dtype, "kind": kind,
            "abs": "—" if kind != "autograd" else "%.2e" % r.max_abs_err,
            "rel": "—" if kind != "autograd" else "%.2e" % r.max_rel_err,
            "passed": r.passed, "message": r.message or "",
        })
    sched = []
    for r in getattr(check, "schedule_rows", None) or []:
        try:
            x = r.to_dict()
        except Exception:
            x = {}
        what = x.get("what")
        if what == "step":
            subject = "step %s: %s" % (x.get("step"), x.get("call"))
        elif what == "grad":
            subject = "%s.grad" % x.get("tensor")
        elif what == "flags":
            subject = "requires_grad, is_leaf"
        elif what:
            subject = str(what)
        else:
            subject = str(r)
        passed = x.get("passed", getattr(r, "passed", None))
        detail = x.get("message") or x.get("expected") or ""
        if passed is False:
            detail = "predicted %s, PyTorch: %s" % (x.get("expected"), x.get("got"))
        sched.append({"what": subject, "detail": str(detail), "passed": passed})
    return {"devices": ", ".join(check.devices), "dtype": check.dtype, "rows": rows,
            "schedule": sched, "schedule_passed": getattr(check, "schedule_passed", None),
            "passed": check.passed}
