"""What PyTorch's autograd does with the spec's ``backward`` schedule, for the notes.

The prediction is ``symgrad.autograd.schedule``'s (``Derivation.schedule``) and the numbers
are the schedule proof's own replay (``symgrad.notes.numbers``); this module only tells
them, step by step:

* the backward graph each ``o.backward()`` runs (``symgrad.notes.graphs``): the nodes
  PyTorch recorded, what each saved, which the step frees;
* the ``.grad`` of every tensor that holds one, as the closed form and as PyTorch prints
  it -- an accumulation written as the sum it is (``a + 4a = 5a``, and the tensors too);
* a step that raises: PyTorch's real error next to the fix;
* why each ``retain_graph=True`` is there (the same schedule without it, predicted), the
  one-call alternative (``(d + e).backward()``, replayed), and the leaf / non-leaf lesson.

A missing or failing schedule module is tolerated: the notes then say the prediction is
unavailable.
"""
from sympy import Add

from ..diff.simplify import tidy
from ..printing import to_text
from .exercises import explained
from .graphs import backward_graph
from .latex import aligned, name_tex, tex
from .listing import pytorch_listing
from .numbers import fmt, labelled
from .text import Rich

# A step's .grad formula longer than this (LaTeX characters) is not shown (its values are);
# the table after the schedule names a .grad longer than TABLE_TEXT characters by its step.
STEP_FORM = 400
TABLE_TEXT = 60

SECOND_BACKWARD = "backward through the graph a second time"
IMPLICIT = "implicitly created only for scalar outputs"
NO_GRAD = "does not require grad"


def autograd_section(d, info, num):
    prob = d.problem
    if prob.backward is None:
        return None
    unavailable, sched = None, None
    try:
        sched = d.schedule
    except Exception as e:           # the prediction is not available: say so, keep the notes
        unavailable = "%s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
    raised_at = getattr(sched, "raised_at", None)
    out = {"code": pytorch_listing(d, num, raised_at), "unavailable": unavailable, "steps": [],
           "grads": [], "no_grad": [], "lessons": [], "alternative": None}
    if sched is None:
        return out
    freed = set()
    prev = {}                                    # name -> closed form before the step
    named = {}
    for k, s in enumerate(sched.steps):
        snap = num.steps[k] if num and k < len(num.steps) else None
        before = (num.steps[k - 1] if k else {}) if num and k <= len(num.steps) else None
        item = {"n": k + 1, "call": s.call, "kind": s.kind, "ran": s.ran, "error": None, "graph": None,
                "grads": [], "frees": [], "printed": None}
        out["steps"].append(item)
        if not s.ran:
            break
        if s.kind == "zero_grad":
            prev, named = {}, {}
            continue
        added = None
        if snap is not None and before is not None:
            added = {n: (v if before.get(n) is None else v - before[n]) for n, v in snap.items() if v is not None}
        item["graph"] = backward_graph(sched, s, freed, added) if s.executed else None
        if s.error:
            item["error"] = _error(d, s, num)
            break
        item["frees"] = [Rich().c(n.name).t(" (%s)" % ", ".join("%s=%s" % (f, w or "?") for f, w in n.saved))
                         for n in s.frees if n.saves]
        freed |= set(s.frees)
        lines, rows = [], []
        for name in sched.names:
            after = s.grad.get(name)
            if after is None:
                continue
            add = _named_added(d, s, name)
            old = prev.get(name)
            total = tidy(Add(old, add)) if old is not None and add is not None else (add if add is not None else after)
            parts = [tex(total)]
            if old is not None and add is not None:
                parts.insert(0, " + ".join(_p(tex(x)) for x in (old, add)))
            forms = [f for f in dict.fromkeys(parts) if len(f) <= STEP_FORM]
            step = prob.backward[s.index - 1]
            is_result = old is None and name in prob.wrt and step.gradient is None and s.output in prob.outputs
            rows.append((r"%s.\mathtt{grad}" % name_tex(name), forms or [r"\text{(long: see the values)}"],
                         is_result))
            named[name] = total
            if snap is not None and snap.get(name) is not None:
                lines.append(_value_lines(name, snap, before, old is not None and add is not None))
        if all(r[2] for r in rows):                 # the results above are not repeated alone
            rows = []
        item["grads"] = aligned([r[:2] for r in rows]) if rows else None
        item["printed"] = "\n".join(lines) if lines else None
        prev = dict(named)
    final, why = sched.grad, sched.why_none
    last = {}
    for st in sched.steps:
        if st.ran and not st.error and st.kind == "backward":
            for name in st.grad:
                if st.grad[name] is not None:
                    last[name] = st.index
    for name, t in info.items():
        rg, leaf, gf = sched.flags.get(name, (t["requires_grad"], t["is_leaf"], None))
        if not rg:
            out["no_grad"].append(name)
            continue
        v = final.get(name)
        value = None
        if v is not None:
            e = prev.get(name)
            same = [g for g in d.gradients if e is not None and g.form == e and g.wrt == name]
            text = to_text(e) if e is not None else sched.text(name)
            value = ("d%s/d%s" % (same[0].output, name)) if same else (
                text if len(text) <= TABLE_TEXT else "a tensor: see step %d" % last.get(name, 0))
        w = why.get(name, "")
        if v is None and not leaf and not sched.autograd.values[name].retains_grad:
            w = "a non-leaf without retain_grad()"
        out["grads"].append({"name": name, "tex": name_tex(name), "grad_fn": gf, "is_leaf": leaf,
                             "requires_grad": rg, "value": value, "why": "" if v is not None else w})
    if raised_at:
        out["lessons"].append(Rich().t("The schedule stops at step %d: PyTorch raised there, and the "
                                       "table shows the gradients after the last step that completed." % raised_at))
    out["lessons"] += _retain_graph_lessons(d, sched)
    out["lessons"] += _leaf_lessons(d, info)
    out["alternative"] = alternative(d, sched, num)
    return out


