"""What PyTorch's autograd does with the spec's ``backward`` schedule, for the notes.

The prediction itself is ``symgrad.autograd.schedule``'s (``Derivation.schedule``); this module
only tells it: the spec as a PyTorch script (as in the notebook), what each step leaves
in ``.grad``, why a step raises and what fixes it, why each ``retain_graph=True`` is
there (the same schedule without it, predicted), and the leaf / non-leaf lesson.  It
reads the schedule through ``to_dict()`` and tolerates a missing or failing schedule
module: the notes then say the prediction is unavailable.
"""
import re

from .latex import name_tex
from .text import CELL_MAX, Rich, ellipsize, torch_code

# Lines of the PyTorch listing are broken after commas beyond this length.
LISTING_WIDTH = 88

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
            grads.append({"name": name, "tex": name_tex(name),
                          "value": ellipsize(v, CELL_MAX) if v is not None else None,
                          "grad_fn": f.get("grad_fn"), "is_leaf": f.get("is_leaf", t["is_leaf"]),
                          "requires_grad": f.get("requires_grad", t["requires_grad"]),
                          "why": "" if v is not None else why.get(name, "")})
        if sd.get("raised_at"):
            lessons.append(Rich().t("The schedule stops at step %d: PyTorch raised there, and the "
                                    "table shows the gradients after the last step that completed."
                                    % sd["raised_at"]))
        lessons += _retain_graph_lessons(d, sched)
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


def _retain_graph_lessons(d, sched):
    """Why each retain_graph=True is there: what the same schedule would do without it."""
    prob = d.problem
    last = max((k for k, b in enumerate(prob.backward) if b.kind == "backward"), default=-1)
    freed_at = {}                              # backward node -> first step that freed it
    for k, s in enumerate(getattr(sched, "steps", None) or []):
        for n in s.frees:
            freed_at.setdefault(n, k)
    out = []
    for k, b in enumerate(prob.backward):
        if not (b.kind == "backward" and b.retain_graph) or k >= last:
            continue
        alt = _raise_without_retain(sched, k, freed_at)
        r = Rich().t("Why ").c("retain_graph=True").t(" in step %d: " % (k + 1))
        if alt is not None and alt[0] is not None:
            j, msg = alt
            r.t("a backward pass frees the tensors the graph saved for it (the inputs of ")
            r.t("products and powers, for instance) unless told to keep them. Without it, step "
                "%d, " % (j + 1)).c(prob.backward[j].call).t(", would run through the freed part "
                                                            "of the graph and raise ").c(
                "RuntimeError").t(": %s." % msg.split(". ")[0].rstrip("."))
        elif alt is not None:
            r.t("here it is not needed: the later steps run no node whose saved tensors step "
                "%d would free, so the schedule would pass without it too." % (k + 1))
        else:
            r.t("it keeps the saved tensors of the graph for the backward calls that follow.")
        out.append(r)
    return out


def _raise_without_retain(sched, k, freed_at):
    """(the 0-based step that would raise, PyTorch's message) if step k dropped
    retain_graph=True -- (None, None) if none would -- or None without the records."""
    steps = getattr(sched, "steps", None)
    if not steps or k >= len(steps):
        return None
    try:
        from ..autograd.refusals import FREED_MESSAGE
        if not steps[k].ran or steps[k].error:     # it raises anyway: so would the schedule
            j = next(i for i in range(k + 1) if steps[i].error)
            return j, steps[j].error.message
        saved = {n for n in steps[k].executed if n.saves}
        for j in range(k + 1, len(steps)):
            s = steps[j]
            if not s.ran:
                break
            for n in s.executed:                   # the engine's order: the first that fails
                if n.not_implemented:
                    return j, n.not_implemented
                if n.saves and (n in saved or freed_at.get(n, j) < j):
                    return j, FREED_MESSAGE
            if s.error:                             # a refusal before any node runs
                return j, s.error.message
        return None, None
    except (AttributeError, StopIteration, ImportError):
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
        return _wrapped("%s = torch.tensor(" % x.name, _py(x.value),
                        "%s)" % (", requires_grad=True" if rg else ""))
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


def _wrapped(head, body, tail, width=LISTING_WIDTH):
    """head + body + tail, broken after the commas of body (inside brackets, so still Python)
    when it is longer than width."""
    if len(head) + len(body) + len(tail) <= width:
        return head + body + tail
    indent = " " * len(head)
    lines, cur = [], head
    for piece in re.split(r"(?<=,) ", body):
        if len(cur) + len(piece) > width and cur.strip() and cur != head:
            lines.append(cur.rstrip())
            cur = indent
        cur += piece + " "
    lines.append(cur.rstrip() + tail)
    return "\n".join(lines)


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
