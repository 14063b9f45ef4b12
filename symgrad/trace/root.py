"""The root module torch.export runs, and how the user's code names what it holds.

NAME may be an ``nn.Module`` instance or class (a class is instantiated with no
arguments) whose ``forward`` returns the loss, or a function returning one or more
losses.  A function is wrapped in a module that owns every ``nn.Module`` the function's
code refers to (its globals and closure, and those of the functions it calls in the same
file), so that torch.export sees their parameters as parameters -- leaves with
qualified names -- and not as constants.
"""
import inspect
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Dict, List

from .errors import TraceError
from .source import display
from .target import user_error


@dataclass
class Root:
    """The module to export, and how the user's code names things."""
    module: object                    # an nn.Module
    label: str                        # the code's name for the model: "mlp" in mlp.fc1.weight
    title: str                        # what was traced, for the spec's title: "loss", "MLP"
    args: List[str]                   # the data arguments, in order
    required: List[str]               # those without a default value
    positional: List[str]             # those that can only be passed by position
    strip: str = ""                   # prefix dropped from parameter paths ("mlp." for one module)
    modules: Dict[str, object] = field(default_factory=dict)   # module name -> module, for functions
    paths: Dict[str, str] = field(default_factory=dict)        # module name -> how the code reaches it

    def qualname(self, target):
        """The parameter's qualified name as the model knows it: ``fc1.weight``."""
        return target[len(self.strip):] if self.strip and target.startswith(self.strip) else target

    def access(self, target):
        """How the user's code reaches the tensor: ``mlp.fc1.weight``, ``cfg.model.fc.weight``."""
        if not (self.strip or self.modules):
            return "%s.%s" % (self.label, target)
        first, _, rest = target.partition(".")
        return "%s.%s" % (self.paths.get(first, first), rest) if rest else target

    def module_path(self, path):
        """A module path of the graph (``mlp.fc1``) as the model knows it (``fc1``)."""
        if self.strip and (path + ".").startswith(self.strip):
            return path[len(self.strip):]
        return path


def make_root(obj, title, file=None, label=None):
    """A `Root` for an nn.Module (instance or class) or a function; ``label`` is the code's
    name for a module instance (``model`` in ``model.fc1.weight``)."""
    import torch
    where = (file, None)
    if inspect.isclass(obj):
        if not issubclass(obj, torch.nn.Module):
            raise TraceError("'%s' is a class but not an nn.Module: trace an nn.Module or a function "
                             "returning a loss" % title, *where)
        try:
            obj = obj()
        except Exception as e:
            err = user_error("%s() (instantiated with no arguments) raised" % title, e)
            raise err.located(*_defined_at(obj)) from None
        return _module_root(obj, _snake(title), title)
    if isinstance(obj, torch.nn.Module):
        return _module_root(obj, label or _snake(title), title)
    if callable(obj):
        return _function_root(obj, title)
    raise TraceError("'%s' is %s, not a function or an nn.Module" % (title, _a(type(obj).__name__)), *where)


def _defined_at(obj):
    """(file, line) where a class or function is defined, as far as Python knows."""
    try:
        return display(inspect.getsourcefile(obj)), inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return None, None


def _a(word):
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _snake(name):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()


def _signature(fn, title):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise TraceError("cannot read the arguments of '%s'" % title, *_defined_at(fn))
    args, required, positional = [], [], []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TraceError("'%s' takes %s%s: give its tensor arguments names" % (
                title, "*" if p.kind == p.VAR_POSITIONAL else "**", p.name), *_defined_at(fn))
        args.append(p.name)
        if p.default is p.empty:
            required.append(p.name)
        if p.kind == p.POSITIONAL_ONLY:
            positional.append(p.name)
    return args, required, positional


def _module_root(module, label, title):
    args, required, positional = _signature(module.forward, title)
    return Root(module, label, title, args, required, positional)


