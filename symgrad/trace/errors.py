"""`TraceError`: PyTorch code that cannot become a spec, located in the user's code.

A trace error is bad input like a spec error (exit status 2 on the command line), so it
is a `SpecError` and prints the same way: ``FILE:LINE: message``, where FILE and LINE are
the user's Python file and the line that did what the spec language cannot say.
"""
from ..errors import SpecError, one_line


class TraceError(SpecError):
    """Tracing failed, or the traced program uses something outside the spec language."""

    def __str__(self):
        return super().__str__() if self.file is not None else one_line(self.message)
