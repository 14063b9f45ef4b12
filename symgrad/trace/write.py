"""A `Draft` -> the YAML text of a spec, written for people: one line per input and per
node, each node commented with the line of the user's code it comes from, and a
description that says which PyTorch tensor each input is (``fc1.weight`` is a leaf, as
``mlp.fc1.weight.is_leaf`` says).

The text is assembled line by line rather than dumped by PyYAML, so that the layout is
stable and readable; every scalar is checked to read back as itself (and quoted when it
would not), and `origins` maps each node's line of the YAML back to the user's line, so
that an error found later in a traced spec can point at the user's code.
"""
import os

import yaml

from .source import display

COMMENT_COLUMN = 48


def to_yaml(draft, with_values=False):
    """``(text, origins)``: the spec text, and YAML line number -> (file, line) of its node."""
    lines = ["# Traced by `symgrad trace` from %s: a spec like any other, to read, edit and derive."
             % (draft.source or draft.title)]
    lines.append("title: %s" % _scalar(_title(draft)))
    lines.append("description: |")
    lines += ["  " + ln if ln else "" for ln in describe(draft).splitlines()]
    lines.append("inputs:")
    short = [_input(d, False)[0] for d in draft.inputs if d.kind != "data"]
    column = max([len(text) for text, _ in short] + [0])
    for d in draft.inputs:
        lines += _input(d, with_values or d.kind == "constant", column)
    lines.append("nodes:")
    origins = {}
    width = max([len(n.name) + len(_scalar(n.text)) + 4 for n in draft.nodes] + [0])
    width = min(max(width, 24), COMMENT_COLUMN)
    for n in draft.nodes:
        text = "  %s: %s" % (n.name, _scalar(n.text))
        if n.where is not None:
            text = "%-*s  # %s:%d" % (width, text, display(n.where.file, draft.aliases), n.where.line)
            origins[len(lines) + 1] = (display(n.where.file, draft.aliases), n.where.line, n.name)
        lines.append(text)
    lines.append("outputs: [%s]" % ", ".join(draft.outputs))
    if set(draft.outputs) <= draft.scalar_outputs:
        lines.append("backward:")
        for k, o in enumerate(draft.outputs):
            last = k == len(draft.outputs) - 1
            lines.append("  - %s.backward(%s)" % (o, "" if last else "retain_graph=True"))
    return "\n".join(lines) + "\n", origins


def _title(draft):
    src = draft.source.rpartition(":")[0]
    return "%s, traced from %s" % (draft.title, os.path.basename(src)) if src else "%s, traced" % draft.title


def _input(d, with_value, column=0):
    """The YAML lines of one input; without a value, one line ``(text, note)`` when ``column``
    is 0, else the text with its note aligned at ``column``."""
    fields = [("shape", "[%s]" % ", ".join(map(str, d.shape)))]
    if d.dtype != "float":
        fields.append(("dtype", d.dtype))
        if d.high is not None and d.dtype == "long":
            fields.append(("high", str(d.high)))
    fields.append(("requires_grad", "true" if d.requires_grad else "false"))
    if d.domain:
        fields.append(("domain", d.domain))
    note = "" if d.kind == "data" else "  # %s%s" % (d.access or "a tensor", "" if d.kind == "parameter" else
                                                     " (%s)" % ("a constant of the code" if d.kind == "constant"
                                                               else d.kind))
    if not (with_value and d.tensor is not None):
        text = "  %s: {%s}" % (d.name, ", ".join("%s: %s" % f for f in fields))
        return [(text, note)] if not column else ["%-*s%s" % (column, text, note) if note else text]
    out = ["  %s:%s" % (d.name, note)]
    out += ["    %s: %s" % f for f in fields]
    out.append("    value: %s" % _value(d.tensor))
    return out


def _value(t):
    """A tensor's values as a YAML flow list.  Each number is the shortest decimal that reads
    back as exactly the tensor's value in its own dtype: float64 values as Python prints
    them, float32 (and narrower) values as the float32 number they are -- ``0.12345679``,
    not the 17 digits of its float64 widening, which keeps a real model's spec a third as
    large and still loads into the model's dtype bit for bit."""
    import torch
    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype != torch.float64:
        flat = [str(v) for v in t.float().numpy().ravel()]
    else:
        flat = [_number(v) for v in t.reshape(-1).tolist()]

    def nest(items, shape):
        if not shape:
            return items[0]
        step = len(items) // shape[0] if shape[0] else 0
        return "[%s]" % ", ".join(nest(items[k * step:(k + 1) * step], shape[1:]) for k in range(shape[0]))
    return nest(flat, tuple(t.shape))


def _number(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def _scalar(text):
    """``text`` as a YAML plain scalar when it reads back as itself, else single-quoted."""
    try:
        plain = yaml.safe_load("k: %s" % text)
        if isinstance(plain, dict) and plain.get("k") == text and "#" not in text:
            return text
    except yaml.YAMLError:
        pass
    return "'%s'" % text.replace("'", "''")


def describe(draft):
    """The spec's description (Markdown): where it comes from and what each input is."""
    data = [d for d in draft.inputs if d.kind == "data"]
    params = [d for d in draft.inputs if d.kind == "parameter"]
    others = [d for d in draft.inputs if d.kind in ("buffer", "constant")]
    src = draft.source or draft.title
    out = ["Traced from `%s` by `symgrad trace` (torch.export)%s." % (
        src, " with " + ", ".join("`%s` %s" % (s.name, s.describe()) for s in draft.specs) if draft.specs else "")]
    if params:
        out.append("")
        out.append("Every parameter of the modules the code calls is a leaf input that requires grad, "
                   "exactly as in PyTorch:")
        out.append("")
        for d in params:
            leaf = "is a leaf (`%s.is_leaf` is %s)" % (d.access, d.is_leaf)
            frozen = "" if d.requires_grad else "; frozen (`requires_grad=False`), so it gets no gradient"
            known = d.qualname if "." in d.qualname else d.access      # fc1.weight; head.weight
            out.append("- `%s` %s: `%s` %s%s" % (d.name, _shape(d), known, leaf, frozen))
    if others:
        out.append("")
        out.append("Inputs that do not require grad:")
        out.append("")
        for d in others:
            what = "buffer" if d.kind == "buffer" else "constant tensor of the code"
            where = "`%s`" % d.access if d.access else "a tensor"
            grad = " that requires grad" if d.requires_grad else ""
            out.append("- `%s` %s: %s, a %s%s" % (d.name, _shape(d), where, what, grad))
    plain = [d for d in data if not d.requires_grad]
    if plain:
        out.append("")
        out.append("The data %s %s %s not require grad." % (
            "inputs" if len(plain) > 1 else "input", ", ".join("`%s`" % d.name for d in plain),
            "do" if len(plain) > 1 else "does"))
    out.append("")
    out.append("Nodes are named after the variables and modules of the code; each line's comment "
               "says where it comes from.")
    return "\n".join(out)


def _shape(d):
    return "[%s]" % ", ".join(map(str, d.shape))
