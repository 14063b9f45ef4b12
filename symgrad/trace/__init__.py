"""symgrad trace: PyTorch code -> a spec in symgrad's YAML language (SPEC section 13).

    symgrad trace model.py:loss --input x=8,1,28,28 --input y=8:long:10 -o spec.yaml
    problem = symgrad.trace(loss, x="8,1,28,28", y="8:long:10")

The pipeline, one module per step:

    target    FILE.py:NAME -> the function or module NAME (runs FILE.py)
    root      NAME -> the root module to export, and how the code names its parameters
    inputs    --input text / example values -> InputSpec -> example tensors
    capture   torch.export (non-strict) of the root; failures located in the user's code
    build     the exported graph -> a Draft: inputs (leaves), named nodes, outputs
      vocab/      one rule per ATen op: its spelling in the spec language (expr: the text)
      leaves      placeholders -> inputs (parameters, buffers, constants, data)
      provenance  each node's line, variable and module in the user's code (source: files)
      naming      unique, readable names
      inplace     when an in-place op may be written out of place
    write     Draft -> YAML text, commented with the user's lines
    api       the calls above as `trace`, `trace_yaml`, `trace_file`

Why torch.export rather than torch.fx's symbolic tracing: see `capture`.  torch is
imported only when something is traced, so ``import symgrad`` stays light.
"""
from .api import trace, trace_yaml, trace_file, load_spec_or_code, load_traced, Traced
from .errors import TraceError
from .target import is_target

__all__ = ["trace", "trace_yaml", "trace_file", "load_spec_or_code", "load_traced", "Traced", "TraceError",
           "is_target"]
