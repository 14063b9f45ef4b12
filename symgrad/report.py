"""The JSON report (SPEC §5) and the terminal summary of a derivation.

Both quote the spec (title, names, node text, backward steps) and go to a terminal as
often as to a file, so neither lets a control character through: the summary shows
each as its Python escape (``\\x1b``, ``\\n``), and the JSON writes every character
that is not printable as a ``\\uXXXX`` escape -- the same data, read back by any parser.
"""
import json

from .notes.text import terminal
from .printing import to_text
from .version import __version__


def to_dict(d, check=None):
    sched = d.schedule
    return {
        "symgrad": __version__,
        "title": d.title,
        "tensors": d.tensor_info(),
        "outputs": list(d.problem.outputs),
        "wrt": list(d.problem.wrt),
        "adjoints": [a.to_dict() for o in d.problem.outputs for a in d.adjoints(o).values()],
        "gradients": [g.to_dict() for g in d.gradients],
        "hessians": [h.to_dict() for h in d.hessians],
        "schedule": sched.to_dict() if sched is not None else None,
        "check": check.to_dict() if check is not None else None,
    }


def to_json(d, check=None):
    text = json.dumps(to_dict(d, check), indent=2, ensure_ascii=False)
    if not text.replace("\n", "").isprintable():
        # json.dumps escapes C0 controls but leaves DEL, the C1 controls (\x9b alone starts
        # an escape sequence) and invisible format characters raw
        text = "".join(c if c.isprintable() or c == "\n" else _json_escape(c) for c in text)
    return text + "\n"


def _json_escape(c):
    o = ord(c)
    if o <= 0xFFFF:
        return "\\u%04x" % o
    o -= 0x10000
    return "\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF))


def summary(d, check=None):
    """What a person wants to read in a terminal: the closed forms, flags, schedule, verdict."""
    title = terminal(d.title)
    lines = [title, "=" * min(len(title), 79), ""]
    info = d.tensor_info()
    lines.append("tensors:")
    for name, t in info.items():
        shape = "[" + ", ".join(str(s) for s in t["shape"]) + "]"
        desc = ("= " + t["expr"]) if t["kind"] == "node" else "input"
        lines.append("  %-8s %-12s %-22s requires_grad=%s is_leaf=%s"
                     % (name, shape, desc, t["requires_grad"], t["is_leaf"]))
    lines += ["", "gradients:"]
    for o in d.problem.outputs:
        adjoints = d.adjoints(o)
        width = max((len(n) for n in adjoints), default=0)
        for name, a in adjoints.items():
            lines.append("  %-*s = %s   # %s" % (width, name, a.text, "[" + ", ".join(map(str, a.shape)) + "]"))
    for g in d.gradients:
        tag = "" if not g.upstream else "   (vector-Jacobian product with %s)" % g.upstream
        lines.append("  d%s/d%s = %s%s" % (g.output, g.wrt, g.text, tag))
    if d.hessians:
        lines += ["", "hessians:"]
    for h in d.hessians:
        f, x, y = (h.output,) + h.wrt
        for name, shape, value in h.adjoints():
            lines.append("  %s = %s   # [%s]" % (name, to_text(value), ", ".join(map(str, shape))))
        shape = "[%s]" % ", ".join(map(str, h.shape))
        lines.append("  d2%s/d%s d%s = %s   # %s" % (f, x, y, h.text, shape) if h.text is not None
                     else "  d2%s/d%s d%s: %s" % (f, x, y, h.error))
        if h.hvp_text is not None:
            lines.append("  d/d%s (d%s/d%s . %s) = %s" % (y, f, x, h.direction, h.hvp_text))
        if h.structure:
            lines.append("    (%s)" % h.structure)
    sched = d.schedule
    if sched is not None:
        lines += ["", "autograd schedule:"]
        lines += ["  " + s for s in sched.summary_lines()]
    if check is not None:
        lines += ["", "check (%s, %s):" % (", ".join(check.devices), check.dtype)]
        compact = len(check.devices) == 1
        for r in check.rows:
            lines.append("  " + row_line(r, compact))
        for r in check.schedule_rows:
            lines.append("  " + r.line(compact))
        lines.append("  => %s" % ("PASS" if check.passed else "FAIL"))
    return "\n".join(terminal(line) for line in lines) + "\n"


SECOND_KINDS = {"hessian": "d2%s/d%s d%s", "hvp": "hvp d2%s/d%s d%s", "fd-hessian": "fd d2%s/d%s d%s"}


def row_line(r, compact=False):
    """One line of the check for a terminal (control characters shown as escapes)."""
    return terminal(_row_line(r, compact))


def _row_line(r, compact=False):
    what = "d%s/d%s" % (r.output, r.wrt) if r.kind == "autograd" else "fd %s wrt %s" % (r.output, r.wrt)
    if r.kind in SECOND_KINDS:
        what = SECOND_KINDS[r.kind] % ((r.output,) + tuple(r.wrt))
        if r.kind == "fd-hessian":
            return "%-4s %-24s %-5s %-8s finite differences%s" % (
                "ok" if r.passed else "FAIL", what, r.device, r.dtype, " (%s)" % r.message if r.message else "")
    verdict = "ok" if r.passed else "FAIL"
    msg = (" (%s)" % r.message) if r.message else ""
    if compact and r.kind != "fd":
        return "%-4s %-16s max abs err %.3g, max rel err %.3g%s" % (
            verdict, what, r.max_abs_err, r.max_rel_err, msg)
    if r.kind == "fd":
        return "%-4s %-24s %-5s %-8s gradcheck%s" % (verdict, what, r.device, r.dtype, msg)
    return "%-4s %-24s %-5s %-8s max abs err %.3g  max rel err %.3g%s" % (
        verdict, what, r.device, r.dtype, r.max_abs_err, r.max_rel_err, msg)
