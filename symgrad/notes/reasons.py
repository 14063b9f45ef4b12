"""The one-line reasons of the rules, as the notes print them.

Each op block carries a ``reason`` (``symgrad.ops.registry``): a line of prose with formulas
in plain ASCII -- ``d(X^{-1}) = -X^{-1} dX X^{-1}, so X receives -X^{-T} G X^{-T}``, or
``relu routes: the gradient passes where the input is positive``.  `reasons` collects
those of the functions and operators a node's text uses; `reason_rich` splits one into
prose and formulas and writes the formulas as LaTeX (``^T`` as a transpose, ``sigma(x)``
as σ(x), ``||x||`` as a norm, ``sqrt(x)`` as a root).  A formula that does not come out
as harmless LaTeX (`symgrad.notes.description.math_ok`) is shown as code instead.
"""
import ast
import re

from ..ops import OPERATORS
from ..spec.parse import call_parts, parse_tree
from .description import math_ok
from .text import Rich

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
# words of a reason's formulas that are TeX commands, and those written as operator names
_FUNCS = {w: "\\" + w for w in "log exp sin cos tan tanh sinh cosh det sigma Phi phi pi".split()}
_ROOTS = dict(sqrt=r"\sqrt")
_NAMED = tuple("tr diag softmax sum erf sign logsumexp log_softmax softplus gelu silu mean".split())
_MATHY = re.compile(r"[\^_=()|\[\]/*+.<>]|^-|^[0-9]")
_WORD = re.compile(r"[A-Za-z]+")


def reasons(text):
    """(name, reason) of the functions and operators a node's text uses, outermost first,
    each reason once."""
    try:
        tree = parse_tree(text)
    except Exception:
        return []
    out, seen = [], set()
    stack = [tree.body]
    while stack:
        n = stack.pop()
        why = name = None
        if isinstance(n, ast.Call):
            name, spec, _ = call_parts(n)
            why = getattr(spec, "reason", None)
        elif isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
            name = _BINOPS[type(n.op)]
            op = OPERATORS.get(name)
            why = op.reason if op else None
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            name, why = "-", OPERATORS["neg"].reason
        elif isinstance(n, ast.Attribute) and n.attr == "T":
            name, why = ".T", OPERATORS[".T"].reason
        if why and why not in seen:
            seen.add(why)
            out.append((name, why))
        stack.extend(reversed(list(ast.iter_child_nodes(n))))
    return out


_OPERATOR_TOKENS = ("=", "-", "+", "*", ".", "/", "d")


def _strong(core, prev=None, nxt=None):
    """A word that is a formula by itself (or a function name next to an operator)."""
    if _MATHY.search(core) or re.fullmatch(r"d[A-Za-z]", core) or core in _FUNCS:
        return True
    return core in _NAMED and any(t in _OPERATOR_TOKENS for t in (prev, nxt))


def _kind(tok, prev, nxt):
    """How a word of a reason prints: "math", "code" (an identifier) or "text"."""
    core = tok.rstrip(",:;")
    if not core:
        return "text"
    if re.fullmatch(r"[A-Za-z]+(?:_[A-Za-z]+)+", core) and core not in _NAMED:
        return "code"
    word = re.fullmatch(r"[A-Za-z]{3,}\)?|[A-Za-z]+'s", core)
    if word and core.rstrip(")") not in _FUNCS and core.rstrip(")") not in _NAMED:
        return "text"
    if _strong(core, prev, nxt):
        return "math"
    if word:
        return "text"
    if core == "d" and nxt is not None and nxt.rstrip(",:;") in _NAMED:
        return "math"
    if len(core) == 1 and core.isalpha():
        if core == "a":                       # the article, unless between operators
            return "math" if prev in _OPERATOR_TOKENS[:-1] or nxt in _OPERATOR_TOKENS[:-1] else "text"
        if any(t is not None and _strong(t.rstrip(",:;")) for t in (prev, nxt)):
            return "math"
    return "text"


