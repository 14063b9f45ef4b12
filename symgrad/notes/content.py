"""The lecture notes as data: every section built once from a `Derivation`, format-neutral.

`notes(d, check)` returns a plain dict that the Markdown, LaTeX and HTML templates lay out
(``templates/notes.{md,tex,html}.j2``): formulas are LaTeX strings (KaTeX, pdflatex, and
``symgrad.notes.mathml`` for the web page all read them), prose is `Rich` text, graphs are
boxes and edges (``symgrad.notes.graphs``), values are PyTorch's prints
(``symgrad.notes.numbers``).  The body is a lecture of a few pages:

1. the computation: each tensor's definition, shape, flags and value, and the forward
   graph with values and gradients on its nodes;
2. backpropagation in named adjoints, one line each (``symgrad.notes.sweep``), and the
   results;
3. what PyTorch's autograd does with the ``backward`` schedule, step by step, with the
   backward graph of each call (``symgrad.notes.autograd``);
4. exercises (``symgrad.notes.exercises``);

and the appendix holds what a reader looks up: index notation, the numeric check, and the
answers to the exercises.
"""
from .autograd import autograd_section
from .exercises import exercises
from .forward import forward_graph
from .latex import aligned, entry, index_letters, name_tex, shape_plain, shape_tex, tex, tex_index, visible_len
from .numbers import Unavailable, fmt_live, labelled, numbers, short
from .sweep import derivation_section, results
from .text import CELL_MAX, Rich, ellipsize, one_line_code

# An index form longer than this (LaTeX characters) is not shown: the matrix form says it.
INDEX_MAX = 600
# ... nor one wider than this (characters as printed): it would shrink past reading.
INDEX_WIDE = 100
# Forward definitions expanded in terms of the inputs when at most this many operations.
EXPAND_OPS = 12
# At most this many definitions in one display.
ROWS_PER_DISPLAY = 12
# Titles longer than this (characters) are shortened with an ellipsis.
TITLE_MAX = 300
# Forward values printed in full (PyTorch's print) for at most this many tensors.
VALUES_MAX = 12
# A large model: more tensors than this, or more characters than this in the spec-language
# results together.  Its notes stay short: results in small type, values on one line each,
# index forms only when short (the rest are named, see the matrix form).
LARGE_TENSORS = 20
LARGE_TEXT = 600
# The index forms of a large model: at most this long (LaTeX characters), with at most this
# many fractions (nested ones make a form several lines tall).
INDEX_MAX_LARGE = 160
FRACS_LARGE = 1


def definition(text):
    """A node's text as the tensors table shows it: one line, without comments, not too long."""
    return ellipsize(one_line_code(text), CELL_MAX)


def is_large(d, info=None):
    """Whether the notes of d are for a large model (many tensors or long closed forms)."""
    info = d.tensor_info() if info is None else info
    return len(info) > LARGE_TENSORS or sum(len(g.text or "") for g in d.gradients) > LARGE_TEXT


def notes(d, check=None, with_numbers=True):
    """Everything the templates show, in reading order (``with_numbers=False``: no PyTorch)."""
    prob = d.problem
    info = d.tensor_info()
    large = is_large(d, info)
    num = numbers(d, check) if with_numbers else Unavailable(
        "--no-check runs no PyTorch; derive without it to see the values")
    out = {
        "title": ellipsize(d.title, TITLE_MAX),
        "description": prob.description or "",
        "numbers": _numbers_note(d, num),
        "tensors": tensors_section(d, info, num),
        "dims": [{"name": name, "tex": name_tex(name), "value": val}
                 for name, (sym, val) in prob.dims.items()],
        "graph": forward_graph(d, info, num),
        "derivations": [derivation_section(d, o) for o in prob.outputs],
        "closed_forms": results(d, num, with_values=prob.backward is None),
        "results_printed": None,
        "autograd": autograd_section(d, info, num),
        "exercises": exercises(d, num),
        "large": large,
        "index": index_section(d, large),
        "check": check_section(check, d),
        "second_order": second_order(d),
    }
    values = [labelled("d%s/d%s = " % (c["output"], c["wrt"]), _one_line(num, c) if large else c["value"])
              for c in out["closed_forms"] if c["value"]]
    out["results_printed"] = "\n".join(values) or None
    out["outputs"] = [{"name": o, "tex": name_tex(o)} for o in prob.outputs]
    out["wrt"] = [{"name": x, "tex": name_tex(x)} for x in prob.wrt]
    return out


def _one_line(num, c):
    """A result's value in a few entries (a large model's results), or its note when it has none."""
    v = num.grads.get(c["output"], {}).get(c["wrt"]) if num else None
    return c["value"] if v is None else short(v)


