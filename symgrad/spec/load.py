"""Loading a spec: YAML text -> a validated `Problem`.

The YAML is composed (never constructed into arbitrary objects) with PyYAML's safe
loader, so tags such as ``!!python/object`` are refused and every value keeps its line
and column.  Before composing, a pass over the parser's events refuses aliases (no
"billion laughs") and nesting deeper than `MAX_YAML_DEPTH` (no recursion error, no
crash of the C composer).  Duplicate keys (which PyYAML would silently merge), unknown
keys, wrong types, bad sizes, undefined names, forward references and shape mismatches
all become `SpecError`s that point at the offending place -- for an expression error,
at the offending token inside the expression (`_Builder.text_pos` maps a position in a
scalar's value back to the file).  Node expressions are parsed here
(``symgrad.spec.parse``), so a loaded `Problem` is known to be well formed.

Size is bounded before work is done: the file is read up to `MAX_FILE_BYTES` (a FIFO or
device is read without blocking: it cannot hang the command), the event pass counts YAML
entries and refuses more than `MAX_YAML_ENTRIES` before anything is composed, and each
section has its own cap (`SECTION_LIMITS`), counted in the same pass.  A given ``value`` is
checked against its shape and its declared ``domain``.
"""
import keyword
import math
import os
import re
import select
import stat
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import yaml
from sympy import Integer, Symbol

from ..errors import SpecError, SymgradError, printable_path
from .parse import parse_expr_text, suggest, locate
from ..tensor import Tensor, shape_of, fmt_shape

TOP_KEYS = ("title", "description", "dims", "inputs", "nodes", "outputs", "wrt", "retain_grad", "backward")
INPUT_KEYS = ("shape", "requires_grad", "domain", "value")
DOMAINS = ("real", "positive", "nonnegative", "unit", "spd", "simplex")
MAX_DIM_VALUE = 10 ** 9
MAX_FILE_BYTES = 10_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_ENTRIES = 250_000     # scalars, lists and mappings: a 500x500 value, or 10,000 nodes
MAX_NAMES = 10_000             # inputs, nodes and dims, each
MAX_BACKWARD_STEPS = 10_000
SECTION_LIMITS = {"inputs": MAX_NAMES, "nodes": MAX_NAMES, "dims": MAX_NAMES, "backward": MAX_BACKWARD_STEPS}
READ_IDLE_TIMEOUT = 10.0       # seconds a FIFO or device may stay silent while it is read
_SAFE_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")      # used with fullmatch ('a\n' is no name)
_FLOAT_TEXT = re.compile(r"^[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$")
_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# Implicit YAML types a spec never needs: dates stay text, '<<' and '=' are plain keys.
_DROPPED = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"}


def _resolvers(base):
    return {k: [(t, rx) for (t, rx) in v if t not in _DROPPED]
            for k, v in base.yaml_implicit_resolvers.items()}