def to_tex(s):
    """An ASCII formula of a reason as LaTeX (not checked: see `reason_rich`)."""
    s = re.sub(r"\^T\b", r"^{\\top}", s).replace("^{-T}", r"^{-\top}")
    out, bars = [], 0
    k = 0
    while k < len(s):
        if s.startswith("||", k):
            out.append(r"\lVert " if bars % 2 == 0 else r"\rVert ")
            bars += 1
            k += 2
            continue
        m = _WORD.match(s, k)
        if m and (k == 0 or not s[k - 1].isalnum()):
            w = m.group()
            end = m.end()
            while end < len(s) and s[end] == "_" and _WORD.match(s, end + 1):
                end = _WORD.match(s, end + 1).end()
                w = s[k:end]
            if w in _ROOTS and s.startswith("(", end):
                close = _closing(s, end)
                if close:
                    out.append(r"%s{%s}" % (_ROOTS[w], to_tex(s[end + 1:close])))
                    k = close + 1
                    continue
            if w in _FUNCS:
                out.append(_FUNCS[w] + ("" if s[end:end + 1] in "({[" and s[end:end + 1] else " "))
            elif w in _NAMED or re.fullmatch(r"[A-Za-z]{2,}(?:_[A-Za-z]{2,})+", w):
                out.append(r"\operatorname{%s}" % w.replace("_", r"\_"))
            else:
                out.append(w)
            k = end
            continue
        ch = s[k]
        out.append({"*": r"\odot ", ".": r"\cdot "}.get(ch, ch) if ch in "*." and s[k - 1:k] == " " else ch)
        k += 1
    return "".join(out)


def _closing(s, k):
    depth = 0
    for j in range(k, len(s)):
        depth += {"(": 1, ")": -1}.get(s[j], 0)
        if depth == 0:
            return j
    return None


def reason_rich(name, why):
    """``name``: the reason, prose as text and each formula as math (or code, if it is not
    plain LaTeX)."""
    r = Rich().c(name).t(": ")
    toks = why.split(" ")
    k = 0
    while k < len(toks):
        kind = _kind(toks[k], toks[k - 1] if k else None, toks[k + 1] if k + 1 < len(toks) else None)
        sep = " " if k + 1 < len(toks) else ""
        if kind != "math":
            core = toks[k].rstrip(",:;")
            (r.c(core) if kind == "code" else r.t(core))
            r.t(toks[k][len(core):] + sep)
            k += 1
            continue
        run = [toks[k]]
        k += 1
        while k < len(toks) and not run[-1].endswith((",", ":", ";")):
            nk = _kind(toks[k], run[-1], toks[k + 1] if k + 1 < len(toks) else None)
            core = toks[k].rstrip(",:;")
            if nk != "math" and not (len(core) == 1 and core.isalpha() and core != "a") \
                    and not (core in _NAMED and run[-1] in _OPERATOR_TOKENS):
                break
            run.append(toks[k])
            k += 1
        if len(run[0]) > 1 and run[0][0] == "(" and " ".join(run).count("(") > " ".join(run).count(")"):
            r.t("(")                            # an aside opens: "(softmax(z) - t for ..."
            run[0] = run[0][1:]
            opened = True
        else:
            opened = False
        while run and " ".join(run).count("(") > " ".join(run).count(")"):
            run.pop()                           # a formula does not end inside parentheses
            k -= 1
        if not run:
            r.t(toks[k][opened:] + (" " if k + 1 < len(toks) else ""))
            k += 1
            continue
        text = " ".join(run)
        tail = text[len(text.rstrip(",:;")):]
        text = text.rstrip(",:;")
        t = to_tex(text)
        if math_ok(t):
            r.m(t)
        else:
            r.c(text)
        r.t(tail + (" " if k < len(toks) else ""))
    return r
