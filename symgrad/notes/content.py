"""The lecture notes as data: every section built once from a `Derivation`, format-neutral.

`notes(d, check)` returns a plain dict that the Markdown and the LaTeX templates lay out
(``templates/notes.md.j2``, ``templates/notes.tex.j2``): formulas are LaTeX strings that
both KaTeX and pdflatex accept, prose is `Rich` text, and nothing here knows either
output format.  The sections follow a lecture: the tensors, the forward definitions in
matrix and index notation, the graph, the reverse sweep step by step
(``symgrad.notes.sweep``), the closed forms, what PyTorch's autograd does with the
spec's ``backward`` schedule (``symgrad.notes.autograd``), and the numeric check.
"""
from ..printing.index import index_letters
from .autograd import autograd_section
from .latex import aligned, entry, name_tex, shape_plain, shape_tex, tex, tex_index
from .sweep import closed_forms, sweep_section
from .text import CELL_MAX, ellipsize, one_line_code, plain
from ..diff.simplify import size
from ..tensor import Tensor

# Expanded forward definitions longer than this (LaTeX characters, expression nodes) are not shown.
EXPAND_MAX = 140
EXPAND_NODES = 40
# At most this many definitions in one display.
ROWS_PER_DISPLAY = 12
# Titles longer than this (characters) are shortened with an ellipsis.
TITLE_MAX = 300


def definition(text):
    """A node's text as the tensors table shows it: one line, without comments, not too long."""
    return ellipsize(one_line_code(text), CELL_MAX)


# --- the notes ---------------------------------------------------------------------------

def notes(d, check=None):
    """Everything the templates show, in reading order."""
    prob = d.problem
    info = d.tensor_info()
    out = {
        "title": ellipsize(d.title, TITLE_MAX),
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
        if "dtype" in t:
            note.append("dtype: %s%s" % (t["dtype"], ", values in [0, %s)" % t["high"] if "high" in t else ""))
        if name in retained:
            note.append("retain_grad()")
        if name in prob.outputs:
            note.append("output")
        if t["kind"] == "node" and not t["requires_grad"]:
            note.append("constant: needs no gradient")
        rows.append({
            "name": name, "tex": name_tex(name), "kind": t["kind"],
            "shape": shape_plain(t["shape"]), "shape_tex": shape_tex(t["shape"]),
            "definition": definition(t.get("expr", "")), "requires_grad": t["requires_grad"],
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
        if e is not None and e != n.expr and e != n.symbol and size(e) <= EXPAND_NODES:
            try:
                s = tex_index(e, idx)
            except Exception:
                s = None
            if s and len(s) <= EXPAND_MAX:
                ix.append(s)
        rows_i.append((entry(lhs, idx), ix))
    items = [{"name": n.name, "tex": name_tex(n.name), "text": n.text} for n in d.problem.nodes]
    return {"matrix": _chunks(rows_m), "index": _chunks(rows_i), "nodes": items}


def _chunks(rows, n=ROWS_PER_DISPLAY):
    """Aligned blocks of at most n rows: a display never runs past a page."""
    return [aligned(rows[k:k + n]) for k in range(0, len(rows), n)]


# --- the graph -------------------------------------------------------------------------

def graph_section(d, info):
    prob = d.problem
    order = [x.name for x in prob.inputs] + [n.name for n in prob.nodes]
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
            "text": (m if t["kind"] == "input" else "%s = %s" % (m, one_line_code(t["expr"]))),
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


_MERMAID_ENTITIES = {"#": "#35;", "&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;"}


def _mermaid_text(s):
    """Text inside a Mermaid label: entity codes for what Mermaid or HTML would read."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in plain(s))


def mermaid(nodes, edges):
    lines = ["flowchart LR"]
    shapes = {"input": ('(["', '"])'), "constant": ('(["', '"])'), "node": ('["', '"]'),
              "output": ('[["', '"]]')}
    for n in nodes:
        o, c = shapes[n["style"]]
        label = _mermaid_text(n["text"]) + "<br/>" + _mermaid_text(
            n["shape"] + (" · " + n["flags"] if n["flags"] else ""))
        lines.append("  %s%s%s%s:::sg_%s" % (n["id"], o, label, c, n["style"]))
    for e in edges:
        lines.append("  %s --> %s" % (e["src"], e["dst"]))
    lines += [
        "  classDef sg_input fill:#e8f0fe,stroke:#3b5b92;",
        "  classDef sg_constant fill:#f3f3f3,stroke:#999999,stroke-dasharray: 4 3;",
        "  classDef sg_node fill:#ffffff,stroke:#555555;",
        "  classDef sg_output fill:#fff1dc,stroke:#b36b00,stroke-width:2px;",
    ]
    return "\n".join(lines)


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
            "abs_err": "—" if kind != "autograd" else "%.2e" % r.max_abs_err,
            "rel_err": "—" if kind != "autograd" else "%.2e" % r.max_rel_err,
            "passed": r.passed, "message": ellipsize(r.message or "", CELL_MAX),
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
        sched.append({"what": ellipsize(subject, CELL_MAX), "detail": ellipsize(detail, CELL_MAX),
                      "passed": passed})
    return {"devices": ", ".join(check.devices), "dtype": check.dtype, "rows": rows,
            "schedule": sched, "schedule_passed": getattr(check, "schedule_passed", None),
            "passed": check.passed}
