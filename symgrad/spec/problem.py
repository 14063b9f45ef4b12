"""The data model of a loaded spec: a `Problem` and its declarations.

What every later stage reads: the inputs (`InputDecl`), the nodes (`NodeDecl`, with their
SymPy expressions), the backward schedule (`BackwardStep`), and where each was written
(`Mark`) so that later errors can point at the spec.
"""
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from ..errors import SpecError, SymgradError
from ..tensor import Tensor


@dataclass
class Mark:
    line: int
    col: int


@dataclass
class InputDecl:
    name: str
    shape: Tuple
    requires_grad: bool
    domain: str
    value: Any
    symbol: Tensor
    mark: Mark
    value_mark: Optional[Mark] = None      # where the value is written, if given
    dtype: str = "float"                   # "float" | "long" | "bool" (SPEC section 10)
    high: Any = None                       # a long input's values lie in [0, high): int or dim Symbol

    @property
    def is_float(self):
        return self.dtype == "float"


@dataclass
class NodeDecl:
    name: str
    text: str
    expr: Any
    symbol: Tensor
    mark: Mark


@dataclass
class BackwardStep:
    call: str                 # the text, as written
    kind: str                 # "backward" | "zero_grad"
    output: Optional[str]
    retain_graph: bool
    gradient: Any             # SymPy expression or None
    mark: Mark


@dataclass
class Problem:
    file: str
    title: str
    description: str
    dims: dict                 # name -> (Symbol, value or None)
    inputs: List[InputDecl]
    nodes: List[NodeDecl]
    outputs: List[str]
    wrt: List[str]
    retain_grad: List[str]
    backward: Optional[List[BackwardStep]]
    text: str = ""
    marks: dict = field(default_factory=dict)
    hessians: list = field(default_factory=list)   # [(f, x, y)]: SPEC section 11

    @property
    def tensors(self):
        """name -> Tensor symbol, inputs then nodes, in spec order."""
        out = {d.name: d.symbol for d in self.inputs}
        out.update({n.name: n.symbol for n in self.nodes})
        return out

    def check_dims(self, overrides):
        """Refuse dim values (``--dim n=5``) that the spec has no dim for, or that contradict
        the shape of a given ``value`` (a SpecError pointing at the value)."""
        for name, v in overrides.items():
            if name not in self.dims:
                raise SymgradError("--dim %s=%s: %s has no dim '%s' (its dims: %s)"
                                   % (name, v, self.file, name, ", ".join(self.dims) or "none"))
            sym, declared = self.dims[name]
            if v == declared:
                continue
            for d in self.inputs:
                if d.value is not None and sym in d.shape:
                    raise SpecError("--dim %s=%d contradicts the value of '%s', which has %d entries along "
                                    "dim '%s': drop --dim %s or the value" % (name, v, d.name, declared, name, name),
                                    self.file, d.value_mark.line, d.value_mark.col)
                if d.value is not None and d.high == sym and _max_entry(d.value) >= v:
                    raise SpecError("--dim %s=%d contradicts the value of '%s', whose entries must lie in "
                                    "[0, %s): drop --dim %s or the value" % (name, v, d.name, name, name),
                                    self.file, d.value_mark.line, d.value_mark.col)

    def input(self, name):
        return next(d for d in self.inputs if d.name == name)

    def node(self, name):
        return next((n for n in self.nodes if n.name == name), None)


def _max_entry(v):
    """The largest entry of a value given as nested lists."""
    return max((_max_entry(x) for x in v), default=-1) if isinstance(v, list) else v