class _PyLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = _resolvers(yaml.SafeLoader)

    def fetch_flow_collection_start(self, TokenClass):
        # PyYAML's scanner reads a whole flow collection ahead of the parser (and newer
        # releases have a nesting limit of their own): symgrad's limit answers first.
        if self.flow_level + len(self.indents) >= MAX_YAML_DEPTH:
            raise _TooDeep(self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


class _TooDeep(Exception):
    def __init__(self, mark):
        super().__init__()
        self.mark = mark


if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        yaml_implicit_resolvers = _resolvers(yaml.SafeLoader)
else:                                   # pragma: no cover - PyYAML without libyaml
    _CLoader = None

_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass
class Mark:
    line: int
    col: int


@dataclass
class InputDecl:
    name: str
    shape: Tuple
    requires_grad: bool
    domain: str
    value: Any
    symbol: Tensor
    mark: Mark
    value_mark: Optional[Mark] = None      # where the value is written, if given


@dataclass
class NodeDecl:
    name: str
    text: str
    expr: Any
    symbol: Tensor
    mark: Mark


@dataclass
class BackwardStep:
    call: str                 # the text, as written
    kind: str                 # "backward" | "zero_grad"
    output: Optional[str]
    retain_graph: bool
    gradient: Any             # SymPy expression or None
    mark: Mark


@dataclass
class Problem:
    file: str
    title: str
    description: str
    dims: dict                 # name -> (Symbol, value or None)
    inputs: List[InputDecl]
    nodes: List[NodeDecl]
    outputs: List[str]
    wrt: List[str]
    retain_grad: List[str]
    backward: Optional[List[BackwardStep]]
    text: str = ""
    marks: dict = field(default_factory=dict)

    @property
    def tensors(self):
        """name -> Tensor symbol, inputs then nodes, in spec order."""
        out = {d.name: d.symbol for d in self.inputs}
        out.update({n.name: n.symbol for n in self.nodes})
        return out

    def check_dims(self, overrides):
        """Refuse dim values (``--dim n=5``) that the spec has no dim for, or that contradict
        the shape of a given ``value`` (a SpecError pointing at the value)."""
        for name, v in overrides.items():
            if name not in self.dims:
                raise SymgradError("--dim %s=%s: %s has no dim '%s' (its dims: %s)"
                                   % (name, v, self.file, name, ", ".join(self.dims) or "none"))
            sym, declared = self.dims[name]
            if v == declared:
                continue
            for d in self.inputs:
                if d.value is not None and sym in d.shape:
                    raise SpecError("--dim %s=%d contradicts the value of '%s', which has %d entries along "
                                    "dim '%s': drop --dim %s or the value" % (name, v, d.name, declared, name, name),
                                    self.file, d.value_mark.line, d.value_mark.col)

    def input(self, name):
        return next(d for d in self.inputs if d.name == name)

    def node(self, name):
        return next((n for n in self.nodes if n.name == name), None)


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
        line, col = _byte_pos(raw, nul)
        raise SpecError("not a text file (it contains a NUL byte): a spec is YAML text", file, line, col)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = _byte_pos(raw, e.start)
        raise SpecError("not a UTF-8 text file (invalid byte 0x%02x): a spec is YAML text" % raw[e.start],
                        file, line, col)
    return loads(text, file=file)


def read_spec_bytes(path, file):
    """The bytes of a spec file, at most `MAX_FILE_BYTES`; never blocks for long.

    The file is opened without blocking and its type checked first: a folder, a socket or a
    block device is refused; a FIFO or a character device (``<(cmd)``, ``/dev/stdin``) is
    read as long as it keeps sending data (a FIFO with no writer is empty at once, a silent
    one gives up after `READ_IDLE_TIMEOUT` seconds).
    """
    def fail(msg):
        raise SpecError("cannot read the spec: %s" % msg, file)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as e:          # ValueError: a NUL in the path
        fail(getattr(e, "strerror", None) or str(e))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            fail("it is a folder, not a file")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
            fail("it is not a regular file (%s)" % _file_kind(mode))
        if stat.S_ISREG(mode):
            os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            try:
                chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - size))
            except BlockingIOError:              # a writer is there but silent: wait a while
                if not select.select([fd], [], [], READ_IDLE_TIMEOUT)[0]:
                    fail("nothing arrived for %g seconds (%s)" % (READ_IDLE_TIMEOUT, _file_kind(mode)))
                continue
            except OSError as e:
                fail(e.strerror or str(e))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise SpecError("the spec is too large (more than %d MB)" % (MAX_FILE_BYTES // 1_000_000), file, 1, 1)
    if size == 0 and stat.S_ISFIFO(mode):
        fail("the FIFO is empty (no process is writing to it)")
    return b"".join(chunks)


def _file_kind(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _byte_pos(raw, k):
    line = raw.count(b"\n", 0, k) + 1
    start = raw.rfind(b"\n", 0, k) + 1
    return line, len(raw[start:k].decode("utf-8", "replace")) + 1


def loads(text, file="<spec>"):
    """Validate a spec given as YAML text."""
    ctx = _Ctx(file)
    if not isinstance(text, str):
        raise SpecError("a spec must be text, got %s" % type(text).__name__, file)
    if "\x00" in text:
        k = text.index("\x00")
        raise SpecError("not a text file (it contains a NUL character): a spec is YAML text", file,
                        text.count("\n", 0, k) + 1, k - text.rfind("\n", 0, k))
    root = _compose(text, file)
    if root is None:
        raise SpecError("the spec is empty: it needs at least 'inputs' and 'nodes'", file, 1, 1)
    _check_tags(ctx, root, 0)
    if not isinstance(root, yaml.MappingNode):
        ctx.fail(root, "the spec must be a mapping with 'inputs' and 'nodes', not %s" % _kind(root))
    top = _mapping(ctx, root, "the spec")
    for k, (kn, _) in top.items():
        if k not in TOP_KEYS:
            ctx.fail(kn, "unknown key '%s'%s; allowed: %s" % (_short(k), suggest(k, TOP_KEYS), ", ".join(TOP_KEYS)))
    return _Builder(ctx, top, text, root).problem()


def _kind(node):
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"


def _short(s, n=40):
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."


def _tag(tag):
    tag = tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
    return _short("!!" + tag if not tag.startswith("!") else tag, 60)


def _compose(text, file):
    """The YAML node tree: aliases, deep nesting and too many entries are refused first.

    libyaml is fast but scans a flow collection ahead of its events (and has a nesting
    limit of its own); when it fails inside brackets nested deeper than symgrad allows,
    the pure-Python scanner (which checks the depth as it goes) reads the text up to that
    point once more, so that symgrad's own limit answers before the dependency's does.
    """
    try:
        return _compose_with(text, file, _CLoader or _PyLoader)
    except _YAMLSyntax as e:
        if _CLoader is not None and e.index is not None and _bracket_depth(text, e.index) >= MAX_YAML_DEPTH:
            try:
                _guard_events(text[:e.index + 1], file, _PyLoader)
            except yaml.YAMLError:
                pass
        raise


class _YAMLSyntax(SpecError):
    """PyYAML's own diagnosis of a text that is not YAML (``index``: where, if known)."""

    def __init__(self, message, file, line, col, index=None):
        super().__init__(message, file, line, col)
        self.index = index


def _bracket_depth(text, end):
    """The deepest nesting of [ ] and { } in text[:end], quotes ignored (an upper bound
    of the flow depth, good enough to tell whether a depth limit can be the cause)."""
    depth = top = 0
    for m in re.finditer(r"[\[\]{}]", text[:end]):
        depth += 1 if m.group() in "[{" else -1
        top = max(top, depth)
    return top


def _where(mark):
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _guard_events(text, file, loader):
    """Refuse aliases, deep nesting and too many entries while streaming the parser's events.

    Counted before anything is composed: every scalar, list and mapping (`MAX_YAML_ENTRIES`),
    and the entries of the sections 'inputs', 'nodes', 'dims' and 'backward' (`SECTION_LIMITS`).
    """
    frames = []          # per open collection: [is_mapping, next_is_key, limit, count, section]
    section = None       # the last key of the top-level mapping
    entries = 0
    try:
        for ev in yaml.parse(text, Loader=loader):
            if isinstance(ev, yaml.AliasEvent):
                raise SpecError("YAML aliases ('*%s') are not allowed: write the value out" % _short(ev.anchor),
                                file, *_where(ev.start_mark))
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frames.pop()
                continue
            if not isinstance(ev, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                continue
            entries += 1
            if entries > MAX_YAML_ENTRIES:
                raise SpecError("the spec has too many entries (more than %d scalars, lists and mappings): "
                                "leave large inputs without 'value' (they are drawn at random) or split the spec"
                                % MAX_YAML_ENTRIES, file, *_where(ev.start_mark))
            is_key = False
            if frames:
                f = frames[-1]
                is_key = f[0] and f[1]
                if f[2] is not None and (is_key or not f[0]):
                    f[3] += 1
                    if f[3] > f[2]:
                        raise SpecError("'%s' has more than %d entries: split the spec" % (f[4], f[2]),
                                        file, *_where(ev.start_mark))
                if f[0]:
                    f[1] = not f[1]
                if is_key and len(frames) == 1:
                    section = ev.value if isinstance(ev, yaml.ScalarEvent) else None
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(frames) >= MAX_YAML_DEPTH:
                    raise _TooDeep(ev.start_mark)
                top_value = len(frames) == 1 and not is_key
                limit = SECTION_LIMITS.get(section) if top_value else None
                frames.append([isinstance(ev, yaml.MappingStartEvent), True, limit, 0, section])
    except _TooDeep as e:
        raise SpecError("the YAML is nested too deeply (more than %d levels)" % MAX_YAML_DEPTH,
                        file, *_where(e.mark))


def _compose_with(text, file, loader):
    where = _where
    try:
        _guard_events(text, file, loader)
        return yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        problem, context = e.problem or "", e.context or ""
        if problem.startswith("but") and context:
            msg = "%s, %s" % (context, problem)
        else:
            msg = problem or context or "syntax error"
            if problem and context:
                msg += " (%s)" % context
        raise _YAMLSyntax("invalid YAML: %s" % msg, file, *where(m), index=m.index if m else None)
    except yaml.reader.ReaderError as e:
        pos = e.position
        if loader is _CLoader:                  # libyaml counts UTF-8 bytes
            pos = len(text.encode("utf-8")[:pos].decode("utf-8", "ignore"))
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        what = "#x%04x" % e.character if isinstance(e.character, int) else repr(e.character)
        raise SpecError("invalid YAML: unacceptable character %s: %s" % (what, e.reason), file, line, col)
    except yaml.YAMLError as e:
        raise SpecError("invalid YAML: %s" % str(e).splitlines()[0], file, 1, 1)
    except (RecursionError, MemoryError):
        raise SpecError("the YAML is nested too deeply", file, 1, 1)


def _check_tags(ctx, node, depth):
    if depth > 100:
        ctx.fail(node, "YAML nested too deeply")
    if node.tag not in _SAFE_TAGS:
        ctx.fail(node, "YAML tag '%s' is not allowed: a spec holds only text, numbers, lists and mappings"
                 % _tag(node.tag))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _check_tags(ctx, k, depth + 1)
            _check_tags(ctx, v, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _check_tags(ctx, v, depth + 1)


def _mapping(ctx, node, what):
    """An ordered dict key -> (key node, value node); duplicate keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        ctx.fail(node, "%s must be a mapping" % what)
    out = {}
    for kn, vn in node.value:
        if not isinstance(kn, yaml.ScalarNode):
            ctx.fail(kn, "keys of %s must be names" % what)
        k = kn.value
        if k in out:
            ctx.fail(kn, "duplicate key '%s' in %s (first at line %d)" % (k, what, out[k][0].start_mark.line + 1))
        out[k] = (kn, vn)
    return out


def _scalar(ctx, node):
    """The Python value of a scalar node under YAML 1.1 safe rules (str, int, float, bool, None)."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    build = _PyLoader.yaml_constructors.get(node.tag)
    if build is None or node.tag not in _SAFE_TAGS:
        ctx.fail(node, "YAML tag '%s' is not allowed: a spec holds only text, numbers, lists and mappings"
                 % _tag(node.tag))
    try:
        return build(_CONSTRUCTOR, node)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError):
        ctx.fail(node, "invalid %s value %r" % (node.tag.rsplit(":", 1)[-1], _short(node.value)))


def _value(ctx, node):
    """Plain Python data of a node (lists, dicts, scalars) for values and simple fields."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar(ctx, node)
    if isinstance(node, yaml.SequenceNode):
        return [_value(ctx, v) for v in node.value]
    return {k: _value(ctx, v) for k, (_, v) in _mapping(ctx, node, "this value").items()}


DOMAIN_RULES = {
    "positive": "every entry > 0", "nonnegative": "every entry >= 0",
    "unit": "every entry strictly between 0 and 1",
    "simplex": "entries >= 0 that sum to 1 along the last dim",
    "spd": "a symmetric positive definite matrix",
}
_ENTRY_OK = {"positive": lambda x: x > 0, "nonnegative": lambda x: x >= 0,
             "unit": lambda x: 0 < x < 1, "simplex": lambda x: x >= 0}
SIMPLEX_TOLERANCE = 1e-9        # |sum - 1| of each row
SYMMETRY_TOLERANCE = 1e-12      # |a_ij - a_ji| relative to the larger entry


def _outside(domain, value):
    """None when a value (nested lists of floats) lies in its domain, else what is wrong:
    a text that follows "value of 'a'", e.g. "[1] is -0.5"."""
    ok = _ENTRY_OK.get(domain)
    if ok is not None:
        bad = _first_entry(value, ok, "")
        if bad is not None:
            return "%s is %r" % bad
    if domain == "simplex":
        return _first_row(value, "")
    if domain == "spd":
        n = len(value)
        for i in range(n):
            for j in range(i):
                a, b = value[i][j], value[j][i]
                if abs(a - b) > SYMMETRY_TOLERANCE * max(abs(a), abs(b), 1.0):
                    return " is not symmetric: [%d][%d] is %r, [%d][%d] is %r" % (i, j, a, j, i, b)
        if not _positive_definite(value):
            return " is not positive definite (its Cholesky factorization fails)"
    return None


def _first_entry(x, ok, path):
    if not isinstance(x, list):
        return None if ok(x) else (path, x)
    for k, y in enumerate(x):
        bad = _first_entry(y, ok, "%s[%d]" % (path, k))
        if bad is not None:
            return bad
    return None


def _first_row(x, path):
    """The first row along the last dim that does not sum to 1."""
    if isinstance(x, list) and x and isinstance(x[0], list):
        for k, y in enumerate(x):
            bad = _first_row(y, "%s[%d]" % (path, k))
            if bad is not None:
                return bad
        return None
    total = math.fsum(x) if isinstance(x, list) else x
    if abs(total - 1) > SIMPLEX_TOLERANCE:
        return "%s sums to %r" % (path, total) if isinstance(x, list) else "%s is %r" % (path, x)
    return None


def _positive_definite(rows):
    """Whether a symmetric matrix (lists of floats) has a Cholesky factorization."""
    import numpy                                 # only for a given spd value
    try:
        numpy.linalg.cholesky(numpy.array(rows, dtype=float))
        return True
    except numpy.linalg.LinAlgError:
        return False


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
        v = _scalar(self.ctx, vn)
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
        return prob

    def dims(self):
        kn, vn = self.get("dims")
        out = {}
        if vn is None or (isinstance(vn, yaml.ScalarNode) and _scalar(self.ctx, vn) is None):
            return out
        for name, (k, v) in _mapping(self.ctx, vn, "'dims'").items():
            self.define(k, name, "dim")
            val = _scalar(self.ctx, v)
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
        items = _mapping(self.ctx, vn, "'inputs'")
        if not items:
            self.ctx.fail(vn, "'inputs' is empty")
        out = []
        for name, (k, v) in items.items():
            self.define(k, name, "input")
            fields = {}
            if not (isinstance(v, yaml.ScalarNode) and _scalar(self.ctx, v) is None):
                fields = _mapping(self.ctx, v, "input '%s'" % name)
            for f, (fk, _) in fields.items():
                if f not in INPUT_KEYS:
                    self.ctx.fail(fk, "unknown key '%s' in input '%s'%s; allowed: %s"
                                  % (f, name, suggest(f, INPUT_KEYS), ", ".join(INPUT_KEYS)))
            shape = self.shape(fields.get("shape", (None, None))[1], dims, name)
            rg = True
            if "requires_grad" in fields:
                rg = _scalar(self.ctx, fields["requires_grad"][1])
                if not isinstance(rg, bool):
                    self.ctx.fail(fields["requires_grad"][1], "requires_grad must be true or false")
            domain = "real"
            if "domain" in fields:
                domain = _scalar(self.ctx, fields["domain"][1])
                if domain not in DOMAINS:
                    self.ctx.fail(fields["domain"][1], "domain must be one of %s, got %r%s"
                                  % (", ".join(DOMAINS), domain, suggest(str(domain), DOMAINS)))
                if domain == "spd" and (len(shape) != 2 or shape[0] != shape[1]):
                    self.ctx.fail(fields["domain"][1], "domain spd needs a square matrix, got %s" % fmt_shape(shape))
            value, value_mark = None, None
            if "value" in fields:
                value = self.value(fields["value"][1], shape, dims, name)
                self.check_domain(fields["value"][1], name, domain, value)
                value_mark = _mark(fields["value"][1])
            assume = {"real": {"real": True}, "positive": {"positive": True},
                      "nonnegative": {"nonnegative": True}, "unit": {"positive": True},
                      "spd": {"real": True}, "simplex": {"nonnegative": True}}[domain]
            sym = Tensor(name, shape, domain=domain, **assume)
            env[name] = sym
            out.append(InputDecl(name, shape, rg, domain, value, sym, _mark(k), value_mark))
        return out

    def shape(self, node, dims, name):
        if node is None:
            return ()
        if isinstance(node, yaml.ScalarNode):
            v = _scalar(self.ctx, node)
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
            v = _scalar(self.ctx, item)
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

    def value(self, node, shape, dims, name):
        data = _value(self.ctx, node)

        def number(x, path):
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
        wrong = _outside(domain, value)
        if wrong is not None:
            self.ctx.fail(node, "value of '%s'%s: outside its domain %s (%s)"
                          % (name, wrong, domain, DOMAIN_RULES[domain]))

    def nodes(self, env):
        kn, vn = self.get("nodes")
        if vn is None:
            self.ctx.fail(self.root, "the spec has no 'nodes'")
        items = _mapping(self.ctx, vn, "'nodes'")
        if not items:
            self.ctx.fail(vn, "'nodes' is empty")
        out = []
        for name, (k, v) in items.items():
            self.define(k, name, "node")
            expr_text = self.expr_text(v, "node '%s'" % name)
            expr = self.parse(expr_text, env, v, name)
            sym = Tensor(name, shape_of(expr), real=True)
            env[name] = sym
            line, col = self.text_pos(v, len(expr_text) - len(expr_text.lstrip()))
            out.append(NodeDecl(name, expr_text, expr, sym, Mark(line, col)))
        return out

    def expr_text(self, v, what):
        if not isinstance(v, yaml.ScalarNode):
            self.ctx.fail(v, "%s must be an expression (text), not %s" % (what, _kind(v)))
        val = _scalar(self.ctx, v)
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
            return parse_expr_text(text, env)
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
            v = _scalar(self.ctx, vn)
            if v is None:
                return []
            vn = yaml.SequenceNode("tag:yaml.org,2002:seq", [vn], vn.start_mark, vn.end_mark)
        if not isinstance(vn, yaml.SequenceNode):
            self.ctx.fail(vn, "'%s' must be a list of names" % key)
        out, seen = [], set()
        for item in vn.value:
            v = _scalar(self.ctx, item)
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
        if isinstance(vn, yaml.ScalarNode) and _scalar(self.ctx, vn) is None:
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
