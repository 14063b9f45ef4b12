"""Forward values by name: wherever a node's definition reappears in a closed form, the node.

`Reuse` rewrites an expression bottom-up with the graph's named forward values:

* an exact match (``h1 @ W2.T + b2`` is ``pre``; ``sqrt(r @ P @ r)`` is ``d``), and the
  facts the graph knows (a simplex target sums to one along its last dim);
* a power of a named power (``(r @ P @ r)**(-1/2)`` is ``1/d`` when ``d = sqrt(r @ P @ r)``);
* a named product inside a larger one (``g*xc*(v + eps)**(-3/2)`` is ``g*xh/(v + eps)``
  when ``xh = xc/sqrt(v + eps)``), powers compared exponent by exponent;
* a named sum inside a larger one, up to a common factor (``2*x - 2*mu + z`` is ``2*xc + z``).

Each is an exact identity of the forward pass, local (one node at a time, indexed by the
bases and terms of the named definitions), so the cost is the size of the expression.
"""
from sympy import Add, Mul, Pow, S

from ..tensor import Tensor


class Reuse:
    def __init__(self, named):
        self.named = named                 # expression -> its name (or a known value)
        self.pows, self.muls, self.adds = {}, {}, {}
        for e, sym in named.items():
            if not isinstance(sym, Tensor):
                continue
            if isinstance(e, Pow) and e.exp.is_Rational:
                self.pows.setdefault(e.base, []).append((e.exp, sym))
            elif isinstance(e, Mul):
                powers = _powers(e)
                if sum(1 for b in powers if not b.is_Number) >= 2:
                    entry = (powers, sym)
                    for b in powers:
                        self.muls.setdefault(b, []).append(entry)
            elif isinstance(e, Add) and not any(t.is_Number for t in e.args):
                terms = dict(t.as_coeff_Mul()[::-1] for t in e.args)
                entry = (terms, sym)
                for t in terms:
                    self.adds.setdefault(t, []).append(entry)
        self.memo = {}

    def __call__(self, e):
        if not self.named or e.is_Atom:
            return e
        r = self.memo.get(e)
        if r is None:
            r = self._rewrite(e)
            self.memo[e] = r
        return r

    def _rewrite(self, e):
        hit = self.named.get(e)
        if hit is not None:
            return hit
        args = [self(a) for a in e.args]
        if any(a is not b for a, b in zip(args, e.args)):
            e = e.func(*args)
            hit = self.named.get(e)
            if hit is not None:
                return hit
        if isinstance(e, Pow):
            return self._pow(e)
        if isinstance(e, Mul) and self.muls:
            return self._mul(e)
        if isinstance(e, Add) and self.adds:
            return self._add(e)
        return e

    def _pow(self, e):
        for k, sym in self.pows.get(e.base, ()):
            q = e.exp / k
            if q.is_Integer:
                return sym ** q
        return e

    def _mul(self, e):
        powers = _powers(e)
        for b in list(powers):
            for want, sym in self.muls.get(b, ()):
                if _contains(powers, want):
                    rest = dict(powers)
                    for base, x in want.items():
                        rest[base] = rest[base] - x
                    return self(Mul(*[base ** x for base, x in rest.items() if x != 0]) * sym)
        return e

    def _add(self, e):
        terms = dict(t.as_coeff_Mul()[::-1] for t in e.args)
        for t in list(terms):
            for want, sym in self.adds.get(t, ()):
                if len(want) > len(terms) or any(w not in terms for w in want):
                    continue
                ratio = terms[t] / want[t]
                if all(terms[w] == ratio * c for w, c in want.items()):
                    rest = [c * w for w, c in terms.items() if w not in want]
                    return self(Add(ratio * sym, *rest))
        return e


def _powers(e):
    """A product as {base: exponent} (numbers are one base of exponent 1)."""
    out = {}
    for f in Mul.make_args(e):
        b, x = (f.base, f.exp) if isinstance(f, Pow) and f.exp.is_Rational else (f, S.One)
        out[b] = out.get(b, S.Zero) + x
    return out


def _contains(powers, want):
    """Whether the product ``powers`` holds the product ``want`` (same signs, no more)."""
    for b, x in want.items():
        have = powers.get(b)
        if have is None:
            return False
        if b.is_Number:
            if have != x:
                return False
        elif have * x <= 0 or abs(have) < abs(x):
            return False
    return True
