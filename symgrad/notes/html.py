"""HTML for the notes' web page (``-o notes.html``) and Jupyter's ``_repr_html_``.

The escapers of the HTML template: text and code are HTML-escaped after `plain` (no
markup, no control character survives), formulas become MathML (``symgrad.notes.mathml``,
whose output holds only MathML tokens with escaped text), prose is `Rich` segments, the
description goes through its allow-list (``symgrad.notes.description.to_html``).  The
graphs are drawn by the template itself from `symgrad.notes.graphs` data, every label
through `html_escape`.  The page's style sheet is fixed text (`STYLE`): nothing from a
spec reaches it.
"""
import html

from .mathml import mathml
from .text import plain

STYLE = """
.sg { font-family: Georgia, 'Times New Roman', serif; line-height: 1.45; color: #1a1a1a;
      max-width: 58em; margin: 0 auto; padding: 1em 1.5em; }
.sg h1 { font-size: 1.7em; margin-bottom: 0.2em; }
.sg h2 { font-size: 1.3em; border-bottom: 1px solid #ddd; padding-bottom: 0.15em; margin-top: 1.6em; }
.sg h3 { font-size: 1.1em; margin-top: 1.2em; }
.sg code, .sg pre { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 0.85em; }
.sg pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.6em 0.8em; overflow-x: auto;
          white-space: pre-wrap; word-break: break-word; }
.sg table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
.sg th, .sg td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
.sg th { border-bottom: 2px solid #999; }
.sg math { font-size: 1.08em; }
.sg math[display="block"] { margin: 0.6em 0; overflow-x: auto; overflow-y: hidden; }
.sg .reasons { color: #444; font-size: 0.93em; margin: 0.2em 0 0.2em 1.2em; }
.sg table.small td code { font-size: 0.75em; }
.sg .graph { overflow-x: auto; margin: 0.6em 0; }
.sg .graph text { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 11px; }
.sg .sbs { display: flex; gap: 1em; flex-wrap: wrap; }
.sg .sbs div { flex: 1 1 22em; border: 1px solid #ddd; padding: 0.4em 0.8em; border-radius: 4px; }
.sg .sbs .bad { border-color: #b00020; background: #fff6f6; }
.sg .sbs .good { border-color: #2e7d32; background: #f5fbf5; }
.sg .ok { color: #2e7d32; } .sg .fail { color: #b00020; font-weight: bold; }
.sg .value { color: #2e7d32; } .sg .grad { color: #b00020; }
.sg .caption { font-size: 0.9em; color: #444; }
"""

SVG_COLORS = {
    "input": ("#e8f0fe", "#3b5b92"), "constant": ("#f3f3f3", "#999999"), "node": ("#ffffff", "#555555"),
    "output": ("#fff1dc", "#b36b00"), "leaf": ("#e8f0fe", "#3b5b92"), "runs": ("#ffffff", "#555555"),
    "frees": ("#f3f3f3", "#555555"), "raises": ("#fde8e8", "#b00020"),
}
TEXT_COLORS = {"title": "#1a1a1a", "shape": "#555555", "value": "#2e7d32", "grad": "#b00020",
               "note": "#555555", "state": "#7a4a00"}


def html_escape(s):
    """Text for HTML: visible characters only, every markup character escaped."""
    return html.escape(plain(s), quote=True)


def html_code(s):
    return "<code>%s</code>" % html_escape(s)


def html_pre(s):
    """A block of code or printed values, lines kept."""
    body = "\n".join(html.escape(plain(line, keep="\t"), quote=True) for line in str(s).rstrip("\n").split("\n"))
    return "<pre><code>%s</code></pre>" % body


def html_math(s):
    return mathml(s, display=True)


def html_imath(s):
    return mathml(s, display=False)


def html_rich(r):
    out = []
    for kind, s in r:
        if kind == "math":
            out.append(mathml(s))
        elif kind == "code":
            out.append(html_code(s))
        else:
            out.append(html_escape(s))
    return "".join(out)


def stylesheet(name):
    """The page's fixed style sheet (the only one there is, whatever is asked)."""
    return STYLE


def svg_fill(style):
    return SVG_COLORS.get(style, SVG_COLORS["node"])[0]


def svg_stroke(style):
    return SVG_COLORS.get(style, SVG_COLORS["node"])[1]


def svg_text_color(kind):
    return TEXT_COLORS.get(kind, "#1a1a1a")
