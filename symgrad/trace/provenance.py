"""What each graph node is in the user's code: its line, the variable it is assigned to,
the module call it is the result of.

Export records nodes in execution order, each with its stack trace and module path
(``nn_module_stack``).  From those:

- a node *ends a statement* at a frame level when the next node recorded is no longer
  inside that statement (at that level); the last node of ``h = relu(fc1(x))`` is the
  value of ``h``.  The shallowest level where a node ends an assigning statement gives its
  variable: at the traced function's own level a *top* variable, deeper (inside a block's
  ``forward`` or a helper) a *deep* one;
- a node is *the result of a module call* when some node using it lies outside that call
  (its module-stack key, which tells repeated calls of one module apart, is not among the
  user's keys) or it is returned: it is named after the module's path.
"""
from dataclasses import dataclass
from typing import Optional

from .source import Frame, frames


@dataclass
class Origin:
    where: Optional[Frame] = None      # the innermost line of the user's code
    top_var: Optional[str] = None      # assigned by the traced function itself
    deep_var: Optional[str] = None     # assigned deeper (a block's forward, a helper)
    module: Optional[str] = None       # the module call it is the result of: "fc1", "blocks.0"
    statement_var: Optional[str] = None    # the variable of the traced function's statement
                                           # that computes it (a loop body: x = x + f(x))


def origins(graph, root, sources, returned):
    """node -> `Origin` for every call node of the exported graph."""
    top = _top_code(root)
    calls = [n for n in graph.nodes if n.op == "call_function"]
    # a generator expression or lambda belongs to the statement around it
    fr = {n: tuple(f for f in frames(n) if not _anonymous(f)) for n in calls}
    out = {}
    for i, n in enumerate(calls):
        f = fr[n]
        o = Origin(where=f[-1] if f else None)
        after = fr[calls[i + 1]] if i + 1 < len(calls) else ()
        if f and (f[-1].file, f[-1].func) == top:
            o.statement_var = sources.assigned(f[-1])
        for k in range(len(f)):
            if after[:k + 1] == f[:k + 1]:
                continue                  # the statement at this level goes on
            var = sources.assigned(f[k])
            if var:
                if (f[k].file, f[k].func) == top:
                    o.top_var = var
                else:
                    o.deep_var = var
                break
        o.module = _module_result(n, root, returned)
        out[n] = o
    return out


def _anonymous(frame):
    return frame.func.startswith("<") and frame.func != "<module>"


def _top_code(root):
    """(file, function name) of the traced function or of the model's own forward."""
    fn = getattr(root.module, "fn", None) or getattr(type(root.module), "forward", None)
    code = getattr(fn, "__code__", None)
    return (code.co_filename, code.co_name) if code is not None else None


def _innermost(node):
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None, None
    key = list(stack)[-1]
    return key, stack[key][0]


def _module_result(node, root, returned):
    key, path = _innermost(node)
    if key is None or not path:
        return None                       # created by the root's own code
    leaves = node in returned or any(key not in (u.meta.get("nn_module_stack") or {}) for u in node.users
                                     if u.op == "call_function")
    if not leaves:
        return None
    return root.module_path(path) or root.label
