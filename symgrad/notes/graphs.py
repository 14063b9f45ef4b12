"""The pictures of the notes: the forward graph with values, and each backward() graph.

Both are laid out here once, as plain data -- boxes with lines of text in columns, and
edges -- which each format draws its own way: TikZ in the LaTeX, inline SVG in the HTML,
Mermaid in the Markdown (``mermaid``).  Positions are given in character units and
converted per format (`place`), so no template measures text.

* `forward_graph`: every spec tensor as a box (CS231n's circuits): its definition, shape,
  forward value (green) and gradient of each output (red), from ``symgrad.notes.numbers``.
* `backward_graph`: what one ``o.backward()`` runs in PyTorch's engine -- the backward
  nodes (``MulBackward0``) that the autograd model (``symgrad.autograd.recorded``) says
  the forward pass recorded, what each saved, ``AccumulateGrad`` for the leaves -- with
  the step's effect on each: runs, frees its saved tensors, or raises because an earlier
  step freed them.

Layout is layered and linear in the graph: a node's column is one more than its inputs',
and a few barycentre sweeps order each column.  Graphs beyond `MAX_DRAWN` boxes are not
drawn (a sentence says so): they would not be legible on a page.
"""
from .numbers import short
from .text import ellipsize, plain

MAX_DRAWN = 32          # boxes; a larger graph is described, not drawn
LABEL = 32              # characters of a definition shown in a box
WIDE = 52               # characters of a backward node's lines
LINE_MAX = 60           # characters of any line of a box
# one character and one line of a box's text: SVG pixels and TikZ centimetres; the gaps
# between boxes in characters and lines; the width a picture may take on a page (cm)
SVG_CHAR, SVG_LINE, SVG_PAD = 6.9, 14.0, 8.0
TIKZ_CHAR, TIKZ_LINE = 0.152, 0.34
GAP_CHARS, GAP_LINES = 4, 0.7
PAGE_CM = 16.0
# a picture shrinks to the page's width, but not below this: a wider row of boxes is laid
# out over several rows instead (``scriptsize`` at 0.8 is still read in print)
MIN_SCALE = 0.8
ROW_CHARS = PAGE_CM / MIN_SCALE / TIKZ_CHAR


# --- layout ----------------------------------------------------------------------------------

def layered(ids, edges):
    """{id: (column, row)}: sources hug their first user; rows centred in each column."""
    preds = {i: [] for i in ids}
    users = {i: [] for i in ids}
    for a, b in edges:
        preds[b].append(a)
        users[a].append(b)
    col = {}
    for i in ids:                                   # ids are in an order where preds come first
        if preds[i]:
            col[i] = 1 + max(col.get(p, 0) for p in preds[i])
    for i in reversed(ids):
        if i not in col:
            col[i] = (min(col[u] for u in users[i] if u in col) - 1) if any(u in col for u in users[i]) else 0
    low = min(col.values(), default=0)
    columns = {}
    for i in ids:
        col[i] -= low
        columns.setdefault(col[i], []).append(i)
    rank = {i: k for c in columns.values() for k, i in enumerate(c)}
    for _ in range(4):                              # barycentre sweeps: fewer crossings
        for c in sorted(columns):
            members = columns[c]
            mid = (len(members) - 1) / 2.0

            def key(item):
                k, i = item
                nb = [x for x in preds[i] + users[i] if col[x] != c]
                if not nb:
                    return (k - mid, k)
                return (sum(rank[x] - (len(columns[col[x]]) - 1) / 2.0 for x in nb) / len(nb), k)
            members[:] = _hug([i for _, i in sorted(enumerate(members), key=key)], preds, users)
            for k, i in enumerate(members):
                rank[i] = k
    return {i: (col[i], rank[i] - (len(columns[col[i]]) - 1) / 2.0) for i in ids}


def _hug(members, preds, users):
    """A column's order with each computed node flanked by the sources that feed the same
    user (W1 | xf | b1 above h1): the chain of computed nodes runs straight down the middle
    and no edge between them crosses a parameter's box."""
    core = [i for i in members if preds[i]]
    mates = {c: [] for c in core}
    for i in members:
        if not preds[i]:
            mate = next((c for c in core if set(users[i]) & set(users[c])), None)
            if mate is not None:
                mates[mate].append(i)
    hugged = {i for m in mates.values() for i in m}
    out = []
    for i in members:
        if i in mates:
            half = len(mates[i]) // 2
            out += mates[i][:half] + [i] + mates[i][half:]
        elif i not in hugged:
            out.append(i)
    return out


