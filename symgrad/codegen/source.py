"""Pieces of generated source that the compiled module's functions share.

`prologue` turns the inputs into tensors of one floating dtype (a fast path when they
already are) and reads the dims off their shapes (`dim_lookup`); `doc_safe` makes user
text safe inside a generated docstring.  Used by ``symgrad.codegen.module`` (forward,
gradients) and ``symgrad.codegen.second`` (hessians, hvps).
"""


def doc_safe(text):
    """User text made safe inside a generated triple-quoted docstring: one line, no quotes
    that could end it, no backslash escapes (a spec must never become code)."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace('"', "'")


def dim_lookup(prob, py):
    """dim name -> python expression reading it off an input's shape (or its declared value)."""
    out = {}
    for name, (sym, val) in prob.dims.items():
        src = None
        for d in prob.inputs:
            for k, s in enumerate(d.shape):
                if s == sym and src is None:
                    src = "%s.shape[%d]" % (py(d.name), k)
        out[name] = src if src is not None else repr(val)
    return out


INT_CODE = {"long": "torch.int64", "bool": "torch.bool"}


def prologue(args, dims, lookup, need_dt, py, indent="    ", detach=False, ints=None):
    """Inputs as tensors of one floating dtype; a fast path when they already are.

    With ``detach``, inputs that require grad are detached first, so that no autograd
    graph is recorded (gradients() is plain tensor arithmetic).  ``args`` are the inputs'
    names in the code; ``dims`` spec names of dims, ``py`` gives their names in the code.
    Integer and bool inputs (``ints``: code name -> torch dtype) keep their own dtype.
    """
    ints = ints or {}
    every = args
    args = [a for a in args if a not in ints]
    out = []
    if args:
        a0 = args[0]
        checks = ["_dt.is_floating_point"] + ["%s.dtype is _dt" % a for a in args[1:]]
        if detach:
            checks += ["not %s.requires_grad" % a for a in args]
        cond, line = [], "    if not ("
        for k, c in enumerate(checks):
            piece = c if k == 0 else " and " + c
            if len(indent) + len(line) + len(piece) > 92:
                cond.append(line)
                line, piece = "            ", c if k == 0 else "and " + c
            line += piece
        cond.append(line + "):")
        out += ["try:",
                "    _dt = %s.dtype" % a0] + cond + [
                "        raise TypeError",
                "except (AttributeError, TypeError):",
                "    %s = _tensors(%s%s)" % (", ".join(args) + ("," if len(args) == 1 else ""),
                                             ", ".join(args), ", detach=True" if detach else ""),
                "    _dt = %s.dtype" % a0]
        if need_dt:
            out.append("_dev = %s.device" % a0)
    elif need_dt:
        out += ["_dt, _dev = torch.get_default_dtype(), None"]
    for a in every:
        if a in ints:
            out.append("%s = _ints(%s, %s, %s)" % (a, a, ints[a], args[0] if args else "None"))
    for n in dims:
        out.append("%s = %s" % (py(n), lookup[n]))
    return [indent + line for line in out]
