"""Exercises: "predict, then run" questions generated from the spec, each answer proven.

Every question is about what PyTorch does with this spec -- what a ``.grad`` holds after a
step, whether a step raises, what a non-leaf's ``.grad`` is, what happens without a
``retain_graph=True`` or when a loss is backpropagated twice -- and every answer is the
prediction of ``symgrad.autograd.schedule`` (for a what-if, a prediction of the changed
schedule), proven by the same replay in PyTorch that the schedule's proof runs
(``symgrad.notes.numbers``).  An answer that the replay does not confirm says so.
At most `MAX_EXERCISES`, in a fixed order of kinds.
"""
import ast
import copy
import re
from dataclasses import replace

from .latex import name_tex, tex
from .numbers import fmt
from .text import Rich

MAX_EXERCISES = 4


def exercises(d, num):
    """[{n, question, answer, math, values, proof, passed}] (questions first, answers at the end)."""
    prob = d.problem
    try:
        sched = d.schedule
    except Exception:
        sched = None
    found = []
    if sched is not None:
        found += _raising(d, sched, num) + _accumulation(d, sched, num) + _without_retain(d, sched, num) \
            + _non_leaf(d, sched, num)
    elif prob.outputs:
        found += _twice(d, num)
    found += _closed_form(d, num)
    out = []
    for k, ex in enumerate(found[:MAX_EXERCISES], 1):
        ex["n"] = k
        out.append(ex)
    return out


def _ex(question, answer, proof=None, passed=None, math=None, values=None):
    return {"question": question, "answer": answer, "math": math, "printed": values,
            "proof": proof, "passed": passed}


def _replayed(ok, what="the replay in PyTorch"):
    if ok is None:
        return Rich().t("Not replayed: the numbers are unavailable here.")
    return Rich().t(("Proven by %s: it agrees." if ok else "%s does NOT agree with this prediction.") % what)


def _raising(d, sched, num):
    if not sched.raised_at:
        return []
    s = sched.steps[sched.raised_at - 1]
    q = Rich().t("Run the schedule. Which step raises, and why?")
    a = Rich().t("Step %d, " % s.index).c(s.call).t(", raises ").c(s.error.type).t(
        ": %s. Fix: " % s.error.message.split(". ")[0].rstrip(".")).c(s.error.fix).t(".")
    ok = None
    if num:
        ok = num.error is not None and num.error[0] == s.index and _kind(num.error[-1]) == s.error.kind
    return [_ex(q, a, _replayed(ok), ok)]


def _raises(e):
    """The explanation of a predicted error, then PyTorch's words."""
    why = str(e.explanation)
    r = explained(why[:1].upper() + why[1:]).t(" ")
    return r.t("PyTorch raises ").c(e.type).t(": %s." % e.message.split(". ")[0].rstrip("."))


# calls, backward nodes and keywords that an explanation writes as plain words
_CODE = re.compile(r"`([^`]*)`|(\b\w+\.\w+\((?:\w+=\w+)?\)|\b[A-Z]\w*Backward\d+\b|\b\w+=(?:True|False)\b)")


def explained(text):
    """An explanation as Rich text: its `code` spans, calls (``e.backward()``), backward
    nodes (``MulBackward0``) and keywords (``retain_graph=True``) as code."""
    r, at = Rich(), 0
    for m in _CODE.finditer(text):
        if m.start() > at:
            r.t(text[at:m.start()])
        r.c(m.group(1) if m.group(1) is not None else m.group(2))
        at = m.end()
    return r.t(text[at:]) if at < len(text) else r


def _kind(msg):
    from ..autograd.refusals import error_kind
    return error_kind(msg)


def _accumulation(d, sched, num):
    prev = {}
    for s in sched.steps:
        if not s.ran or s.error:
            break
        if s.kind == "zero_grad":
            prev = {}
            continue
        for name in sched.names:
            old, add, after = prev.get(name), s.added.get(name), s.grad.get(name)
            if old is not None and add is not None and after is not None:
                q = Rich().t("After step %d, " % s.index).c(s.call).t(", what does ").c(
                    "%s.grad" % name).t(" hold?")
                a = Rich().t("The sum of what the calls since the last ").c("zero_grad()").t(
                    " sent back: gradients accumulate, they are not overwritten:")
                math = "%s.\\mathrm{grad} = %s + %s = %s" % (name_tex(name), _p(tex(old)), _p(tex(add)), tex(after))
                ok, values = _check_grad(num, s.index, name, after)
                return [_ex(q, a, _replayed(ok), ok, math, values)]
        prev = dict(s.grad)
    return []


def _p(s):
    return r"\left(%s\right)" % s if (" + " in s or " - " in s) else s


def _check_grad(num, index, name, expr):
    if not num or index > len(num.steps):
        return None, None
    got = num.steps[index - 1].get(name)
    if got is None:
        return expr is None, None
    ok, _ = num.agrees(expr, got)
    return ok, "%s.grad = %s" % (name, fmt(got).replace("\n", "\n" + " " * (len(name) + 8)))


def without_retain(call):
    """``d.backward(retain_graph=True)`` -> ``d.backward()``, other arguments kept."""
    try:
        tree = ast.parse(call.strip(), mode="eval").body
        tree.keywords = [k for k in tree.keywords if k.arg != "retain_graph"]
        tree.args = tree.args[:1]
        return ast.unparse(tree)
    except Exception:
        return call


