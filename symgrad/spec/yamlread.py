"""Reading a spec file and composing its YAML, with symgrad's own limits answering first.

The file is read without blocking (a FIFO or device cannot hang the command) and up to a
size limit; the YAML is composed with PyYAML's safe loader -- never constructed into
objects -- after a pass over the parser's events refuses tags, aliases ("billion laughs"),
deep nesting and too many entries, each as a located `SpecError`.
"""
import os
import re
import select
import stat

import yaml

from ..errors import SpecError

MAX_FILE_BYTES = 10_000_000


MAX_YAML_DEPTH = 64


MAX_YAML_ENTRIES = 250_000     # scalars, lists and mappings: a 500x500 value, or 10,000 nodes


MAX_NAMES = 10_000             # inputs, nodes and dims, each
MAX_BACKWARD_STEPS = 10_000
SECTION_LIMITS = {"inputs": MAX_NAMES, "nodes": MAX_NAMES, "dims": MAX_NAMES, "backward": MAX_BACKWARD_STEPS}


READ_IDLE_TIMEOUT = 10.0       # seconds a FIFO or device may stay silent while it is read


SAFE_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


# Implicit YAML types a spec never needs: dates stay text, '<<' and '=' are plain keys.
_DROPPED = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"}


def _resolvers(base):
    return {k: [(t, rx) for (t, rx) in v if t not in _DROPPED]
            for k, v in base.yaml_implicit_resolvers.items()}


class PyLoader(yaml.SafeLoader):
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


def byte_pos(raw, k):
    line = raw.count(b"\n", 0, k) + 1
    start = raw.rfind(b"\n", 0, k) + 1
    return line, len(raw[start:k].decode("utf-8", "replace")) + 1


def compose(text, file):
    """The YAML node tree: aliases, deep nesting and too many entries are refused first.

    libyaml is fast but scans a flow collection ahead of its events (and has a nesting
    limit of its own); when it fails inside brackets nested deeper than symgrad allows,
    the pure-Python scanner (which checks the depth as it goes) reads the text up to that
    point once more, so that symgrad's own limit answers before the dependency's does.
    """
    try:
        return _compose_with(text, file, _CLoader or PyLoader)
    except _YAMLSyntax as e:
        if _CLoader is not None and e.index is not None and _bracket_depth(text, e.index) >= MAX_YAML_DEPTH:
            try:
                _guard_events(text[:e.index + 1], file, PyLoader)
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
                raise SpecError("YAML aliases ('*%s') are not allowed: write the value out" % short(ev.anchor),
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


def check_tags(ctx, node, depth):
    if depth > 100:
        ctx.fail(node, "YAML nested too deeply")
    if node.tag not in SAFE_TAGS:
        ctx.fail(node, "YAML tag '%s' is not allowed: a spec holds only text, numbers, lists and mappings"
                 % tag_text(node.tag))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            check_tags(ctx, k, depth + 1)
            check_tags(ctx, v, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            check_tags(ctx, v, depth + 1)


def short(s, n=40):
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."


def tag_text(tag):
    tag = tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
    return short("!!" + tag if not tag.startswith("!") else tag, 60)


CONSTRUCTOR = yaml.constructor.SafeConstructor()


def node_kind(node):
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"


def mapping(ctx, node, what):
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


def scalar(ctx, node):
    """The Python value of a scalar node under YAML 1.1 safe rules (str, int, float, bool, None)."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    build = PyLoader.yaml_constructors.get(node.tag)
    if build is None or node.tag not in SAFE_TAGS:
        ctx.fail(node, "YAML tag '%s' is not allowed: a spec holds only text, numbers, lists and mappings"
                 % tag_text(node.tag))
    try:
        return build(CONSTRUCTOR, node)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError):
        ctx.fail(node, "invalid %s value %r" % (node.tag.rsplit(":", 1)[-1], short(node.value)))


def plain_value(ctx, node):
    """Plain Python data of a node (lists, dicts, scalars) for values and simple fields."""
    if isinstance(node, yaml.ScalarNode):
        return scalar(ctx, node)
    if isinstance(node, yaml.SequenceNode):
        return [plain_value(ctx, v) for v in node.value]
    return {k: plain_value(ctx, v) for k, (_, v) in mapping(ctx, node, "this value").items()}
