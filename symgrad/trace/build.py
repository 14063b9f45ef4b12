"""An exported graph -> a `Draft` of a spec: inputs, named nodes in the spec language, outputs.

Only what the returned losses depend on is kept (a BatchNorm's running-statistics update,
an unused parameter and torch's shape assertions drop out).  Each remaining ATen call is
spelled by `vocab`; a call becomes a spec node of its own when it has a name worth
keeping (see `naming`), is used more than once, or is returned -- otherwise its text is
written inline where it is used, so ``reg = sum((p**2).sum() for p in ...)`` is one node
rather than thirty.  An inline text longer than `INLINE_LIMIT` becomes a node anyway,
which keeps every line readable and every expression well within the parser's limits.

In-place ops (``relu_``, ``h += ...``) are spelled as their out-of-place forms; `inplace`
says when that is exact.
"""
import operator
from dataclasses import dataclass, field
from typing import List, Optional

from torch.export.graph_signature import OutputKind

from .errors import TraceError
from .expr import Expr, literal, name as name_expr
from .inplace import check_inplace, inplace_ops
from .leaves import declare, infer, name_state, InputDecl
from .naming import Names, node_name
from .provenance import origins
from .source import Frame, Sources, display
from .vocab import Call, Multi, SAME, Unsupported, describe, op_name, spell

INLINE_LIMIT = 120


@dataclass
class NodeDecl:
    name: str
    text: str
    where: Optional[Frame]


@dataclass
class Draft:
    """A traced spec before it is written out."""
    title: str
    root: object
    specs: list
    inputs: List[InputDecl] = field(default_factory=list)
    nodes: List[NodeDecl] = field(default_factory=list)
    outputs: List[str] = field(default_factory=list)
    source: str = ""                  # "examples/notebook_mlp.py:loss"
    aliases: dict = field(default_factory=dict)
    scalar_outputs: set = field(default_factory=set)
    inplace: list = field(default_factory=list)      # (file, line) of each in-place op kept


def build(ep, root, specs, source="", aliases=None):
    """The `Draft` of a spec for an exported program."""
    return _Builder(ep, root, specs, source, aliases or {}).draft()


