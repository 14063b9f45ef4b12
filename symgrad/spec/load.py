"""Loading a spec: YAML text -> a validated `Problem` (SPEC section 1).

The YAML is read and composed by `yamlread` (safe loader, symgrad's own limits first), so
every value keeps its line and column.  The builder here checks the spec section by section:
duplicate keys (which PyYAML would silently merge), unknown keys, wrong types, bad sizes,
undefined names, forward references, shape mismatches and values outside their domain
(`domains`) all become `SpecError`s that point at the offending place -- for an expression
error, at the offending token inside the expression (`_Builder.text_pos` maps a position in a
scalar's value back to the file).  Node expressions are parsed here (``symgrad.spec.parse``),
so a loaded `Problem` (``symgrad.spec.problem``) is known to be well formed.
"""
import keyword
import math
import re

import yaml
from sympy import Integer, Symbol

from ..errors import SpecError, printable_path
from ..tensor import Tensor, shape_of, fmt_shape
from .domains import DOMAIN_RULES, outside
from .dtypes import read_dtype, high_value, entry_rule
from .expr import parse_expr_kind
from .hessians import read_hessians
from .parse import suggest, locate
from .problem import Mark, InputDecl, NodeDecl, Problem
from .yamlread import (read_spec_bytes, byte_pos, compose, check_tags, short as _short, node_kind, mapping,
                       scalar, plain_value)

TOP_KEYS = ("title", "description", "dims", "inputs", "nodes", "outputs", "wrt", "retain_grad", "backward",
            "hessians")
INPUT_KEYS = ("shape", "requires_grad", "domain", "value", "dtype", "high")
DOMAINS = ("real", "positive", "nonnegative", "unit", "spd", "simplex")
MAX_DIM_VALUE = 10 ** 9
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")      # used with fullmatch ('a\n' is no name)
_FLOAT_TEXT = re.compile(r"^[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$")
_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class _Ctx:
    def __init__(self, file):
        self.file = file

    def fail(self, node, msg):
        m = node.start_mark if node is not None else None
        raise SpecError(msg, self.file, m.line + 1 if m else None, m.column + 1 if m else None)


def load(path):
    """Read and validate a spec file (a path as text, bytes or os.PathLike)."""
    file = printable_path(path)
    raw = read_spec_bytes(path, file)
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = byte_pos(raw, nul)
        raise SpecError("not a text file (it contains a NUL byte): a spec is YAML text", file, line, col)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = byte_pos(raw, e.start)
        raise SpecError("not a UTF-8 text file (invalid byte 0x%02x): a spec is YAML text" % raw[e.start],
                        file, line, col)
    return loads(text, file=file)


def loads(text, file="<spec>"):
    """Validate a spec given as YAML text."""
    ctx = _Ctx(file)
    if not isinstance(text, str):
        raise SpecError("a spec must be text, got %s" % type(text).__name__, file)
    if "\x00" in text:
        k = text.index("\x00")
        raise SpecError("not a text file (it contains a NUL character): a spec is YAML text", file,
                        text.count("\n", 0, k) + 1, k - text.rfind("\n", 0, k))
    root = compose(text, file)
    if root is None:
        raise SpecError("the spec is empty: it needs at least 'inputs' and 'nodes'", file, 1, 1)
    check_tags(ctx, root, 0)
    if not isinstance(root, yaml.MappingNode):
        ctx.fail(root, "the spec must be a mapping with 'inputs' and 'nodes', not %s" % node_kind(root))
    top = mapping(ctx, root, "the spec")
    for k, (kn, _) in top.items():
        if k not in TOP_KEYS:
            ctx.fail(kn, "unknown key '%s'%s; allowed: %s" % (_short(k), suggest(k, TOP_KEYS), ", ".join(TOP_KEYS)))
    return _Builder(ctx, top, text, root).problem()


def _mark(node, offset=0):
    m = node.start_mark
    return Mark(m.line + 1, m.column + 1 + offset)


