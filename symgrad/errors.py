"""The errors symgrad raises on purpose.

`SymgradError` is the root; the CLI turns any of them into one line on stderr.
`SpecError` is bad input: it carries the file, line and column (1-based, where known)
so the message reads ``FILE:LINE:COL: what is wrong``.  A message quotes user text
(names, keys, file names), so `one_line` escapes line breaks and control characters:
an error is always exactly one printable line, whatever the spec contains.
`printable_path` does the same for file names, which need not be UTF-8 on POSIX.
"""
import os


def one_line(text):
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x1b``)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] if c != "'" else c for c in text)


def printable_path(path):
    """A file name as printable text: bytes that are not UTF-8 as ``\\xe9``, control
    characters escaped.  Accepts text (undecodable bytes as surrogate escapes, the way
    Python passes them in ``sys.argv``), bytes and ``os.PathLike``."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        try:
            path = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:          # a lone surrogate that is no escaped byte
            path = path.encode("utf-8", "backslashreplace").decode("utf-8")
    return one_line(path)


class SymgradError(Exception):
    """Base class for every error symgrad raises deliberately."""


class SpecError(SymgradError):
    """A spec (YAML file or expression) is invalid."""

    def __init__(self, message, file=None, line=None, col=None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col

    def located(self, file=None, line=None, col=None):
        """Fill in location fields that are still unknown; return self."""
        if self.file is None:
            self.file = file
        if self.line is None:
            self.line = line
        if self.col is None:
            self.col = col
        return self

    def __str__(self):
        where = str(self.file or "<spec>")
        if self.line is not None:
            where += ":%d" % self.line
            if self.col is not None:
                where += ":%d" % self.col
        return one_line("%s: %s" % (where, self.message))


class ShapeError(SpecError):
    """Shapes that do not fit together (a kind of spec error)."""


class CheckError(SymgradError):
    """A numeric check could not be run (e.g. CUDA asked for but missing)."""