class _Builder:
    def __init__(self, ep, root, specs, source, aliases):
        self.ep, self.root, self.specs, self.aliases = ep, root, specs, aliases
        self.graph = ep.graph
        self.names = Names()
        self.source = source
        self.out_nodes = self._outputs()
        self.live = self._reachable(self.out_nodes)
        self.origin = origins(self.graph, root, Sources(), set(self.out_nodes))
        self.spelled = {}
        self.nodes = []

    # --- what the losses depend on ----------------------------------------------------------
    def _outputs(self):
        by_name = {n.name: n for n in self.graph.nodes}
        outs = []
        for s in self.ep.graph_signature.output_specs:
            if s.kind != OutputKind.USER_OUTPUT:
                continue
            node = by_name.get(getattr(s.arg, "name", None))
            if node is None:
                raise TraceError("'%s' returns %r, which is not a tensor: return one or more scalar losses"
                                 % (self.root.title, getattr(s.arg, "value", s.arg)))
            outs.append(node)
        if not outs:
            raise TraceError("'%s' returns no tensor: return one or more scalar losses" % self.root.title)
        return outs

    @staticmethod
    def _reachable(outs):
        seen, stack = set(), list(outs)
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(n.all_input_nodes)
        return seen

    # --- the draft ----------------------------------------------------------------------------
    def draft(self):
        decls = declare(self.ep, self.root, self.specs, self.names)
        by_node = {n: decls[n.name] for n in self.graph.nodes if n.op == "placeholder"}
        infer({n: d for n, d in by_node.items() if d.kind == "data"}, self.graph)
        used = [(n, d) for n, d in by_node.items() if d.kind == "data" or n in self.live]
        for n, d in used:
            if d.kind == "constant" and not d.access:
                d.access = self._assigned_to(n)
        name_state([d for _, d in used if d.kind != "data"], self.names, self.root)
        for n, d in by_node.items():
            self.spelled[n] = self._placeholder(d)
        inputs = [d for n, d in used if self.spelled[n].text == d.name]    # not a constant spelled as a number
        inputs.sort(key=lambda d: d.kind != "data")                          # the data first, as in the code
        self._plan()
        for n in self.graph.nodes:
            if n.op == "call_function" and n in self.live:
                self._spell_node(n)
        outputs = self._output_names()
        scalar = {nm for nm, n in zip(outputs, self.out_nodes) if not tuple(n.meta["val"].shape)}
        inplace = [self._location(self.origin.get(n)) for n in inplace_ops(self.graph) if n in self.live]
        return Draft(self.root.title, self.root, self.specs, inputs, self.nodes, outputs, self.source, self.aliases,
                     scalar, inplace)

    def _assigned_to(self, placeholder):
        """The variable a constant of the code is assigned to (``w = torch.tensor(...)``), or ""."""
        for u in placeholder.users:
            o = self.origin.get(u)
            if o is not None:
                return o.top_var or o.deep_var or o.statement_var or ""
        return ""

    @staticmethod
    def _placeholder(d):
        t = d.tensor
        if d.kind == "constant" and not t.shape and not d.requires_grad and d.dtype == "float":
            return literal(float(t))          # torch.tensor(2.0) in the code: just the number
        return name_expr(d.name)

    def _plan(self):
        """Before spelling: which ops pass their input on unchanged (`SAME`), how often each
        value is used, and so which call nodes get a spec node of their own."""
        for n in inplace_ops(self.graph):
            try:
                check_inplace(n, self.live)
            except Unsupported as e:
                raise self._error(str(e), self.origin.get(n)) from None
        calls = [n for n in self.graph.nodes if n.op == "call_function" and n in self.live]
        self.source_of = {}
        for n in calls:
            if _trial(n) is SAME:
                self.source_of[n] = self.effective(_first_tensor(n))
                self._pass_names(n, self.source_of[n])
        self.returned = {self.effective(n) for n in self.out_nodes}
        self.keys = {self.effective(n): k for n, k in zip(self.out_nodes, _output_keys(self.ep))}
        uses = {}
        for n in calls:
            if n in self.source_of:
                continue
            for x in _flat(list(n.args) + list(n.kwargs.values())):
                if hasattr(x, "op"):
                    x = self.effective(x)
                    uses[x] = uses.get(x, 0) + (2 if _repeats_input(n) else 1)
        self.materialize = set()
        for n in calls:
            o = self.origin[n]
            if n in self.returned or uses.get(n, 0) > 1 or o.top_var or o.deep_var or o.module:
                self.materialize.add(n)

    def effective(self, n):
        """The node whose value ``n`` is (itself, unless ``n`` is an identity op)."""
        return self.source_of.get(n, n)

    def _pass_names(self, n, src):
        """An identity op (clone, eval-mode dropout) hands its names to the value it passes on."""
        if src not in self.origin:
            return
        a, b = self.origin[src], self.origin[n]
        a.top_var, a.deep_var, a.module = a.top_var or b.top_var, a.deep_var or b.deep_var, a.module or b.module

    def _spell_node(self, n):
        o = self.origin.get(n)
        try:
            if n.target is operator.getitem:
                parent = self.spelled[n.args[0]]
                if not isinstance(parent, Multi):
                    raise Unsupported("indexing the result of %s is not in the spec language"
                                      % describe(n.args[0].target))
                result = parent.item(n.args[1], n.meta.get("val"))
            elif hasattr(n.target, "_schema"):
                result = spell(Call(n, self._arg))
                if result is SAME:
                    result = self.spelled[_first_tensor(n)]
            else:
                o = o if o and o.where else _inner_origin(n)
                raise Unsupported(_higher_order(n))
        except Unsupported as e:
            raise self._error(str(e), o) from None
        except ValueError as e:
            raise self._error("%s: %s" % (describe(n.target), e), o) from None
        if isinstance(result, Expr) and not self._is_name(result):
            if n in self.returned:
                result = self._declare(n, result, o, key=self.keys.get(n))
            elif n in self.materialize:
                result = self._declare(n, result, o)
            elif len(result.text) > INLINE_LIMIT:
                result = self._declare(n, result, o, part=True)
        self.spelled[n] = result

    def _is_name(self, e):
        return e.text in self.names.taken and e.text.isidentifier()

    def _declare(self, n, expr, o, part=False, key=None):
        """A spec node for ``n``; ``part``: a piece of a long statement, named after its variable;
        ``key``: the name a returned dict gives it."""
        val = n.meta.get("val")
        returned = key or ("loss" if val is not None and not val.shape else "out")
        op = op_name(n.target).strip("_") if hasattr(n.target, "_schema") else "t"
        if part:
            nm = self.names.take("%s_part" % o.statement_var if o and o.statement_var else op)
        else:
            nm = node_name(self.names, top_var=o.top_var, module=o.module,
                           output=returned if n in self.returned else None, deep_var=o.deep_var,
                           statement_var=o.statement_var, op=op, prefix=self.root.label)
        self.nodes.append(NodeDecl(nm, expr.text, o.where if o else None))
        return name_expr(nm)

    def _arg(self, v):
        if hasattr(v, "op"):                  # an fx Node
            s = self.spelled[v]
            if isinstance(s, Multi):
                raise Unsupported("%s returns several tensors; only its parts can be used" % describe(v.target))
            return s
        if isinstance(v, (list, tuple)):
            return [self._arg(x) for x in v]
        return v

    def _output_names(self):
        out = []
        for n in self.out_nodes:
            s = self.spelled.get(n)
            if self.effective(n).op == "placeholder" or s is None:
                raise TraceError("'%s' returns its input unchanged: return a loss computed from it" % self.root.title)
            if not self._is_name(s):
                s = self._declare(n, s, self.origin.get(n))
            elif s.text in out:
                raise TraceError("'%s' returns the same tensor twice (%s)" % (self.root.title, s.text))
            val = n.meta.get("val")
            if val is not None and not val.is_floating_point():
                raise self._error("'%s' returns an integer tensor: a loss is a float tensor" % self.root.title,
                                  self.origin.get(n))
            out.append(s.text)
        return out

    def _location(self, origin):
        """(file, line) of the user's code for an origin; the traced file alone if unknown."""
        where = origin.where if origin else None
        if where is None:
            return self.source.rpartition(":")[0] or None, None
        return display(where.file, self.aliases), where.line

    def _error(self, msg, origin):
        return TraceError(msg, *self._location(origin))


