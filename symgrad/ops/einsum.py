"""``einsum(equation, *operands)``: a sum of products over named indices.

The equation is read as PyTorch reads it (letters, ``,``, ``->``, ``...`` for broadcast dims;
without ``->`` the output is the letters that appear once, in alphabetical order) and kept
in explicit form, ``...`` spelled with spare letters.  The adjoint of operand k is again an
einsum: the adjoint (with the output's subscripts) times the other operands, written to
k's subscripts.  A letter repeated in k (a diagonal, ``ii->i``) is written once and tied to
its twin by an identity matrix; a letter only k has (summed away, ``ij->``) is a dim of
size 1 that broadcasts.  PyTorch records no node of its own: einsum decomposes into
permutes, views and ``bmm`` (or ``mul``, ``sum``, ``diagonal``); the autograd model asks
PyTorch itself, on meta tensors of the operands' shapes, which chain it records.
"""
import string

from sympy import Integer, Tuple
from sympy.core.symbol import Str

from ..errors import ShapeError
from ..tensor import shape_of
from .base import TensorOp, rank
from .batching import full_along
from .constants import EyeOp
from .move import PermuteOp, lifted_rank
from .nodes import CROSS
from .registry import register, P, Param
from .shape import UnsqueezeOp, materialize

LETTERS = string.ascii_uppercase + string.ascii_lowercase