def _numbers_note(d, num):
    if not num:
        return {"available": False, "text": Rich().t("The notes show no numbers here (%s)." % num.reason)}
    r = Rich()
    if num.source == "value":
        r.t("The numbers are PyTorch's, on the inputs' ")
        r.c("value").t("s from the spec")
    else:
        r.t("The numbers are PyTorch's, on inputs ")
        if num.source == "both":
            r.t("given by ").c("value").t(" where the spec has one, the others ")
        r.t("drawn with seed %d from each input's domain (the inputs of the numeric check; the "
            "listing below draws the same ones)" % num.seed)
    r.t(", in float64. Boxes of the graph show each value (green) and the gradient of the output (red)")
    upstreams = sorted({g.upstream for g in d.gradients if g.upstream})
    if upstreams:
        r.t(" -- for a non-scalar output, its vector–Jacobian product with the check's random ")
        for k, s in enumerate(upstreams):
            r.t(", " if k else "").c(s)
    r.t(".")
    return {"available": True, "text": r}


def tensors_section(d, info, num):
    prob = d.problem
    retained = set(prob.retain_grad or ())
    rows = []
    for name, t in info.items():
        note = []
        if t["kind"] == "input" and t.get("domain", "real") != "real":
            note.append(t["domain"])
        if "dtype" in t:
            note.append("dtype: %s%s" % (t["dtype"], ", values in [0, %s)" % t["high"] if "high" in t else ""))
        if name in retained:
            note.append("retain_grad()")
        if name in prob.outputs:
            note.append("output")
        node = prob.node(name) if t["kind"] == "node" else None
        rows.append({
            "name": name, "tex": name_tex(name), "kind": t["kind"],
            "shape": shape_plain(t["shape"]), "shape_tex": shape_tex(t["shape"]),
            "definition": definition(t.get("expr", "")),
            "math": tex(node.expr) if node is not None else None,
            "requires_grad": t["requires_grad"], "is_leaf": t["is_leaf"], "note": ", ".join(note),
            "value": short(num.forward.get(name)) if num else None,
        })
    values = None
    if num and len(info) <= VALUES_MAX:
        values = "\n".join("%s = %s" % (n, fmt_live(num.env.get(n)).replace("\n", "\n" + " " * (len(n) + 3)))
                           for n in info if n in num.env and _small(num.env[n]))
    return {"rows": rows, "printed": values or None}


def _small(t):
    try:
        return t.numel() <= 8
    except AttributeError:
        return True


# --- appendix: index notation -------------------------------------------------------------------

def _avoid(d):
    """One-letter names of dims and tensors: never an index letter."""
    prob = d.problem
    names = list(prob.dims) + [x.name for x in prob.inputs] + [n.name for n in prob.nodes]
    return {n for n in names if len(n) == 1}


def _ops(e, memo):
    """Operations in the tree of e, each node definition counted with its own size (DAG walk)."""
    k = memo.get(e)
    if k is None:
        k = memo[e] = 1 + sum(_ops(a, memo) for a in e.args) if e.args else 0
    return k


def index_section(d, large=False):
    """Forward definitions and gradients entry by entry; summation letters avoid dim names.

    For a large model only the short forms, none expanded in the inputs; ``omitted`` names
    the tensors and gradients whose form is left to the matrix form."""
    prob = d.problem
    avoid = _avoid(d)
    most = INDEX_MAX_LARGE if large else INDEX_MAX
    full, memo, rows, omitted = {}, {}, [], []
    sizes = {}
    for n in prob.nodes:
        idx = index_letters(len(n.symbol.tshape), avoid)
        lhs = entry(name_tex(n.name), idx)
        forms = [_index(n.expr, idx, avoid, most)]
        size = _ops(n.expr, memo) + sum(sizes.get(t, 0) for t in n.expr.free_symbols)
        sizes[n.symbol] = size
        subs = {k: v for k, v in full.items() if k in n.expr.free_symbols and v is not k}
        e = n.expr
        if subs and size <= EXPAND_OPS and not large:
            try:
                e = n.expr.xreplace(subs)
                forms.append(_index(e, idx, avoid, most))
            except Exception:
                e = n.expr
        full[n.symbol] = e if size <= EXPAND_OPS else n.symbol
        if large and not any(forms):
            omitted.append(name_tex(n.name))
            continue
        rows.append((lhs, [f for f in forms if f] or [r"\text{(see the matrix form)}"]))
    grads = []
    for g in d.gradients:
        idx = index_letters(len(g.shape), avoid)
        xt, ot = name_tex(g.wrt), name_tex(g.output)
        lhs = entry(r"\bar{%s}" % xt if len(xt) == 1 else r"\overline{%s}" % xt, idx) if g.upstream else \
            r"\frac{\partial %s}{\partial %s}" % (ot, entry(xt, idx))
        f = _index(g.form, idx, avoid, most)
        if large and not f:
            omitted.append(lhs if g.upstream else r"\partial %s / \partial %s" % (ot, xt))
            continue
        grads.append((lhs, [f] if f else [r"\text{(see the matrix form)}"]))
    return {"forward": [aligned(rows[k:k + ROWS_PER_DISPLAY]) for k in range(0, len(rows), ROWS_PER_DISPLAY)],
            "gradients": [aligned(grads[k:k + ROWS_PER_DISPLAY]) for k in range(0, len(grads), ROWS_PER_DISPLAY)],
            "omitted": omitted}