def _first_tensor(n):
    return next(a for a in _flat(list(n.args) + list(n.kwargs.values())) if hasattr(a, "op"))


def _flat(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _repeats_input(n):
    """True for an op with several results whose every part repeats the whole call
    (``split(x, 2)[0]``, ``split(x, 2)[1]``): its input is worth a name."""
    schema = getattr(n.target, "_schema", None)
    if schema is None or op_name(n.target) == "broadcast_tensors":
        return False
    return len(schema.returns) > 1 or str(schema.returns[0].type).startswith("List")


def _output_keys(ep):
    """The keys of a returned dict (``{"ce": ..., "reg": ...}``), else no names."""
    spec = getattr(getattr(ep, "call_spec", None), "out_spec", None)
    if getattr(spec, "type", None) is dict and all(isinstance(k, str) for k in spec.context):
        return list(spec.context)
    return []


def _trial(n):
    """What the rule for ``n`` gives with its arguments spelled as bare names (None if it fails:
    the real spelling reports why)."""
    if not hasattr(n.target, "_schema"):
        return None

    def arg(v):
        if hasattr(v, "op"):
            return name_expr(v.name)
        return [arg(x) for x in v] if isinstance(v, (list, tuple)) else v
    try:
        return spell(Call(n, arg))
    except Exception:
        return None


def _inner_origin(n):
    """Where the code of a higher-order op's body (a no_grad region, say) comes from."""
    from .provenance import Origin
    from .source import frames
    owner = n.graph.owning_module
    for a in n.args:
        sub = getattr(owner, a.target, None) if getattr(a, "op", None) == "get_attr" else None
        for m in getattr(getattr(sub, "graph", None), "nodes", ()):
            f = frames(m)
            if f:
                return Origin(where=f[-1])
    return None


def _higher_order(n):
    name = getattr(n.target, "__name__", str(n.target))
    if "grad" in name:
        return "a torch.no_grad()/enable_grad() region ('%s') is not in the spec language: use detach()" % name
    return "'%s' is not in the spec language" % name
