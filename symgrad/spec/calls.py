"""Calls of the expression language: arguments bound to PyTorch's signatures, then built.

`Calls` is the part of the builder (``symgrad.spec.expr.Builder``) that reads a call: the
function's parameters from the op table (PyTorch's names, defaults, keyword-only
parameters), a method call ``c.mean()`` as ``mean(c)``, extra positional arguments packed
where PyTorch packs them (``x.permute(2, 0, 1)``, ``einsum(eq, a, b)``), and every static
argument checked by its kind (``Param`` in ``symgrad.ops.registry``): dims, shapes, flags,
strings, integer tensors, lists of tensors.  What PyTorch refuses -- ``torch.expand`` (a
method only), ``sum(2.0)``, ``softmax`` of a bool or integer tensor, a float index -- is
refused with its place.
"""
import ast

import sympy
from sympy import Integer

from ..errors import SpecError, ShapeError
from ..ops import FUNCTIONS, OPERATORS, REQUIRED
from ..tensor import Tensor
from .parse import err, suggest, call_parts, short as _short

AS_NUMBER = "multiply it by 1.0 first, as in 1.0*(x > 0)"
MAX_LIST = 64              # tensors in one list argument (cat, stack, einsum)


class Calls:
    """Binding and building calls (a mixin of the builder)."""

    def call(self, node, depth):
        name, spec, args = call_parts(node)
        if spec is None:
            raise err(node, "unknown function '%s'%s" % (_short(name), suggest(name, FUNCTIONS)))
        method = isinstance(node.func, ast.Attribute)
        if spec.method_only and not method:
            raise err(node, "%s is a method in PyTorch (torch.%s does not exist): write x.%s(...)"
                      % (name, name, name))
        params = spec.params
        positional = [p for p in params if not p.kwonly]
        if len(args) > len(positional):
            n = len(positional)
            kw = [p.name for p in params if p.kwonly]
            raise err(node, "%s() takes at most %d %sargument%s (%d given)%s"
                      % (name, n, "positional " if kw else "", "" if n == 1 else "s", len(args),
                         "; %s only by keyword" % ", ".join(kw) if kw else ""))
        bound = {}
        for p, a in zip(positional, args):
            bound[p.name] = (p, a)
        names = {p.name: p for p in params}
        for k in node.keywords:
            if k.arg not in names:
                raise err(k, "%s() got an unexpected keyword argument '%s'%s; it takes %s"
                          % (name, _short(k.arg), suggest(k.arg, names), ", ".join(names)))
            if k.arg in bound:
                raise err(k, "%s() got multiple values for argument '%s'" % (name, k.arg))
            bound[k.arg] = (names[k.arg], k.value)
        values = {}
        for p in params:
            if p.name in bound:
                values[p.name] = self.static(bound[p.name][1], p, name, depth)
            elif p.default is REQUIRED:
                raise err(node, "%s() missing required argument '%s'" % (name, p.name))
            else:
                values[p.name] = p.default
        self.check_kinds(node, name, spec, bound)
        if spec is FUNCTIONS.get(OPERATORS["**"].function) and values["input"] is not None \
                and values["exponent"] is not None:
            return self.power(node, values["input"], values["exponent"],       # x**y, with its bounds
                              bound["input"][1], bound["exponent"][1])
        try:
            return spec.build(**values)
        except ShapeError as e:
            raise err(node, "%s: %s" % (name, e.message) if not e.message.startswith(name) else e.message)
        except SpecError as e:
            raise err(node, "%s(): %s" % (name, e.message))

    def check_kinds(self, node, name, spec, bound):
        """Plain numbers, comparisons and integer tensors where PyTorch refuses them."""
        params = spec.params
        tensor_args = [bound[q.name][1] for q in params if q.kind == "tensor" and q.name in bound]
        for k, a in enumerate(tensor_args[:None if spec.strict else 1]):
            if not (k == 0 and spec.number_ok) and self.kind(a) == "number" \
                    and not (isinstance(a, ast.Constant) and a.value is None):
                raise err(a, "%s() needs a tensor, not a plain number (PyTorch raises a TypeError)" % name)
        if tensor_args and spec.on_bool == "fail":
            kind = self.kind(tensor_args[0])
            if kind == "bool":
                raise err(node, "%s() is not defined for a comparison (a bool tensor) in PyTorch: %s"
                          % (name, AS_NUMBER))
            if kind == "long":
                raise err(node, "%s() is not defined for an integer tensor in PyTorch: it needs floating "
                                "point values" % name)
        for q in params:
            if q.kind == "mask" and q.name in bound and self.kind(bound[q.name][1]) != "bool":
                raise err(bound[q.name][1], "%s(): the %s must be a comparison such as x > 0 "
                                            "(PyTorch needs a bool tensor)" % (name, q.name))

    def static(self, node, p, fname, depth):
        kind = p.kind
        if kind in ("tensor", "mask"):
            if isinstance(node, ast.Constant) and node.value is None and (p.default is None or p.nullable):
                return None
            return self.tensor(node, depth)
        if kind == "index":
            if isinstance(node, ast.Constant) and node.value is None and p.default is None:
                return None
            x = self.tensor(node, depth)
            if self.kind(node) != "long":
                raise err(node, "%s(): %s must be an integer tensor (an input with dtype: long, or an "
                                "expression of one), got %s" % (fname, p.name, self.kind_text(node)))
            return x
        if kind == "tensors":
            if not isinstance(node, (ast.Tuple, ast.List)):
                raise err(node, "%s(): %s must be a tuple or list of tensors, as (a, b)" % (fname, p.name))
            if not node.elts:
                raise err(node, "%s(): %s must not be empty" % (fname, p.name))
            if len(node.elts) > MAX_LIST:
                raise err(node, "%s(): at most %d tensors, got %d" % (fname, MAX_LIST, len(node.elts)))
            out = []
            for e in node.elts:
                out.append(self.tensor(e, depth + 1))
                if self.kind(e) == "number":
                    raise err(e, "%s(): expected a tensor, not a plain number" % fname)
            return tuple(out)
        if kind == "dim":
            return self.int_literal(node, fname, p.name)
        if p.seq and not isinstance(node, (ast.Tuple, ast.List)) and kind in ("dims", "shape"):
            raise err(node, "%s(): %s must be a tuple or list, as (%s,) (PyTorch raises a TypeError "
                            "for a bare int)" % (fname, p.name, ast.unparse(node)))
        if kind == "dims":
            if isinstance(node, ast.Constant) and node.value is None:
                return None
            if isinstance(node, (ast.Tuple, ast.List)):
                if not node.elts:
                    raise err(node, "%s(): %s must not be empty" % (fname, p.name))
                return tuple(self.int_literal(e, fname, p.name) for e in node.elts)
            return self.int_literal(node, fname, p.name)
        if kind == "intlist":
            if not isinstance(node, (ast.Tuple, ast.List)):
                raise err(node, "%s(): %s must be a tuple or list of ints (PyTorch raises a TypeError "
                                "for an int)" % (fname, p.name))
            if len(node.elts) > 8:
                raise err(node, "%s(): at most 8 dims, got %d" % (fname, len(node.elts)))
            return tuple(self.int_literal(e, fname, p.name) for e in node.elts)
        if kind == "int":
            return self.integer(node, fname, p.name, depth)
        if kind == "bool":
            if isinstance(node, ast.Constant) and isinstance(node.value, bool):
                return node.value
            raise err(node, "%s(): %s must be True or False" % (fname, p.name))
        if kind == "str":
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            raise err(node, "%s(): %s must be a string" % (fname, p.name))
        if kind == "number":
            x = self.tensor(node, depth)
            if x.has(Tensor):
                raise err(node, "%s(): %s must be a number" % (fname, p.name))
            return x
        if kind == "size":
            return self.size(node, fname, p.name, allow_minus=False)
        if kind == "ints":
            elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
            if len(elts) > 16:
                raise err(node, "%s(): at most 16 amounts, got %d" % (fname, len(elts)))
            return tuple(self.signed_int(e, fname, p.name) for e in elts)
        if kind == "shape":
            elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
            if len(elts) > 8:
                raise err(node, "%s(): at most 8 dimensions, got %d" % (fname, len(elts)))
            return tuple(self.size(e, fname, p.name, allow_minus=True) for e in elts)
        raise AssertionError(kind)

    def kind_text(self, node):
        return {"number": "a plain number", "bool": "a bool tensor", "tensor": "a float tensor",
                "tuple": "a tuple"}.get(self.kind(node), self.kind(node))

    def int_literal(self, node, fname, pname):
        v = node
        sign = 1
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            sign, v = -1, v.operand
        if isinstance(v, ast.Constant) and isinstance(v.value, int) and not isinstance(v.value, bool):
            return sign * v.value
        raise err(node, "%s(): %s must be an integer literal" % (fname, pname))

    def signed_int(self, node, fname, pname):
        """An int literal or a dim name, either possibly negated (pad amounts)."""
        v, sign = node, 1
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            v, sign = v.operand, -1
        if isinstance(v, ast.Name) and v.id in self.env and not isinstance(self.env[v.id], Tensor):
            return sign * self.env[v.id]
        n = sign * self.int_literal(v, fname, pname)
        if abs(n) > 10 ** 9:
            raise err(node, "%s(): %s must be at most 10**9 in absolute value" % (fname, pname))
        return n

    def integer(self, node, fname, pname, depth):
        """An integer argument: a literal, a dim, or + - * of them (narrow's start and length)."""
        x = self.tensor(node, depth)
        if not isinstance(x, sympy.Expr) or x.has(Tensor) or not x.is_integer or \
                any(not s.is_integer for s in x.free_symbols):
            raise err(node, "%s(): %s must be an integer: a literal, a dim, or + - * of them" % (fname, pname))
        if x.is_Integer and abs(int(x)) > 10 ** 9:
            raise err(node, "%s(): %s is too large (at most 10**9)" % (fname, pname))
        return x

    def size(self, node, fname, pname, allow_minus):
        if isinstance(node, ast.Name) and node.id in self.env and not isinstance(self.env[node.id], Tensor):
            return self.env[node.id]
        if isinstance(node, ast.BinOp):            # 2*n, n - 1: a size of dims (closed forms print them)
            x = self.integer(node, fname, pname, 0)
            if x.is_nonpositive or (x.is_Integer and x > 10 ** 9):
                raise err(node, "%s(): size %s must be positive (at most 10**9)" % (fname, x))
            return x
        if not (isinstance(node, ast.Constant) or isinstance(node, ast.UnaryOp)):
            raise err(node, "%s(): %s must be a positive integer literal or a dim name" % (fname, pname))
        v = self.int_literal(node, fname, pname)
        if v == -1 and allow_minus:
            return Integer(-1)
        if v <= 0:
            raise err(node, "%s(): sizes must be positive, got %d" % (fname, v))
        if v > 10 ** 9:
            raise err(node, "%s(): size %s is too large (at most 10**9)" % (fname, _short(str(v))))
        return Integer(v)