def _named_added(d, s, name):
    """What step s adds to name.grad, in the derivation's named adjoints where it is one of
    its gradients (a scalar output's backward() into an input), else the schedule's form."""
    prob = d.problem
    step = prob.backward[s.index - 1]
    if step.gradient is None and name in prob.wrt and s.output in prob.outputs:
        try:
            g = d.gradient(s.output, name)
        except Exception:
            g = None
        if g is not None and not g.upstream:
            return g.form
    return _constant_part(s.added.get(name))


def _constant_part(e):
    """``c*ones_like(b)`` as ``c``: a constant adjoint reads as the number it is everywhere."""
    from ..ops.shape import OnesLikeOp
    if e is None:
        return e
    c, rest = e.as_coeff_Mul()
    return c if isinstance(rest, OnesLikeOp) else e


def _p(s):
    return r"\left(%s\right)" % s if (" + " in s or " - " in s) else s


def _value_lines(name, snap, before, accumulates):
    head = "%s.grad" % name
    if accumulates and before is not None and before.get(name) is not None:
        w = len(head) + 3
        return "\n".join([labelled(head + " = ", fmt(before[name])),
                          labelled(" " * (w - 2) + "+ ", fmt(snap[name] - before[name])),
                          labelled(" " * (w - 2) + "= ", fmt(snap[name]))])
    return labelled(head + " = ", fmt(snap[name]))


def _error(d, s, num):
    err = s.error
    real = None
    if num and num.error is not None and num.error[0] == s.index:
        real = num.error[-1]
    return {"type": err.type, "message": err.message, "real": real,
            "why": _error_why(d, s, err), "fix": err.fix,
            "agrees": None if real is None else _kind(real) == err.kind}


def _kind(message):
    from ..autograd.refusals import error_kind
    return error_kind(message)


def _error_why(d, s, err):
    r = Rich()
    if getattr(err, "explanation", None):
        r = explained(str(err.explanation))
    else:
        r.extend(explain_error(d, s, err.to_dict()))
    return r


# --- the one-call alternative ------------------------------------------------------------------

def alternative(d, sched, num):
    """``(d + e).backward()`` for the backward calls since the last ``zero_grad()``: one pass,
    nothing to retain, the same ``.grad`` -- predicted from the closed forms, then replayed."""
    prob = d.problem
    run = []
    for b in prob.backward:
        if b.kind == "zero_grad":
            run = []
        else:
            run.append(b)
    if len(run) < 2 or any(b.gradient is not None for b in run):
        return None
    outs = [b.output for b in run]
    if any(o not in prob.outputs for o in outs) or any(sched.flags.get(o, (False,))[0] is False for o in outs):
        return None
    wrt = [x for x in prob.wrt]
    call = "(%s).backward()" % " + ".join(outs)
    predicted = {}
    for x in wrt:
        try:
            forms = [d.gradient(o, x).expr for o in outs]
        except Exception:
            return None
        predicted[x] = tidy(Add(*forms))
    item = {"call": call, "grads": [{"name": x, "tex": name_tex(x), "math": tex(e)} for x, e in predicted.items()],
            "replayed": None, "raises": bool(sched.raised_at), "calls": len(run)}
    if num:
        got, err = num.combined(outs)
        if err is None:
            checks = [num.agrees(predicted[x], got.get(x)) for x in wrt]
            item["replayed"] = {"passed": all(ok for ok, _ in checks),
                                "printed": "\n".join(labelled("%s.grad = " % x, fmt(got.get(x))) for x in wrt)}
        else:
            item["replayed"] = {"passed": False, "printed": "raises: " + err}
    return item


# --- lessons ----------------------------------------------------------------------------------------

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
            r.t("a backward pass frees the tensors the graph saved for it unless told to keep them. "
                "Without it, step %d, " % (j + 1)).c(prob.backward[j].call).t(
                ", would run through the freed part of the graph and raise ").c("RuntimeError").t(
                ": %s." % msg.split(". ")[0].rstrip("."))
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
            " holds its adjoint, summed over the backward calls.")
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
        o = getattr(b, "output", None) or "the output"
        r.c(o).t(" is not a scalar, so PyTorch cannot assume an upstream gradient of 1. Pass one "
                 "of its shape: ").c("%s.backward(gradient=torch.ones_like(%s))" % (o, o)).t(
            " gives the gradient of ").c("%s.sum()" % o).t(".")
    elif NO_GRAD in msg or "grad_fn" in msg:
        r.t("nothing that ").c(getattr(b, "output", None) or "it").t(" depends on requires grad, so it has no ").c(
            "grad_fn").t(" and there is nothing to backpropagate.")
    else:
        r.t(msg)
    return r
