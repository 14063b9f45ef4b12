"""What to trace: ``FILE.py:NAME`` -> the Python object NAME.

Loading FILE.py runs it, as ``pytest`` or ``python -c 'import FILE'`` would: it is the
user's own code (a YAML spec, by contrast, is never executed).  It is run as a fresh
module with its folder on ``sys.path`` (so it can import its neighbours), and not as
``__main__`` (so an ``if __name__ == "__main__":`` block does not run).  A failure while
running it is a `TraceError` at the user's line.
"""
import importlib.util
import inspect
import itertools
import os
import re
import sys

from ..errors import SymgradError
from .errors import TraceError
from .source import locate, display

_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_counter = itertools.count()


def split_target(text):
    """``"model.py:MLP"`` -> ``("model.py", "MLP")``; None when the text is not FILE.py:NAME."""
    m = _TARGET.match(str(text))
    return (m.group("file"), m.group("name")) if m else None


def is_target(text):
    """True for text that names Python code (FILE.py:NAME, or a bare FILE.py) rather than a YAML spec."""
    text = str(text)
    return split_target(text) is not None or text.endswith(".py") or re.search(r"\.py:[^/\\]*$", text) is not None


def load_target(text):
    """Run FILE.py and return ``(the object NAME, the file as given, NAME)``."""
    parts = split_target(text)
    if parts is None:
        raise SymgradError("%r: expected FILE.py:NAME, where NAME is a function or an nn.Module "
                           "defined in FILE.py (e.g. model.py:MLP)" % str(text))
    path, name = parts
    module = run_file(path)
    if not hasattr(module, name):
        defined = sorted(k for k, v in vars(module).items() if not k.startswith("_") and _traceable(v, module))
        raise TraceError("no '%s' in %s%s" % (name, path, " (it defines: %s)" % ", ".join(defined)
                                               if defined else ""), path)
    return getattr(module, name), path, name


def _traceable(v, module):
    import torch
    if isinstance(v, torch.nn.Module):
        return True
    if inspect.isclass(v) and issubclass(v, torch.nn.Module) or inspect.isfunction(v):
        return getattr(v, "__module__", None) == module.__name__
    return False


def run_file(path):
    """Execute FILE.py as a fresh module; any failure is a `TraceError` at the user's line."""
    if not os.path.isfile(path):
        what = "it is a folder" if os.path.isdir(path) else "no such file"
        raise TraceError("cannot run it: %s" % what, path)
    full = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    modname = "_symgrad_trace_%s_%d" % (stem, next(_counter))
    spec = importlib.util.spec_from_file_location(modname, full)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    folder = os.path.dirname(full)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise TraceError("cannot run %s: %s: %s" % (path, type(e).__name__, e.msg), path, e.lineno, e.offset)
    except (KeyboardInterrupt, TraceError):
        raise
    except BaseException as e:           # SystemExit too: the file is the user's, not ours
        raise user_error("running %s raised" % path, e, {full: path}) from None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    return module


def user_error(what, e, aliases=None):
    """A `TraceError` for an exception raised by the user's code, at its innermost user line."""
    where = locate(e.__traceback__)
    first = (str(e).strip().splitlines() or [""])[0]
    msg = "%s %s%s" % (what, type(e).__name__, ": " + first[:300] if first else "")
    if where is None:
        return TraceError(msg)
    return TraceError(msg, display(where.file, aliases), where.line)


