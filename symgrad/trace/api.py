"""Tracing as library calls: `trace` (-> a Problem), `trace_yaml` (-> the spec's text), and
`trace_file` / `load_spec_or_code` for the command line (``FILE.py:NAME`` and ``--input``).

Each is the same pipeline: find the code (`target`), bind the example inputs to its
arguments (`inputs`), export it (`capture`), spell the graph as a spec (`build`), write
the YAML (`write`).  A traced spec then loads like any other; if it uses a function this
version of the spec language cannot read yet, the error points at the user's line.
"""
import inspect
import os
from dataclasses import dataclass, field

from ..errors import SpecError, SymgradError
from .errors import TraceError
from .inputs import from_example, parse_option
from .source import display
from .root import make_root
from .target import is_target, load_target


@dataclass
class Traced:
    text: str              # the spec, YAML
    origins: dict          # line of the YAML -> (file, line, node name) of the user's code
    source: str            # "model.py:loss"
    tensors: dict = field(default_factory=dict)   # input name -> the model's own tensor (parameters,
                                                  # buffers, constants): to run the compiled module on


def trace(fn_or_module, /, *, with_values=False, **example_inputs):
    """Trace a function returning scalar losses, or an nn.Module (class or instance) whose
    forward returns the loss, into a spec: a `Problem` as `symgrad.load` returns.

    ``example_inputs`` name the function's (or forward's) tensor arguments: a tensor, a
    shape such as ``"8,784"`` or ``"8:long:10"`` (class labels in [0, 10)), or a tuple of
    sizes.  ``with_values=True`` puts the parameters' (and example tensors') values in the
    spec, so its numeric check runs on the model's own numbers.
    """
    return load_traced(_trace_object(fn_or_module, with_values, example_inputs))


def trace_yaml(fn_or_module, /, *, with_values=False, **example_inputs):
    """Like `trace`, but return the spec's YAML text (to save, read or edit)."""
    return _trace_object(fn_or_module, with_values, example_inputs).text


def trace_file(target, options=(), with_values=False):
    """``FILE.py:NAME`` and ``--input`` texts -> `Traced` (runs FILE.py: the user's own code)."""
    specs = [parse_option(o) for o in options]
    obj, path, name = load_target(target)
    aliases = {os.path.abspath(path): path}
    try:
        root = make_root(obj, name, path, label=name)
        return _run(root, specs, "%s:%s" % (path, name), aliases, with_values, "--input")
    except TraceError as e:
        raise e.located(path)


def load_spec_or_code(spec, options=()):
    """What ``symgrad derive`` reads: a YAML spec, or ``FILE.py:NAME`` traced with ``--input``."""
    if is_target(spec):
        return load_traced(trace_file(spec, options))
    if options:
        raise SymgradError("--input goes with FILE.py:NAME (traced code), not with a YAML spec")
    from ..spec.load import load
    return load(spec)


def load_traced(traced):
    """Load a traced spec; an error in it is reported at the user's line that made it."""
    from ..spec.load import loads
    try:
        return loads(traced.text, file="<spec traced from %s>" % traced.source)
    except SpecError as e:
        origin = traced.origins.get(e.line)
        if origin is None:
            raise TraceError("%s (line %s of the spec traced from it: see `symgrad trace %s`)"
                             % (e.message, e.line, traced.source), traced.source.rpartition(":")[0] or None) from None
        file, line, node = origin
        raise TraceError("%s (in the traced node '%s')" % (e.message, node), file, line) from None


def _trace_object(obj, with_values, example_inputs):
    title = getattr(obj, "__name__", None) or type(obj).__name__
    defined = type(obj) if hasattr(obj, "forward") and not inspect.isclass(obj) else obj   # a module instance
    try:
        file = inspect.getsourcefile(defined)
    except TypeError:
        file = None
    source = "%s:%s" % (display(file), title) if file else title
    specs = [from_example(k, v) for k, v in example_inputs.items()]
    try:
        return _run(make_root(obj, title), specs, source, {}, with_values, "example input")
    except TraceError as e:
        raise e.located(display(file) if file else None)


def _run(root, specs, source, aliases, with_values, what):
    from .build import build
    from .capture import capture, backward_runs
    from .write import to_yaml
    specs = bind(root, specs, what)
    ep = capture(root, specs, aliases)
    draft = build(ep, root, specs, source, aliases)
    if draft.inplace:
        err = backward_runs(root, specs)
        if err is not None:
            first = (str(err).strip().splitlines() or [""])[0].split(": [")[0]
            raise TraceError("an in-place op here overwrites a value autograd saved for backward, so "
                             "PyTorch's backward raises (%s): write it out of place" % first[:200], *draft.inplace[0])
    text, origins = to_yaml(draft, with_values)
    return Traced(text, origins, source, {d.name: d.tensor for d in draft.inputs if d.kind != "data"})


def bind(root, specs, what):
    """The example inputs in the order of the code's arguments; every required one given."""
    given = {}
    for s in specs:
        if s.name in given:
            raise SymgradError("%s %s is given twice" % (what, s.name))
        if s.name not in root.args:
            raise SymgradError("%s %s: '%s' has no argument '%s' (it takes %s)" % (
                what, s.name, root.title, s.name, ", ".join(root.args) or "no arguments"))
        given[s.name] = s
    missing = [a for a in root.required if a not in given]
    if missing:
        raise SymgradError("'%s' takes %s: missing %s" % (root.title, ", ".join(root.args), ", ".join(
            "%s %s=SHAPE" % (what, m) if what == "--input" else "%s %s" % (what, m) for m in missing)))
    return [given[a] for a in root.args if a in given]