def place(boxes, edges, reverse=False):
    """Coordinates for each format: SVG pixels (x right, y down) and TikZ cm (y up).

    ``edges`` run from a box's inputs to it; ``reverse`` draws their arrows the other way
    (a gradient flows from the output back to the inputs).  Layers run left to right when
    that fits a page's width, else top to bottom (``vertical``), whichever is narrower; a
    layer wider than ROW_CHARS then takes several rows.  ``crowded``: some layer took more
    than one row, or the picture is wider than the page (shorter box texts would help)."""
    pos = layered([b["id"] for b in boxes], edges)
    for b in boxes:
        b["lines"] = [(k, ellipsize(t, LINE_MAX)) for k, t in b["lines"]]
        b["layer"], b["rank"] = pos[b["id"]]
        b["w"] = max(len(t) for _, t in b["lines"]) + 2          # in characters
        b["h"] = len(b["lines"]) + 0.8                            # in lines
    layers = {}
    for b in boxes:
        layers.setdefault(b["layer"], []).append(b)
    for members in layers.values():
        members.sort(key=lambda b: b["rank"])
    wide = sum(max(b["w"] for b in m) for m in layers.values()) + GAP_CHARS * (len(layers) - 1)
    fed = {b for _, b in edges}
    rows = [r for c in sorted(layers) for r in _wrap(layers[c], fed)]
    tall = max(_row_width(m) for m in rows)
    vertical = wide * TIKZ_CHAR > PAGE_CM and tall < wide
    if vertical:
        y = 0.0
        for m in rows:
            hl = max(b["h"] for b in m)
            x = -_row_width(m) / 2.0
            for b in m:
                b["cx"], b["cy"] = x + b["w"] / 2.0, y + hl / 2.0
                x += b["w"] + GAP_CHARS
            core = [b["cx"] for b in m if b["id"] in fed]
            if core and len(m) > 1:         # the computed nodes on the middle line, inputs beside
                shift = -sum(core) / len(core)
                for b in m:
                    b["cx"] += shift
            y += hl + GAP_LINES * 2
    else:
        x = 0.0
        hmax = max(b["h"] for b in boxes)
        for c in sorted(layers):
            m = layers[c]
            wl = max(b["w"] for b in m)
            for b in m:
                b["cx"], b["cy"] = x + wl / 2.0, b["rank"] * (hmax + GAP_LINES)
            x += wl + GAP_CHARS
    by_id = {b["id"]: b for b in boxes}
    routed = []                         # (from, to, control points or None)
    for a, b in edges:
        s, t = (by_id[b], by_id[a]) if reverse else (by_id[a], by_id[b])
        routed.append((s, t, _detour(s, t, boxes, vertical)))
    # how far a curve reaches: its midpoint, (p0 + 3 c1 + 3 c2 + p3) / 8
    reach = []
    for s, t, c in routed:
        if c:
            p0, p3 = _ends(s, t, c, vertical)
            reach.append(((p0[0] + 3 * c[0][0] + 3 * c[1][0] + p3[0]) / 8.0,
                          (p0[1] + 3 * c[0][1] + 3 * c[1][1] + p3[1]) / 8.0))
    left = min([b["cx"] - b["w"] / 2.0 for b in boxes] + [x - 1 for x, _ in reach])
    top = min([b["cy"] - b["h"] / 2.0 for b in boxes] + [y - 0.5 for _, y in reach])
    for b in boxes:
        b["svg_x"] = round(SVG_PAD + (b["cx"] - left) * SVG_CHAR, 1)
        b["svg_y"] = round(SVG_PAD + (b["cy"] - top) * SVG_LINE, 1)
        b["svg_w"] = round(b["w"] * SVG_CHAR, 1)
        b["svg_h"] = round(b["h"] * SVG_LINE, 1)
        b["svg_left"] = round(b["svg_x"] - b["svg_w"] / 2, 1)
        b["svg_top"] = round(b["svg_y"] - b["svg_h"] / 2, 1)
        first = b["svg_y"] - (len(b["lines"]) - 1) * SVG_LINE / 2.0 + 4
        b["svg_lines"] = [{"kind": k, "text": t, "y": round(first + j * SVG_LINE, 1)}
                          for j, (k, t) in enumerate(b["lines"])]
        b["x"] = "%.2f" % ((b["cx"] - left) * TIKZ_CHAR)
        b["y"] = "%.2f" % (-(b["cy"] - top) * TIKZ_LINE)
    out_edges = []
    for s, t, bend in routed:
        via = None
        if bend is not None:
            (c1x, c1y), (c2x, c2y) = bend
            via = "(%.2f,%.2f) and (%.2f,%.2f)" % ((c1x - left) * TIKZ_CHAR, -(c1y - top) * TIKZ_LINE,
                                                    (c2x - left) * TIKZ_CHAR, -(c2y - top) * TIKZ_LINE)
        out_edges.append({"src": s["id"], "dst": t["id"], "src_tikz": s["tikz"], "dst_tikz": t["tikz"],
                          "via": via, "path": _svg_path(s, t, vertical, bend, left, top)})
    width = max([b["svg_left"] + b["svg_w"] for b in boxes] +
                [SVG_PAD + (x + 1 - left) * SVG_CHAR for x, _ in reach]) + SVG_PAD
    height = max([b["svg_top"] + b["svg_h"] for b in boxes] +
                 [SVG_PAD + (y + 0.5 - top) * SVG_LINE for _, y in reach]) + SVG_PAD
    return {"boxes": boxes, "edges": out_edges, "svg_width": round(width, 1),
            "svg_height": round(height, 1), "vertical": vertical,
            "crowded": len(rows) > len(layers) or (width - 2 * SVG_PAD) / SVG_CHAR * TIKZ_CHAR > PAGE_CM}