def _index(e, idx, avoid, most=INDEX_MAX):
    try:
        s = tex_index(e, idx, avoid)
    except Exception:
        return None
    if most == INDEX_MAX_LARGE and s.count(r"\frac") > FRACS_LARGE:
        return None
    return s if len(s) <= most and visible_len(s) <= INDEX_WIDE else None


# --- second order (SPEC 11): shown when the problem asks for Hessians and the API gives them ----

def second_order(d):
    wanted = getattr(d.problem, "hessians", None)
    if not wanted or not hasattr(d, "hessian"):
        return None
    rows = []
    for h in wanted:
        f, x = h[0], h[1]
        y = h[2] if len(h) > 2 else None
        try:
            H = d.hessian(f, x, y)
        except Exception as e:
            rows.append({"what": "d²%s/d%s d%s" % (f, x, y or x), "math": None, "text": None,
                         "error": ellipsize(str(e), CELL_MAX)})
            continue
        lhs = r"\frac{\partial^2 %s}{\partial %s\,\partial %s}" % (name_tex(f), name_tex(x), name_tex(y or x))
        rows.append({"what": "d²%s/d%s d%s" % (f, x, y or x), "math": "%s = %s" % (lhs, H.latex),
                     "text": H.text, "hvp": getattr(H, "hvp_text", None), "error": None})
    return rows


# --- the numeric check ----------------------------------------------------------------------------

def check_section(check, d=None):
    if check is None:
        return None
    upstreams = {(g.output, g.wrt): g.upstream for g in (d.gradients if d is not None else ())}
    rows = []
    for r in check.rows:
        kind = getattr(r, "kind", "autograd")
        wrt = r.wrt if isinstance(r.wrt, str) else tuple(r.wrt)
        if kind == "gradcheck":
            what = "gradcheck %s wrt %s" % (r.output, r.wrt)
        elif kind in ("hessian", "hvp"):            # second order: wrt is (x, y)
            what = "%s of %s wrt %s" % ("Hessian" if kind == "hessian" else "HVP", r.output, ", ".join(wrt))
        elif upstreams.get((r.output, wrt)):          # a vector-Jacobian product, not a d/dx
            what = "%s-bar (VJP with %s)" % (r.wrt, upstreams[(r.output, wrt)])
        else:
            what = "d%s/d%s" % (r.output, r.wrt)
        numeric = kind != "gradcheck"
        rows.append({
            "what": what, "output": r.output, "wrt": r.wrt, "device": r.device, "dtype": r.dtype, "kind": kind,
            "abs_err": "—" if not numeric else "%.2e" % r.max_abs_err,
            "rel_err": "—" if not numeric else "%.2e" % r.max_rel_err,
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
        elif detail.startswith("= ") and "  (" in detail and detail.index("  (") > 32:
            # a long closed form is in the notes already: name it, keep the error
            detail = "the predicted closed form" + detail[detail.index("  ("):]
        sched.append({"what": ellipsize(subject, CELL_MAX), "detail": ellipsize(detail, CELL_MAX),
                      "passed": passed})
    return {"devices": ", ".join(check.devices), "dtype": check.dtype, "rows": rows,
            "schedule": sched, "schedule_passed": getattr(check, "schedule_passed", None),
            "passed": check.passed}


def closed_forms_latex(d):
    """(matrix lhs, matrix form, index lhs, index form) of each gradient, for ``_repr_latex_``."""
    avoid = _avoid(d)
    out = []
    for g in d.gradients:
        idx = index_letters(len(g.shape), avoid)
        xt, ot = name_tex(g.wrt), name_tex(g.output)
        lhs = r"\frac{\partial %s}{\partial %s}" % (ot, xt) if not g.upstream else r"\bar{%s}" % xt
        lhs_i = r"\frac{\partial %s}{\partial %s}" % (ot, entry(xt, idx)) if not g.upstream else entry(r"\bar{%s}" % xt, idx)
        out.append((lhs, tex(g.form), lhs_i, _index(g.form, idx, avoid) or tex(g.form)))
    return out
