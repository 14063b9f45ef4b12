"""symgrad: closed-form gradients from a YAML spec, proven against PyTorch, written up as notes.

    import symgrad
    problem = symgrad.load("expr.yaml")
    result = symgrad.derive(problem)
    result.gradient("d", "a").text      # 'a'

Pipeline (one module per stage): loader -> graph -> derive -> compile/check -> report/render.
torch is imported only by the stages that need it (compile, check, schedule proof).
"""
import sys

# SymPy walks expression trees recursively, and the closed forms of a deep network nest
# deeply (each layer adds a few levels); raised once, here, rather than mid-computation.
if sys.getrecursionlimit() < 8000:
    sys.setrecursionlimit(8000)

from .version import __version__  # noqa: E402
from .errors import SymgradError, SpecError, ShapeError, CheckError
from .spec.load import load, loads, Problem
from .derivation import derive, Derivation, Gradient
# The package symgrad.trace is shadowed here by its function: symgrad.trace(fn, x="8,784").
from .trace import trace, trace_yaml, TraceError

__all__ = ["__version__", "load", "loads", "derive", "Derivation", "Gradient", "Problem",
           "SymgradError", "SpecError", "ShapeError", "CheckError", "trace", "trace_yaml", "TraceError"]
