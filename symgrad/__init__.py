"""symgrad: closed-form gradients from a YAML spec, proven against PyTorch, written up as notes.

    import symgrad
    problem = symgrad.load("expr.yaml")
    result = symgrad.derive(problem)
    result.gradient("d", "a").text      # 'a'

Pipeline (one module per stage): loader -> graph -> derive -> compile/check -> report/render.
torch is imported only by the stages that need it (compile, check, schedule proof).
"""
from .version import __version__
from .errors import SymgradError, SpecError, ShapeError, CheckError
from .loader import load, loads, Problem
from .derivation import derive, Derivation, Gradient

__all__ = ["__version__", "load", "loads", "derive", "Derivation", "Gradient", "Problem",
           "SymgradError", "SpecError", "ShapeError", "CheckError"]