def _row_width(m):
    return sum(b["w"] for b in m) + GAP_CHARS * (len(m) - 1)


def _wrap(members, fed):
    """A layer as rows of boxes (top to bottom), each at most ROW_CHARS wide: the fewest
    rows, boxes shared out evenly in their order; the layer's inputs (not fed by an edge)
    in the upper rows and its computed nodes in the lowest, next to their users."""
    if _row_width(members) <= ROW_CHARS or len(members) < 2:
        return [members]
    ordered = [b for b in members if b["id"] not in fed] + [b for b in members if b["id"] in fed]
    for k in range(2, len(ordered) + 1):
        size = -(-len(ordered) // k)
        rows = [ordered[j:j + size] for j in range(0, len(ordered), size)]
        if all(_row_width(r) <= ROW_CHARS for r in rows):
            return rows
    return [[b] for b in ordered]


def _detour(s, t, boxes, vertical):
    """None when the straight edge s -> t crosses no other box; else the two control points
    (layout units) of a curve around the boxes in its way, on the side with more room."""
    def inside(x, y, b):
        return abs(x - b["cx"]) < b["w"] / 2.0 + 0.5 and abs(y - b["cy"]) < b["h"] / 2.0 + 0.2
    others = [b for b in boxes if b is not s and b is not t]
    hit = []
    for k in range(1, 40):
        x = s["cx"] + (t["cx"] - s["cx"]) * k / 40.0
        y = s["cy"] + (t["cy"] - s["cy"]) * k / 40.0
        hit += [b for b in others if b not in hit and inside(x, y, b)]
    if not hit:
        return None
    # across the layers: around the obstacles' sides (x when layers are rows, y when columns)
    a, half = ("cx", "w") if vertical else ("cy", "h")
    mid = (s[a] + t[a]) / 2.0
    right = sum(b[a] for b in hit) / len(hit) <= mid
    edge = max(b[a] + b[half] / 2.0 for b in hit + [s, t]) if right else min(b[a] - b[half] / 2.0 for b in hit + [s, t])
    goal = edge + (1.5 if right else -1.5) * (1 if vertical else 0.6)
    c = (goal - (s[a] + t[a]) / 8.0) / 0.75          # a cubic's midpoint: (p0 + 3c1 + 3c2 + p3)/8
    if vertical:
        return (c, s["cy"]), (c, t["cy"])
    return (s["cx"], c), (t["cx"], c)


def _ends(s, t, bend, vertical):
    """Where a curve around other boxes leaves s and meets t: their sides facing its bend."""
    (c1x, c1y), _ = bend
    if vertical:
        sign = 1 if c1x > s["cx"] else -1
        return (s["cx"] + sign * s["w"] / 2.0, s["cy"]), (t["cx"] + sign * (t["w"] / 2.0 + 0.3), t["cy"])
    sign = 1 if c1y > s["cy"] else -1
    return (s["cx"], s["cy"] + sign * s["h"] / 2.0), (t["cx"], t["cy"] + sign * (t["h"] / 2.0 + 0.15))


def _svg_path(s, t, vertical, bend=None, left=0.0, top=0.0):
    """An edge from box s to box t, ending at t's border (the arrow's tip)."""
    if bend is not None:                  # around the boxes in the way: from side to side
        p0, p3 = _ends(s, t, bend, vertical)
        pts = [p0, bend[0], bend[1], p3]
        xy = [(SVG_PAD + (x - left) * SVG_CHAR, SVG_PAD + (y - top) * SVG_LINE) for x, y in pts]
        return "M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f" % tuple(v for p in xy for v in p)
    if vertical and s["svg_y"] != t["svg_y"]:
        down = t["svg_y"] > s["svg_y"]
        y1 = s["svg_y"] + (s["svg_h"] / 2 if down else -s["svg_h"] / 2)
        y2 = t["svg_y"] - (t["svg_h"] / 2 + 2 if down else -t["svg_h"] / 2 - 2)
        x1, x2 = s["svg_x"], t["svg_x"]
        my = (y1 + y2) / 2
        return "M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f" % (x1, y1, x1, my, x2, my, x2, y2)
    if t["svg_x"] > s["svg_x"]:
        x1, x2 = s["svg_x"] + s["svg_w"] / 2, t["svg_x"] - t["svg_w"] / 2 - 2
    elif t["svg_x"] < s["svg_x"]:
        x1, x2 = s["svg_x"] - s["svg_w"] / 2, t["svg_x"] + t["svg_w"] / 2 + 2
    else:
        x1 = x2 = s["svg_x"]
    y1, y2 = s["svg_y"], t["svg_y"]
    if x1 == x2:
        y1, y2 = (s["svg_y"] + s["svg_h"] / 2, t["svg_y"] - t["svg_h"] / 2 - 2) if t["svg_y"] > s["svg_y"] \
            else (s["svg_y"] - s["svg_h"] / 2, t["svg_y"] + t["svg_h"] / 2 + 2)
        return "M%.1f %.1f L%.1f %.1f" % (x1, y1, x2, y2)
    mx = (x1 + x2) / 2
    return "M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f" % (x1, y1, mx, y1, mx, y2, x2, y2)


# --- one backward() step ------------------------------------------------------------------------

def backward_graph(sched, step, freed_before, num_added=None):
    """The graph one backward step runs: backward nodes, AccumulateGrad for leaves, and the
    step's effect on each (``state``: runs | frees | raises | freed)."""
    ag = sched.autograd
    executed = list(step.executed)
    if not executed:
        return {"drawn": False, "size": 0, "boxes": [], "edges": []}
    frees = set(step.frees)
    err = step.error
    raiser = err.node if err is not None and err.kind == "freed" else None
    names_of = {}
    for name, v in ag.values.items():
        if v.grad_fn is not None:
            names_of.setdefault(v.grad_fn, []).append(name)
    retained = {v.grad_fn: name for name, v in ag.values.items() if v.retains_grad and v.grad_fn is not None}
    ran = set(executed)
    seq = sorted(executed, key=lambda n: n.seq)            # creation order: inputs first
    leaves, ids, edges = [], [], []
    node_id = {}
    for n in seq:
        for t in n.inputs:
            if t.is_leaf and t.requires_grad and t not in leaves:
                leaves.append(t)
    for t in leaves:
        node_id[t] = "acc_%d" % len(node_id)
        ids.append(node_id[t])
    for n in seq:
        node_id[n] = "bn_%d" % n.seq
        ids.append(node_id[n])
    for n in seq:
        for t in n.inputs:
            src = t.grad_fn if t.grad_fn in ran else (t if t in node_id else None)
            if src is not None and src in node_id:
                edges.append((node_id[src], node_id[n]))
    if len(ids) > MAX_DRAWN:
        return {"drawn": False, "size": len(ids), "boxes": [], "edges": []}
    boxes = []
    for t in leaves:
        add = num_added.get(t.name) if num_added is not None else None
        lines = [("title", ellipsize(plain("AccumulateGrad: %s.grad" % t.name), WIDE)),
                 ("grad", "+= %s" % short(add, count=False) if add is not None else "+= its gradient")]
        boxes.append({"id": node_id[t], "tikz": "b%d" % len(boxes), "style": "leaf", "lines": lines,
                      "state": "runs"})
    for n in seq:
        made = names_of.get(n)
        lines = [("title", ellipsize(plain("%s (%s)" % (n.name, made[0] if made else n.text)), WIDE))]
        if len(n.chain) > 1:
            lines.append(("note", ellipsize(plain(_chain(n.chain[1:])), WIDE)))
        if raiser is not None and n.raiser == raiser and n in freed_before:
            state, note = "raises", "freed earlier: raises"
        elif n in frees and n.saves:
            state, note = "frees", "then frees it"
        else:
            state, note = "runs", ("kept" if n.saves and step.retain_graph else "")
        if n.saves:
            what = ", ".join("%s=%s" % (f, (w or "?").replace("its output, ", "")) for f, w in n.saved) or "tensors"
            lines.append(("state", ellipsize(plain("saved %s%s" % (what, "; " + note if note else "")), WIDE)))
        elif state == "raises":
            lines.append(("state", note))
        if n in retained:
            r = retained[n]
            add = num_added.get(r) if num_added is not None else None
            lines.append(("grad", ellipsize(plain("%s.grad += %s" % (r, short(add, count=False) if add is not None
                                                                      else "…")), WIDE)))
        boxes.append({"id": node_id[n], "tikz": "b%d" % len(boxes), "style": state, "lines": lines,
                      "state": state})
    g = place(boxes, edges, reverse=True)
    g.update({"drawn": True, "size": len(ids), "mermaid": mermaid(g, "BT" if g["vertical"] else "RL"),
              "caption": "The backward graph this call runs, from the output (%s) to the leaves (%s): each "
                         "node as PyTorch names it (grad_fn), what it saved, and what the call does with it."
                         % (("bottom", "top") if g["vertical"] else ("right", "left"))})
    return g


def _chain(names):
    """``chain: A ← B ← C``, whole names only: the middle ones give way to "…" when long."""
    names = list(names)
    for drop in range(max(len(names) - 1, 1)):
        mid = (len(names) - drop) // 2
        shown = names if not drop else names[:mid] + ["…"] + names[mid + drop:]
        text = "chain: " + " ← ".join(shown)
        if len(text) <= WIDE:
            break
    return text


# --- Mermaid (the Markdown's pictures) ------------------------------------------------------------

_MERMAID_ENTITIES = {"#": "#35;", "&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;"}
_SHAPES = {"input": ('(["', '"])'), "constant": ('(["', '"])'), "node": ('["', '"]'),
           "output": ('[["', '"]]'), "leaf": ('(["', '"])'), "runs": ('["', '"]'),
           "frees": ('["', '"]'), "raises": ('[["', '"]]')}
_CLASSES = {
    "input": "fill:#e8f0fe,stroke:#3b5b92", "constant": "fill:#f3f3f3,stroke:#999999,stroke-dasharray: 4 3",
    "node": "fill:#ffffff,stroke:#555555", "output": "fill:#fff1dc,stroke:#b36b00,stroke-width:2px",
    "leaf": "fill:#e8f0fe,stroke:#3b5b92", "runs": "fill:#ffffff,stroke:#555555",
    "frees": "fill:#f3f3f3,stroke:#555555,stroke-dasharray: 4 3", "raises": "fill:#fde8e8,stroke:#b00020,stroke-width:2px",
}


def mermaid_text(s):
    """Text inside a Mermaid label: entity codes for what Mermaid or HTML would read."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in plain(s))


def mermaid(g, direction):
    lines = ["flowchart %s" % direction]
    used = []
    for b in g["boxes"]:
        o, c = _SHAPES[b["style"]]
        label = "<br/>".join(mermaid_text(t) for _, t in b["lines"])
        lines.append("  %s%s%s%s:::sg_%s" % (b["id"], o, label, c, b["style"]))
        if b["style"] not in used:
            used.append(b["style"])
    for e in g["edges"]:
        lines.append("  %s --> %s" % (e["src"], e["dst"]))
    lines += ["  classDef sg_%s %s;" % (s, _CLASSES[s]) for s in used]
    return "\n".join(lines)