def parse_equation(eq, shapes):
    """(input subscripts, output subscripts) of an equation for operands of these shapes,
    explicit and with ``...`` spelled by spare letters; ShapeError when it does not fit."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs or any(c not in LETTERS + ",.->" for c in eq):
        raise ShapeError("the equation %r has a character that is not a letter, ',', '->' or '...'" % eq)
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError("the equation names %d operand%s, %d given"
                         % (len(terms), "" if len(terms) == 1 else "s", len(shapes)))
    spare = [c for c in LETTERS if c not in eq]
    widths = []
    for k, (t, s) in enumerate(zip(terms, shapes)):
        bare = t.replace("...", "")
        if "." in bare or t.count("...") > 1:
            raise ShapeError("operand %d: '.' is only allowed as one '...'" % k)
        if "..." not in t and len(bare) != len(s):
            raise ShapeError("operand %d has %d dims but its subscripts %r name %d" % (k, len(s), t, len(bare)))
        if "..." in t and len(bare) > len(s):
            raise ShapeError("operand %d has %d dims but its subscripts %r name %d" % (k, len(s), t, len(bare)))
        widths.append(len(s) - len(bare) if "..." in t else 0)
    ell = spare[:max(widths, default=0)]
    subs = [t.replace("...", "".join(ell[len(ell) - w:])) for t, w in zip(terms, widths)]
    if arrow:
        if rhs.count("...") > 1 or "." in rhs.replace("...", ""):
            raise ShapeError("the output: '.' is only allowed as one '...'")
        out = rhs.replace("...", "".join(ell))
        for c in out:
            if out.count(c) > 1:
                raise ShapeError("the output subscript %s appears more than once" % c)
            if not any(c in t for t in subs):
                raise ShapeError("the output subscript %s does not appear in the operands" % c)
    else:
        once = sorted(c for c in set("".join(subs)) if "".join(subs).count(c) == 1 and c not in ell)
        out = "".join(ell) + "".join(sorted(once, key=LETTERS.index))
    return subs, out


def letter_sizes(subs, shapes):
    """letter -> size; size-1 dims broadcast against the others."""
    sizes = {}
    for k, (t, s) in enumerate(zip(subs, shapes)):
        for c, d in zip(t, s):
            have = sizes.get(c)
            if have is None or have == 1:
                sizes[c] = d
            elif d != 1 and d != have:
                raise ShapeError("subscript %s has size %s for operand %d, which does not broadcast with "
                                 "the size %s seen before" % (c, d, k, have))
    return sizes


class EinsumOp(TensorOp):
    """einsum over its operands; the last argument is the explicit equation."""
    spec_name = "einsum"

    @property
    def tensors(self):
        return self.args[:-1]

    @property
    def attrs(self):
        return self.args[-1:]

    @property
    def equation(self):
        return self.args[-1].name

    def parts(self):
        lhs, _, out = self.equation.partition("->")
        return lhs.split(","), out

    @classmethod
    def eval(cls, *args):
        x, eq = args[0], args[-1].name
        lhs, _, out = eq.partition("->")
        if len(args) == 2 and len(set(lhs)) == len(lhs) and sorted(lhs) == sorted(out):
            if lhs == out:
                return x
            return PermuteOp(x, Tuple(*[Integer(lhs.index(c)) for c in out]))

    def sizes(self):
        subs, _ = self.parts()
        return letter_sizes(subs, [shape_of(t) for t in self.tensors])

    def out_shape(self):
        sizes = self.sizes()
        return tuple(sizes[c] for c in self.parts()[1])

    def vjp(self, i, g):
        subs, out = self.parts()
        sizes = self.sizes()
        spare = iter(c for c in LETTERS if c not in self.equation)
        target, extra_subs, extra_ops = [], [], []
        for c in subs[i]:
            if c in target:                          # a diagonal: tie the twin letter by an identity
                f = next(spare)
                target.append(f)
                extra_subs.append(c + f)
                extra_ops.append(EyeOp(sizes[c]))
            else:
                target.append(c)
        others = [k for k in range(len(subs)) if k != i]
        ins = [subs[k] for k in others] + extra_subs
        ops = [self.tensors[k] for k in others] + extra_ops
        scale = 1
        if shape_of(g) == () and not out:
            scale = g
        else:
            ins, ops = [out] + ins, [materialize(g, self.out_shape())] + ops
        have = set("".join(ins))
        kept = [c for c in target if c in have]
        r = EinsumOp(*ops, Str("%s->%s" % (",".join(ins), "".join(kept)))) if ops else scale
        if ops:
            r = scale * r
            for pos, c in enumerate(target):
                if c not in have:
                    r = UnsqueezeOp(r, Integer(pos))         # summed away: broadcasts back
        return r

    def batch(self, args, lifted, bshape):
        """One einsum over the batch: the batch dims of each lifted operand get spare
        letters (right-aligned, size-1 ones broadcast as einsum allows) kept in the output.
        A lifted operand broadcast along a letter it sums alone, or repeats, is made full
        along it first."""
        subs, out = self.parts()
        sizes = self.sizes()
        ops, have = [], []
        for t, a, up, sub in zip(self.tensors, args, lifted, subs):
            r = rank(t)
            a = lifted_rank(a, r) if up else a
            ops.append(a)
            have.append(list(shape_of(a)[rank(a) - r:]))
        for k, (a, up, sub) in enumerate(zip(ops, lifted, subs)):
            if not up:
                continue
            need = [d for d, c in enumerate(sub) if have[k][d] == 1 and sizes[c] != 1 and (
                sub.count(c) > 1 or (c not in out and not any(
                    c in subs[j] and have[j][subs[j].index(c)] != 1 for j in range(len(subs)) if j != k)))]
            if need:
                ops[k] = full_along(a, tuple(shape_of(self.tensors[k])), need)
                have[k] = list(shape_of(ops[k])[rank(ops[k]) - len(sub):])
        nbs = [rank(a) - len(sub) if up else 0 for a, up, sub in zip(ops, lifted, subs)]
        spare = [c for c in LETTERS if c not in self.equation]
        nb = max(nbs)
        if nb > len(spare):
            raise ShapeError("einsum: no letters left for %d batch dims" % nb)
        lead = spare[:nb]
        ins = ["".join(lead[nb - n:]) + sub for sub, n in zip(subs, nbs)]
        return EinsumOp(*ops, Str("%s->%s" % (",".join(ins), "".join(lead) + out)))

    def text(self, p):
        return "einsum(%r, %s)" % (self.equation, ", ".join(p._print(t) for t in self.tensors))

    def torch(self, p):
        return "torch." + self.text(p)

    def latex(self, p):
        return r"\operatorname{einsum}_{%s}\left(%s\right)" % (
            self.equation.replace("->", r"\to "), ", ".join(p._print(t) for t in self.tensors))

    def index(self, p, idx):
        subs, out = self.parts()
        name = dict(zip(out, idx))
        summed = [c for c in dict.fromkeys("".join(subs)) if c not in name]
        for c in summed:
            name[c] = p.fresh()
        body = " ".join(p.index_of(t, [name[c] for c in s], "Mul") for t, s in zip(self.tensors, subs))
        return (r"\sum_{%s} %s" % (",".join(name[c] for c in summed), body)) if summed else body


def _record_einsum(w, n, fn, vals, nodes):
    """The chain PyTorch records, asked of PyTorch itself on meta tensors of the same shapes."""
    import torch
    ops = [v for v in vals["operands"] if w.is_tensor(v)]
    nodes_ = getattr(nodes["operands"], "elts", None) or [None] * len(ops)
    values = {sym: (val if val is not None else 3) for sym, val in w.g.prob.dims.values()}
    metas = [torch.zeros([int(d.subs(values)) if hasattr(d, "subs") else int(d) for d in v.shape], device="meta",
                         requires_grad=v.requires_grad) for v in ops]
    y = torch.einsum(vals["equation"], *metas)
    if not y.requires_grad:
        return w.record(n, "", ops)
    chain, seen, stack, raiser = [], set(), [y.grad_fn], None
    while stack:
        node = stack.pop()
        if node is None or node in seen or "AccumulateGrad" in node.name():
            continue
        seen.add(node)
        chain.append(node.name())
        fields = sorted(a[len("_saved_"):] for a in dir(node) if a.startswith("_saved_")
                        and isinstance(getattr(node, a), torch.Tensor))
        if fields and (raiser is None or node._sequence_nr() > raiser[0]._sequence_nr()):
            raiser = (node, fields)
        stack.extend(f for f, _ in node.next_functions)
    saved = w.saved(raiser[1], ops, nodes_, n) if raiser else ()
    out = w.record(n, chain[0], ops, raiser[0].name() if raiser else None, saved, tuple(chain),
                   contiguous=y.is_contiguous())
    return out


@register("einsum", P(Param("equation", "str"), Param("operands", "tensors")), pack="operands",
          torch="torch.einsum", grad_fn="ViewBackward0", saved=CROSS["BmmBackward0"], record=_record_einsum,
          on_bool="fail",
          reason="an einsum is a sum of products: an operand's adjoint is the einsum of the adjoint with "
                 "the other operands, written to the operand's subscripts")
def _einsum(equation, operands):
    shapes = [shape_of(t) for t in operands]
    subs, out = parse_equation(equation, shapes)
    letter_sizes(subs, shapes)
    return EinsumOp(*operands, Str("%s->%s" % (",".join(subs), out)))