def _predict(d, steps):
    """The schedule prediction for the spec with another ``backward`` list (a what-if)."""
    prob = copy.copy(d.problem)
    prob.backward = list(steps)
    dd = copy.copy(d)
    dd.problem = prob
    dd._schedule = None
    return dd.schedule


def _what_if(d, num, steps):
    """(the prediction's raising step or None, its error) and whether the replay agrees."""
    alt = _predict(d, steps)
    ok = None
    if num:
        snaps, err = num.replay(steps)
        if alt.raised_at is None:
            ok = err is None and all(
                num.agrees(alt.steps[-1].grad.get(n), snaps[-1].get(n))[0] for n in alt.names) if snaps else err is None
        else:
            ok = err is not None and err[0] == alt.raised_at and _kind(err[-1]) == alt.error.kind
    return alt, ok


def _without_retain(d, sched, num):
    prob = d.problem
    last = max((k for k, b in enumerate(prob.backward) if b.kind == "backward"), default=-1)
    for k, b in enumerate(prob.backward):
        if b.kind != "backward" or not b.retain_graph or k >= last:
            continue
        steps = list(prob.backward)
        steps[k] = replace(b, retain_graph=False, call=without_retain(b.call))
        alt, ok = _what_if(d, num, steps)
        q = Rich().t("Remove ").c("retain_graph=True").t(" from step %d, so that it reads " % (k + 1)).c(
            steps[k].call).t(". Does the schedule still run?")
        if alt.raised_at is not None:
            a = Rich().t("No. ").then(_raises(alt.error))
        else:
            a = Rich().t("Yes: no later step runs a node whose saved tensors step %d frees." % (k + 1))
        return [_ex(q, a, _replayed(ok, "replaying the changed schedule in PyTorch"), ok)]
    return []


def _non_leaf(d, sched, num):
    if not any(s.kind == "backward" and s.ran and not s.error for s in sched.steps):
        return []
    for name in sched.names:
        rg, leaf, gf = sched.flags[name]
        if rg and not leaf and sched.grad.get(name) is None and not sched.autograd.values[name].retains_grad:
            q = Rich().t("After the schedule, what is ").c("%s.grad" % name).t("?")
            a = Rich().c("None").t(": ").m(name_tex(name)).t(" is a non-leaf (its ").c("grad_fn").t(" is ").c(
                gf or "None").t(") without ").c("retain_grad()").t(", so PyTorch does not keep its gradient "
                                                                   "(and warns when you read it).")
            ok = None
            if num and num.steps:
                ok = num.steps[-1].get(name) is None
            return [_ex(q, a, _replayed(ok), ok)]
    return []


def _twice(d, num):
    """Backpropagate a scalar output twice: the second call raises exactly when the first
    freed a node that saved tensors -- asked of the schedule module's own checks on the
    graph PyTorch records (no sweep is needed for the question)."""
    from ..autograd import schedule as sc
    from ..autograd.recorded import autograd_graph
    from ..spec.problem import BackwardStep, Mark
    from ..spec.steps import backward_call
    prob = d.problem
    o = next((o for o in prob.outputs if not prob.tensors[o].tshape or
              all(str(s) == "1" for s in prob.tensors[o].tshape)), None)
    if o is None or not d.graph.requires_grad.get(o, False):
        return []
    step = BackwardStep("%s.backward()" % o, "backward", o, False, None, Mark(0, 0))
    ag = autograd_graph(prob)
    v = ag.values[o]
    if sc._refusal(ag, prob, step, backward_call(step, prob), v, sc.value_types(prob, ag)) is not None:
        return []
    order, partial = ag.needed(v, None)
    freed = {n: 1 for n in order if sc._runs_raiser(n, partial)}   # what the first call frees
    err = sc._rerun(prob, step, 2, order, partial, freed, [step])
    q = Rich().t("Call ").c("%s.backward()" % o).t(" twice in a row, without ").c("retain_graph=True").t(
        ". Does the second call raise?")
    if err is not None:
        a = Rich().t("Yes. ").then(_raises(err))
    else:
        a = Rich().t("No: no node of the graph saved a tensor for its backward pass (sums, means and "
                     "additions save none), so nothing is freed, and the second call adds the same "
                     "gradient again.")
    ok = None
    if num:
        snaps, got = num.replay([step, step])
        ok = (got is None) if err is None else (got is not None and got[0] == 2 and _kind(got[-1]) == err.kind)
    return [_ex(q, a, _replayed(ok, "replaying both calls in PyTorch"), ok)]


def _closed_form(d, num):
    for g in d.gradients:
        if g.upstream or not g.connected:
            continue
        q = Rich().t("Which closed form does ").c("%s.grad" % g.wrt).t(" hold after ").c(
            "%s.backward()" % g.output).t(" from zeroed gradients, and what is its shape?")
        a = Rich().c(g.text).t(", of shape %s — the same shape as " % "×".join(str(s) for s in g.shape) if g.shape
                               else ", a scalar, like ").c(g.wrt).t(".")
        ok, values = None, None
        if num:
            got = num.grads.get(g.output, {}).get(g.wrt)
            if got is not None:
                ok, _ = num.agrees(g.expr, got)
                values = "%s.grad = %s" % (g.wrt, fmt(got).replace("\n", "\n" + " " * (len(g.wrt) + 8)))
        return [_ex(q, a, _replayed(ok, "autograd on the same inputs"), ok, None, values)]
    return []
