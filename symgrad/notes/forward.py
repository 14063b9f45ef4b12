"""The forward graph of the notes: every spec tensor as a box (CS231n's circuits) with its
definition, shape, forward value (green) and gradient of each output (red), laid out by
``symgrad.notes.graphs``.

Two general rules keep it legible on a page, whatever the model's size:

* beyond `SUMMARY` boxes (a transformer block's sixteen parameters and eleven nodes), the
  picture draws the computed tensors only, each naming the inputs it reads in a line of its
  own box; the tensors table still gives every input;
* when the boxes of a layer do not fit in one row of the page (an LSTM's five inputs of
  one linear layer), each box prints fewer entries of its value and a shorter definition,
  so that more fit in a row; a layer still too wide takes several rows (``graphs.place``).
"""
from .graphs import LABEL, MAX_DRAWN, mermaid, place
from .numbers import short
from .text import ellipsize, one_line_code, plain

SUMMARY = 20            # boxes: a larger graph is drawn as its computed tensors only
ENTRIES, FEW = 4, 2     # entries of a value on a box, normally and when crowded


def forward_graph(d, info, num):
    """The spec's tensors as a circuit: definition, shape, value and gradients on each box."""
    prob = d.problem
    order = [x.name for x in prob.inputs] + [n.name for n in prob.nodes]
    edges = []
    for n in prob.nodes:
        used = {t.name for t in n.expr.free_symbols if getattr(t, "name", None) in info}
        edges += [(m, n.name) for m in order if m in used and m != n.name]
    needed = {a for e in edges for a in e} | set(prob.outputs)
    ids = [m for m in order if m in needed or info[m]["kind"] == "node"]
    size = len(ids)
    reads = {}
    summary = size > SUMMARY
    if summary:                     # computed tensors only; each names the inputs it reads
        ids = [m for m in ids if info[m]["kind"] == "node"]
        for a, b in edges:
            if info[a]["kind"] == "input":
                reads.setdefault(b, []).append(a)
        edges = [(a, b) for a, b in edges if a in ids and b in ids]
    if len(ids) > MAX_DRAWN or not ids:
        return {"drawn": False, "size": size, "boxes": [], "edges": []}
    g = _drawn(prob, info, num, ids, edges, reads, False)
    if g["crowded"]:
        g = _drawn(prob, info, num, ids, edges, reads, True)
    g.update({"drawn": True, "size": size, "summary": summary,
              "mermaid": mermaid(g, "TB" if g["vertical"] else "LR")})
    return g


def _drawn(prob, info, num, ids, edges, reads, crowded):
    """The laid-out boxes; ``crowded``: fewer entries of each value, shorter definitions."""
    entries = FEW if crowded else ENTRIES
    outs = list(prob.outputs)[:2]
    retained = set(prob.retain_grad or ())
    boxes = []
    for m in ids:
        t = info[m]
        if t["kind"] == "input":
            style = "input" if t["requires_grad"] else "constant"
            title = ellipsize(m, LABEL)
            flag = "leaf" if t["requires_grad"] else "no grad"
        else:
            style = "output" if m in prob.outputs else ("node" if t["requires_grad"] else "constant")
            title = "%s = %s" % (m, one_line_code(t["expr"]))
            flag = "retain_grad" if m in retained else ("" if t["requires_grad"] else "no grad")
        shape = plain("%s%s" % (_shape(t["shape"]), ", " + flag if flag else ""))
        lines = [("title", title)]
        if reads.get(m):
            lines.append(("note", plain("reads " + ", ".join(reads[m]))))
        if num:
            lines.append(("value", "%s: %s" % (shape, short(num.forward.get(m), entries, count=False))))
            if t["requires_grad"]:
                for o in outs:
                    g = num.grads.get(o, {})
                    if g.get(m) is not None:
                        lines.append(("grad", "%s%s" % ("∂%s: " % o if len(outs) > 1 or m != o else "∂: ",
                                                        short(g[m], entries, count=False))))
        else:
            lines.append(("shape", shape))
        # a definition (and the inputs read) may take the width its numbers take anyway
        room = max([LABEL if not crowded else LABEL * 3 // 4] + [len(x) for k, x in lines if k != "title"
                                                                 and k != "note"])
        lines = [(k, plain(ellipsize(x, room)) if k in ("title", "note") else x) for k, x in lines]
        boxes.append({"id": "t_" + m, "tikz": "n%d" % len(boxes), "name": m, "style": style, "lines": lines})
    g = place(boxes, [("t_" + a, "t_" + b) for a, b in edges])
    g["outputs"] = outs
    return g


def _shape(shape):
    return "scalar" if not shape else "×".join(str(s) for s in shape)