class _Builder:
    def __init__(self, ctx, top, text, root):
        self.ctx, self.top, self.text, self.root = ctx, top, text, root
        self.names = {}            # every defined name -> its key node

    def get(self, key):
        return self.top.get(key, (None, None))

    def str_field(self, key):
        kn, vn = self.get(key)
        if vn is None:
            return ""
        v = scalar(self.ctx, vn)
        if isinstance(vn, yaml.ScalarNode) and v is None:
            return ""
        if not isinstance(vn, yaml.ScalarNode) or isinstance(v, (list, dict)):
            self.ctx.fail(vn, "'%s' must be text" % key)
        return str(v)

    def define(self, kn, name, what):
        if not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name):
            self.ctx.fail(kn, "%s name %r is not a valid identifier" % (what, name))
        if name.startswith("__") or name in ("pi", "True", "False", "None"):
            self.ctx.fail(kn, "%s name '%s' is reserved" % (what, name))
        if name.startswith("grad_"):
            self.ctx.fail(kn, "%s name '%s' is reserved (grad_<o> names upstream gradients)" % (what, name))
        if name in self.names:
            prev = self.names[name]
            self.ctx.fail(kn, "'%s' is defined twice (first at line %d)" % (name, prev.start_mark.line + 1))
        self.names[name] = kn

    def problem(self):
        ctx = self.ctx
        title = self.str_field("title")
        description = self.str_field("description")
        dims = self.dims()
        env = {name: sym for name, (sym, _) in dims.items()}
        inputs = self.inputs(dims, env)
        nodes = self.nodes(env)
        tensors = {d.name: d for d in inputs}
        tensors.update({n.name: n for n in nodes})
        outputs = self.name_list("outputs", {n.name for n in nodes} | {d.name for d in inputs}, "a tensor")
        if outputs is None:
            used = set()
            for n in nodes:
                used |= {s.name for s in n.expr.atoms(Tensor)}
            outputs = [n.name for n in nodes if n.name not in used]
        wrt = self.name_list("wrt", set(tensors), "a tensor")
        if wrt is None:
            wrt = [d.name for d in inputs if d.requires_grad]
        retain = self.name_list("retain_grad", set(tensors), "a tensor") or []
        prob = Problem(ctx.file, title, description, dims, inputs, nodes, outputs, wrt, retain, None, self.text)
        from ..diff.graph import requires_grad_map
        rg = requires_grad_map(prob)
        kn, vn = self.get("wrt")
        for k, name in enumerate(wrt):
            if not rg[name]:
                node = self.item(vn, k) if vn is not None else self.names[name]
                ctx.fail(node, "cannot differentiate with respect to '%s': it does not require grad" % name)
        kn, vn = self.get("retain_grad")
        for k, name in enumerate(retain):
            if not rg[name]:
                ctx.fail(self.item(vn, k), "can't retain_grad on Tensor '%s' that has requires_grad=False" % name)
        prob.backward = self.backward(prob, env)
        prob.hessians = read_hessians(self.ctx, self.get("hessians")[1], prob, rg)
        return prob

    def dims(self):
        kn, vn = self.get("dims")
        out = {}
        if vn is None or (isinstance(vn, yaml.ScalarNode) and scalar(self.ctx, vn) is None):
            return out
        for name, (k, v) in mapping(self.ctx, vn, "'dims'").items():
            self.define(k, name, "dim")
            val = scalar(self.ctx, v)
            if isinstance(v, yaml.ScalarNode) and val is None:
                val = None
            elif isinstance(val, bool) or not isinstance(val, int):
                self.ctx.fail(v, "dim '%s' must be a positive integer, got %r" % (name, val))
            elif val <= 0 or val > MAX_DIM_VALUE:
                self.ctx.fail(v, "dim '%s' must be a positive integer, got %d" % (name, val))
            out[name] = (Symbol(name, integer=True, positive=True), val)
        return out

    def inputs(self, dims, env):
        kn, vn = self.get("inputs")
        if vn is None:
            self.ctx.fail(self.root, "the spec has no 'inputs'")
        items = mapping(self.ctx, vn, "'inputs'")
        if not items:
            self.ctx.fail(vn, "'inputs' is empty")
        out = []
        for name, (k, v) in items.items():
            self.define(k, name, "input")
            fields = {}
            if not (isinstance(v, yaml.ScalarNode) and scalar(self.ctx, v) is None):
                fields = mapping(self.ctx, v, "input '%s'" % name)
            for f, (fk, _) in fields.items():
                if f not in INPUT_KEYS:
                    self.ctx.fail(fk, "unknown key '%s' in input '%s'%s; allowed: %s"
                                  % (f, name, suggest(f, INPUT_KEYS), ", ".join(INPUT_KEYS)))
            shape = self.shape(fields.get("shape", (None, None))[1], dims, name)
            dtype, high = read_dtype(self.ctx, fields, dims, name)
            rg = dtype == "float"
            if "requires_grad" in fields:
                rg = scalar(self.ctx, fields["requires_grad"][1])
                if not isinstance(rg, bool):
                    self.ctx.fail(fields["requires_grad"][1], "requires_grad must be true or false")
            domain = "real"
            if "domain" in fields:
                domain = scalar(self.ctx, fields["domain"][1])
                if domain not in DOMAINS:
                    self.ctx.fail(fields["domain"][1], "domain must be one of %s, got %r%s"
                                  % (", ".join(DOMAINS), domain, suggest(str(domain), DOMAINS)))
                if domain == "spd" and (len(shape) < 2 or shape[-1] != shape[-2]):
                    self.ctx.fail(fields["domain"][1], "domain spd needs a square matrix (or a batch of them), "
                                                       "got %s" % fmt_shape(shape))
            value, value_mark = None, None
            if "value" in fields:
                entry = None if dtype == "float" else entry_rule(dtype, high_value(high, dims), name)
                value = self.value(fields["value"][1], shape, dims, name, entry)
                self.check_domain(fields["value"][1], name, domain, value)
                value_mark = _mark(fields["value"][1])
            assume = {"real": {"real": True}, "positive": {"positive": True},
                      "nonnegative": {"nonnegative": True}, "unit": {"positive": True},
                      "spd": {"real": True}, "simplex": {"nonnegative": True}}[domain]
            if dtype != "float":
                assume = {"integer": True, "nonnegative": True}
            sym = Tensor(name, shape, domain=domain, dtype=dtype, high=high, **assume)
            env[name] = sym
            out.append(InputDecl(name, shape, rg, domain, value, sym, _mark(k), value_mark, dtype, high))
        return out

    def shape(self, node, dims, name):
        if node is None:
            return ()
        if isinstance(node, yaml.ScalarNode):
            v = scalar(self.ctx, node)
            if v is None:
                return ()
            if isinstance(v, int) and not isinstance(v, bool):
                node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark, node.end_mark)
            else:
                self.ctx.fail(node, "shape of '%s' must be a list of sizes" % name)
        if not isinstance(node, yaml.SequenceNode):
            self.ctx.fail(node, "shape of '%s' must be a list of sizes" % name)
        if len(node.value) > 8:
            self.ctx.fail(node, "shape of '%s' has %d dimensions (at most 8)" % (name, len(node.value)))
        out = []
        for item in node.value:
            v = scalar(self.ctx, item)
            if isinstance(v, bool) or not isinstance(item, yaml.ScalarNode):
                self.ctx.fail(item, "a size must be a positive integer or a dim name")
            if isinstance(v, int):
                if v <= 0:
                    self.ctx.fail(item, "size %d in the shape of '%s' must be positive" % (v, name))
                if v > MAX_DIM_VALUE:
                    self.ctx.fail(item, "size %d in the shape of '%s' is too large" % (v, name))
                out.append(Integer(v))
            elif isinstance(v, str) and v in dims:
                out.append(dims[v][0])
            else:
                self.ctx.fail(item, "size %r of '%s' is not an integer or a declared dim%s"
                              % (v, name, suggest(str(v), dims)))
        return tuple(out)

    def value(self, node, shape, dims, name, entry=None):
        data = plain_value(self.ctx, node)

        def number(x, path):
            if entry is not None:                  # an integer or bool input
                v, wrong = entry(x)
                if wrong is not None:
                    self.ctx.fail(node, "value of '%s'%s %s" % (name, path, wrong))
                return v
            if isinstance(x, str) and _FLOAT_TEXT.match(x.strip()):
                x = float(x.strip().replace("_", ""))      # YAML 1.1 reads 1e-3 as text
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                self.ctx.fail(node, "value of '%s'%s must be a number, got %s" % (name, path, _short(repr(x))))
            try:
                x = float(x)
            except OverflowError:
                x = math.inf
            if not math.isfinite(x):
                self.ctx.fail(node, "value of '%s'%s must be a finite number, got %s" % (name, path, x))
            return x

        def check(x, s, path):
            if not s:
                return number(x, path)
            if not isinstance(x, list):
                self.ctx.fail(node, "value of '%s'%s must be a list of length %s (the shape is %s)"
                              % (name, path, s[0], fmt_shape(shape)))
            d = s[0]
            if d.is_Symbol:
                d = dims[str(d)][1]
                if d is None:
                    self.ctx.fail(node, "value of '%s' needs dim '%s' to have a value in 'dims'" % (name, s[0]))
            if len(x) != int(d):
                self.ctx.fail(node, "value of '%s'%s has length %d, the shape %s needs %d"
                              % (name, path, len(x), fmt_shape(shape), int(d)))
            return [check(y, s[1:], path + "[%d]" % k) for k, y in enumerate(x)]
        return check(data, shape, "")

    def check_domain(self, node, name, domain, value):
        """A given value must lie in the input's domain (else the closed forms, which rely
        on it, would be blamed by the check)."""
        wrong = outside(domain, value)
        if wrong is not None:
            self.ctx.fail(node, "value of '%s'%s: outside its domain %s (%s)"
                          % (name, wrong, domain, DOMAIN_RULES[domain]))

    def nodes(self, env):
        kn, vn = self.get("nodes")
        if vn is None:
            self.ctx.fail(self.root, "the spec has no 'nodes'")
        items = mapping(self.ctx, vn, "'nodes'")
        if not items:
            self.ctx.fail(vn, "'nodes' is empty")
        out = []
        for name, (k, v) in items.items():
            self.define(k, name, "node")
            expr_text = self.expr_text(v, "node '%s'" % name)
            expr, kind = self.parse(expr_text, env, v, name)
            sym = Tensor(name, shape_of(expr), real=True, dtype={"long": "long", "bool": "bool"}.get(kind, "float"))
            env[name] = sym
            line, col = self.text_pos(v, len(expr_text) - len(expr_text.lstrip()))
            out.append(NodeDecl(name, expr_text, expr, sym, Mark(line, col)))
        return out

    def expr_text(self, v, what):
        if not isinstance(v, yaml.ScalarNode):
            self.ctx.fail(v, "%s must be an expression (text), not %s" % (what, node_kind(v)))
        val = scalar(self.ctx, v)
        if isinstance(val, bool) or val is None:
            self.ctx.fail(v, "%s must be an expression, got the YAML %s %s (quote it if you mean a name)"
                          % (what, "boolean" if isinstance(val, bool) else "null", _short(v.value or "(empty)")))
        return v.value

    def text_pos(self, vnode, index):
        """File line and column (1-based) of character ``index`` of a scalar node's value.

        The node's source text is aligned with its value, so quotes, escapes, folded
        lines and the indentation of block scalars are all accounted for.
        """
        value = vnode.value
        s, e = vnode.start_mark.index, vnode.end_mark.index
        src = self.text[s:e]
        j = 0
        if vnode.style in ("|", ">"):
            m = _BREAKS.search(src)
            j = m.end() if m else len(src)
        elif vnode.style in ("'", '"'):
            j = 1
        skip = " \t\r\n\x85\u2028\u2029\\\"'"

        def seek(j, ch):
            k = j
            while k < len(src) and src[k] != ch and src[k] in skip:
                k += 1
            return k if k < len(src) and src[k] == ch else None
        index = max(0, min(index, len(value)))
        for i in range(index):
            k = seek(j, value[i])
            j = k + 1 if k is not None else j + 1
        if index < len(value):
            k = seek(j, value[index])
            if k is not None:
                j = k
        j = max(0, min(j, len(src) - 1)) if src else 0
        breaks = list(_BREAKS.finditer(src, 0, j))
        if breaks:
            return vnode.start_mark.line + 1 + len(breaks), j - breaks[-1].end() + 1
        return vnode.start_mark.line + 1, vnode.start_mark.column + 1 + j

    def parse(self, text, env, vnode, name=None):
        try:
            return parse_expr_kind(text, env)
        except SpecError as e:
            line, col = self.text_pos(vnode, locate(text, e))
            if name is not None and e.message.startswith("undefined name"):
                later = re.match(r"undefined name '([^']+)'", e.message)
                if later and later.group(1) == name:
                    e.message = "node '%s' refers to itself (a cycle): nodes may only use inputs, dims and earlier nodes" % name
                elif later and later.group(1) in self.pending_nodes():
                    e.message = ("'%s' is used before it is defined (nodes may only use inputs, dims "
                                 "and earlier nodes; no cycles)" % later.group(1))
            raise e.located(self.ctx.file, line, col)

    def pending_nodes(self):
        kn, vn = self.get("nodes")
        return {k.value for k, _ in vn.value} if isinstance(vn, yaml.MappingNode) else set()

    @staticmethod
    def item(vn, k):
        """The node of the k-th name of a list field (a single name may stand for a list)."""
        return vn.value[k] if isinstance(vn, yaml.SequenceNode) else vn

    def name_list(self, key, allowed, what):
        kn, vn = self.get(key)
        if vn is None:
            return None
        if isinstance(vn, yaml.ScalarNode):
            v = scalar(self.ctx, vn)
            if v is None:
                return []
            vn = yaml.SequenceNode("tag:yaml.org,2002:seq", [vn], vn.start_mark, vn.end_mark)
        if not isinstance(vn, yaml.SequenceNode):
            self.ctx.fail(vn, "'%s' must be a list of names" % key)
        out, seen = [], set()
        for item in vn.value:
            v = scalar(self.ctx, item)
            if not isinstance(item, yaml.ScalarNode) or not isinstance(v, str):
                self.ctx.fail(item, "'%s' must be a list of names" % key)
            if v not in allowed:
                self.ctx.fail(item, "'%s' in '%s' is not %s of the spec%s" % (v, key, what, suggest(v, allowed)))
            if v in seen:
                self.ctx.fail(item, "'%s' appears twice in '%s'" % (v, key))
            out.append(v)
            seen.add(v)
        return out

    def backward(self, prob, env):
        kn, vn = self.get("backward")
        if vn is None:
            return None
        if isinstance(vn, yaml.ScalarNode) and scalar(self.ctx, vn) is None:
            return []
        if not isinstance(vn, yaml.SequenceNode):
            self.ctx.fail(vn, "'backward' must be a list of calls such as 'd.backward()'")
        from .steps import parse_step
        steps = []
        for item in vn.value:
            text = self.expr_text(item, "a backward step")
            line, col = self.text_pos(item, len(text) - len(text.lstrip()))
            try:
                steps.append(parse_step(text, prob, env, Mark(line, col)))
            except SpecError as e:
                line, col = self.text_pos(item, locate(text, e))
                raise e.located(self.ctx.file, line, col)
        return steps
