"""Where things come from in the user's code: files, frames, statements, variable names.

torch.export records a stack trace on each graph node; `frames` keeps the frames of the
user's code (dropping torch's and symgrad's own), innermost last.  `Sources` reads the
user's files once with `ast` (never running them again) to tell which statement a line
belongs to and which variable that statement assigns -- the names a person gave the
values, which the spec reuses.  `locate` does the same for an exception's traceback, so
a failure while loading or tracing points at the user's line.
"""
import ast
import functools
import linecache
import os
import re
import traceback
from dataclasses import dataclass

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_SYMGRAD = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    func: str


@functools.lru_cache(maxsize=None)
def _library_dirs():
    import torch
    return (os.path.dirname(os.path.abspath(torch.__file__)) + os.sep, _SYMGRAD + os.sep)


def is_user_file(path):
    """False for torch's and symgrad's own files and for Python's frozen/builtin pseudo-files."""
    if not path or path.startswith("<") and path != "<stdin>":
        return False
    full = os.path.abspath(path)
    return not any(full.startswith(d) for d in _library_dirs())


def frames(node):
    """The user's frames of a graph node's stack trace, outermost first."""
    text = node.meta.get("stack_trace") or ""
    out = []
    for m in _FRAME.finditer(text):
        if is_user_file(m.group("file")):
            out.append(Frame(m.group("file"), int(m.group("line")), m.group("func")))
    return tuple(out)


def locate(tb):
    """The innermost frame of the user's code in a traceback (a `Frame`), or None."""
    best = None
    for fs in traceback.extract_tb(tb):
        if is_user_file(fs.filename):
            best = Frame(fs.filename, fs.lineno, fs.name)
    return best


def display(path, aliases=None):
    """A path as the user would write it: as given on the command line, else relative to cwd."""
    full = os.path.abspath(path)
    if aliases and full in aliases:
        return aliases[full]
    try:
        rel = os.path.relpath(full)
    except ValueError:            # another drive (Windows)
        return path
    return rel if not rel.startswith(".." + os.sep) else path


class Sources:
    """The statements of the user's files, parsed once each."""

    def __init__(self):
        self._stmts = {}

    def _statements(self, path):
        if path not in self._stmts:
            text = "".join(linecache.getlines(path))
            spans = []
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError):
                tree = None
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, ast.stmt) and not isinstance(node, _COMPOUND):
                    spans.append((node.lineno, getattr(node, "end_lineno", node.lineno), node))
            self._stmts[path] = spans
        return self._stmts[path]

    def statement(self, frame):
        """The innermost simple statement (not a def, loop or if) that contains the frame's line."""
        best = None
        for start, end, node in self._statements(frame.file):
            if start <= frame.line <= end and (best is None or start >= best.lineno):
                best = node
        return best

    def assigned(self, frame):
        """The variable the frame's statement assigns (``h = ...``, ``h += ...``), or None."""
        st = self.statement(frame)
        if isinstance(st, ast.Assign) and len(st.targets) == 1:
            target = st.targets[0]
        elif isinstance(st, (ast.AugAssign, ast.AnnAssign)):
            target = st.target
        else:
            return None
        return target.id if isinstance(target, ast.Name) else None


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While, ast.If,
             ast.With, ast.AsyncWith, ast.Try) + tuple(getattr(ast, k) for k in ("Match", "TryStar") if hasattr(ast, k))