def _function_module(fn, modules):
    """The module that runs a function (defined here so that torch is imported only when tracing)."""
    import torch

    class FunctionRoot(torch.nn.Module):
        """Runs the user's function; owns the modules it uses, so their parameters are parameters."""

        def __init__(self):
            super().__init__()
            self.fn = fn
            for name, m in modules.items():
                self.add_module(name, m)

        def forward(self, *args, **kwargs):
            return self.fn(*args, **kwargs)
    return FunctionRoot()


def _function_root(fn, title):
    args, required, positional = _signature(fn, title)
    modules, paths = referenced_modules(fn)
    root = _function_module(fn, modules)
    if len(modules) == 1:
        label = next(iter(modules))
        return Root(root, label, title, args, required, positional, strip=label + ".", paths=paths)
    return Root(root, title, title, args, required, positional, modules=dict(modules), paths=paths)


def referenced_modules(fn):
    """``(modules, paths)``: name -> nn.Module for each module the function's code reads
    (and name -> how the code reaches it, ``cfg.model``), in the order it reads
    them: a global or closure variable (``mlp(x)``), or an attribute of a user object or
    Python module it reads (``models.net(x)``, ``cfg.model(x)``: named ``net``, ``model``,
    or ``models_net`` where that name is taken), following the functions of the same file
    it calls.  The bytecode tells a variable from an attribute of the same name."""
    import torch
    found, paths, seen = {}, {}, set()

    def add(path, v):
        if any(v is m for m in found.values()):
            return
        name = path[-1] if path[-1] not in found else "_".join(path)
        found[name], paths[name] = v, ".".join(path)

    def scan(f):
        code = getattr(f, "__code__", None)
        if code is None or code in seen:
            return
        seen.add(code)
        env = dict(getattr(f, "__globals__", {}))
        for n, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
            try:
                env[n] = cell.cell_contents
            except ValueError:          # a closure cell not yet filled
                pass
        for path, v in _reads(code, env):
            if isinstance(v, torch.nn.Module):
                add(path, v)
            elif isinstance(v, types.FunctionType) and v.__globals__ is getattr(f, "__globals__", None):
                scan(v)
    scan(inspect.unwrap(fn) if not isinstance(fn, types.MethodType) else fn.__func__)
    return found, paths


_LOADS = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF"}
_ATTRS = {"LOAD_ATTR", "LOAD_METHOD"}


def _reads(code, env):
    """(path, value) for each variable the code (and its nested code) reads from ``env``,
    and each attribute chain on it through user objects: ``(("cfg", "model"), <module>)``."""
    import dis
    out = []
    for c in [code] + [k for k in code.co_consts if isinstance(k, types.CodeType)]:
        if c is not code:
            out += _reads(c, env)
            continue
        path, value = None, None
        for ins in dis.get_instructions(c):
            if ins.opname in _LOADS and ins.argval in env:
                path, value = (ins.argval,), env[ins.argval]
                out.append((path, value))
            elif ins.opname in _ATTRS and path is not None and _user_object(value):
                value = _attribute(value, ins.argval)
                path = path + (ins.argval,)
                if value is None:
                    path = None
                else:
                    out.append((path, value))
            else:
                path = None
    return out


def _user_object(v):
    """A Python module or an instance of a class from the user's files (not torch's, not builtins)."""
    from .source import is_user_file
    if isinstance(v, types.ModuleType):
        return is_user_file(getattr(v, "__file__", None) or "")
    if isinstance(v, (type, types.FunctionType, types.BuiltinFunctionType)) or v is None:
        return False
    mod = sys.modules.get(type(v).__module__)
    return mod is not None and is_user_file(getattr(mod, "__file__", None) or "")


def _attribute(v, name):
    """``v.name`` without running user code (no properties), or None."""
    try:
        if isinstance(v, types.ModuleType):
            return vars(v).get(name)
        return inspect.getattr_static(v, name, None)
    except Exception:
        return None
