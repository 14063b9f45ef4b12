"""The ``hessians:`` key of a spec (SPEC section 11): which second derivatives to derive.

``hessians: [[f, x], [f, x, W]]`` asks for d2f/dx2 and d2f/dx dW: f a scalar output, x and W
in ``wrt`` or inputs that require grad.  Each entry becomes ``(f, x, y)`` (``[f, x]`` is
``(f, x, x)``); a wrong name, a non-scalar output, a duplicate is a located `SpecError`.
"""
import yaml

from ..tensor import fmt_shape
from .parse import suggest
from .yamlread import scalar


def read_hessians(ctx, vn, prob, rg):
    """``hessians: [[f, x], [f, x, y]]`` -> [(f, x, y)] (SPEC section 11): f a scalar
    output, x and y in ``wrt`` or inputs that require grad; [f, x] is [f, x, x]."""
    if vn is None or (isinstance(vn, yaml.ScalarNode) and scalar(ctx, vn) is None):
        return []
    if not isinstance(vn, yaml.SequenceNode):
        ctx.fail(vn, "'hessians' must be a list such as [[f, x], [f, x, W]]")
    allowed = set(prob.wrt) | {d.name for d in prob.inputs if d.requires_grad}
    out, seen = [], {}
    for item in vn.value:
        if not isinstance(item, yaml.SequenceNode) or len(item.value) not in (2, 3):
            ctx.fail(item, "each entry of 'hessians' must be [f, x] or [f, x, y]")
        names = []
        for k, part in enumerate(item.value):
            v = scalar(ctx, part)
            if not isinstance(part, yaml.ScalarNode) or not isinstance(v, str):
                ctx.fail(part, "each entry of 'hessians' must be a list of names: [f, x] or [f, x, y]")
            if k == 0:
                if v not in prob.outputs:
                    ctx.fail(part, "'%s' in 'hessians' is not an output of the spec%s"
                               % (v, suggest(v, prob.outputs)))
                if prob.tensors[v].tshape != ():
                    ctx.fail(part, "'%s' has shape %s: a Hessian needs a scalar output"
                               % (v, fmt_shape(prob.tensors[v].tshape)))
            elif v not in allowed:
                if v in prob.tensors and not rg.get(v, False):
                    why = "it does not require grad"
                elif v in prob.tensors:
                    why = "it is neither in 'wrt' nor an input that requires grad"
                else:
                    why = "it is not a tensor of the spec%s" % suggest(v, allowed)
                ctx.fail(part, "cannot take a Hessian with respect to '%s': %s" % (v, why))
            names.append(v)
        key = tuple(names) if len(names) == 3 else (names[0], names[1], names[1])
        if key in seen:
            ctx.fail(item, "the Hessian d2%s/d%s d%s appears twice in 'hessians' (first at line %d)"
                       % (key + (seen[key],)))
        seen[key] = item.start_mark.line + 1
        out.append(key)
    return out
