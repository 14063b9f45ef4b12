"""The errors symgrad raises on purpose.

`SymgradError` is the root; the CLI turns any of them into one line on stderr.
`SpecError` is bad input: it carries the file, line and column (1-based, where known)
so the message reads ``FILE:LINE:COL: what is wrong``.  A message quotes user text
(names, keys, file names), so `one_line` escapes line breaks and control characters:
an error is always exactly one printable line, whatever the spec contains.
"""


def one_line(text):
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x1b``)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] if c != "'" else c for c in text)


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
