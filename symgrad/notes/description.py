"""The spec's ``description``: a small Markdown subset, read once, written as Markdown or LaTeX.

A description comes from a spec file that others share, and the notes it lands in are
trusted by their readers: Jupyter shows Markdown as trusted HTML, and a ``.tex`` file is
compiled with stock TeX Live, which can read files.  So a description is read with an
allow-list, not passed through:

* blocks: paragraphs, ``#`` headings, bullet and numbered lists (one level), fenced code;
* inline: code spans, ``*emphasis*`` / ``_emphasis_``, ``**strong**``, ``$math$`` and
  ``$$math$$``, links ``[text](url)`` and bare addresses -- to ``http(s)://`` only.

Everything else (raw HTML, entities, images, other link schemes, TeX outside math) is
text, escaped for the format it is written in.  Math passes only if `math_ok`: every
command is on `MATH_MACROS` (symbols, Greek, fonts, accents, delimiters -- none that reads,
writes, defines or loops), braces balance, and nothing else TeX or HTML would read as
markup is there (``%``, ``#``, ``&``, ``~``, ``^^``, ``\\\\``, backticks, quotes); otherwise it
is shown as the text it is.  In the Markdown, ``<`` and ``>`` in math are written
``\\lt`` and ``\\gt``, so even a viewer without math support sees no tag.
"""
import re

from .text import (dashes, latin, md_code, md_escape, md_fence, md_line_start, plain, tex_code,
                   tex_escape, tex_verbatim, _UNICODE)

# --- math ---------------------------------------------------------------------------------

MATH_MACROS = frozenset("""
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa varkappa lambda mu
nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta
Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega digamma ell hbar hslash imath jmath aleph
partial nabla infty emptyset varnothing forall exists nexists neg lnot top bot perp angle prime
cdot cdots ldots dots vdots ddots times div pm mp odot otimes oplus ominus circ bullet ast star
setminus wedge vee land lor cap cup sqcup bigcap bigcup bigoplus bigotimes bigodot bigvee bigwedge
sum prod coprod int iint iiint oint lim limsup liminf sup inf max min arg det exp log
ln lg sin cos tan cot sec csc sinh cosh tanh coth arcsin arccos arctan Pr dim ker
deg gcd hom mod bmod pmod
le leq ge geq ne neq ll gg approx sim simeq cong equiv propto asymp doteq prec succ preceq
succeq in notin ni subset subseteq supset supseteq subsetneq supsetneq mid nmid parallel
to gets mapsto rightarrow leftarrow leftrightarrow Rightarrow Leftarrow Leftrightarrow implies
iff longrightarrow longleftarrow longmapsto uparrow downarrow hookrightarrow
frac dfrac tfrac binom dbinom tbinom sqrt
left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr middle
langle rangle lvert rvert lVert rVert vert Vert lceil rceil lfloor rfloor lbrace rbrace
backslash
hat widehat bar overline underline tilde widetilde vec dot ddot check breve acute grave mathring
overbrace underbrace overrightarrow overleftarrow
mathrm mathit mathbf mathsf mathtt mathcal mathbb mathfrak boldsymbol operatorname text textrm
textit textbf displaystyle textstyle scriptstyle quad qquad intercal
""".split())

_MATH_TOKEN = re.compile(r"\\([A-Za-z]+)|\\([,;:! {}|_])|([A-Za-z0-9 \n+\-*/=()\[\]<>|,.;:!?'^_{}])|(.)",
                         re.S)


_NO_OPERAND = re.compile(r"[\^_]\s*(?:$|[\^_}])")
_LEFT_RIGHT = re.compile(r"\\(left|right)(?![A-Za-z])\s*(\\[A-Za-z]+|\\[{}|]|[()\[\]|/.<>])?")


def math_ok(s):
    """Whether math from a description is harmless LaTeX: allow-listed commands, balanced
    braces, no ``^^`` and no character outside a small set (or a symbol `tex_math` maps);
    and, so that a slip does not stop the PDF, every ``^`` and ``_`` has something to
    raise or lower and every ``\\left`` a delimiter and a ``\\right``."""
    if "^^" in s or not s.strip() or _NO_OPERAND.search(s):
        return False
    sides = [(m.group(1), m.group(2)) for m in _LEFT_RIGHT.finditer(s)]
    if any(d is None for _, d in sides) or [w for w, _ in sides].count("left") != len(sides) / 2:
        return False
    depth = 0
    for m in _MATH_TOKEN.finditer(s):
        macro, _symbol, ch, other = m.groups()
        if macro is not None and macro not in MATH_MACROS:
            return False
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
        elif other is not None and not (other in _UNICODE or latin(other) and ord(other) > 127):
            return False
    return depth == 0


def tex_math(s):
    """Allowed math for pdflatex: the non-ASCII symbols it does not know, as commands."""
    out = []
    for ch in s:
        if ord(ch) < 128:
            out.append(ch)
        elif latin(ch):
            out.append(r"\text{%s}" % ch)
        else:
            r = _UNICODE[ch]
            out.append(r[1:-1] if r.startswith("$") else "{%s}" % r.replace(r"\textsuperscript", "^")
                       .replace(r"\textsubscript", "_"))
    return "".join(out)


def md_math(s):
    """Allowed math for Markdown: ``<`` and ``>`` as ``\\lt``, ``\\gt``; one line."""
    return s.replace("<", r"\lt ").replace(">", r"\gt ").replace("\n", " ")


# --- reading: blocks and inline spans ------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_BULLET = re.compile(r"^\s*(?:([-*+])|(\d{1,9})[.)])\s+(.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_INLINE = re.compile(                          # bounded spans: linear time on any text
    r"(?P<code>`+)(?P<codebody>.{1,2000}?)(?<!`)(?P=code)(?!`)"
    r"|\$\$(?P<dmath>[^$]{1,5000}?)\$\$"
    r"|(?<![\\$])\$(?P<math>[^$\s](?:[^$]{0,2000}?[^$\s])?)\$"
    r"|\*\*(?P<bold>.{1,2000}?)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]{0,2000}?[^*\s])?)\*"
    r"|(?<!\w)_(?P<em2>[^_\s](?:[^_]{0,2000}?[^_\s])?)_(?!\w)"
    r"|\[(?P<ltext>[^\[\]]{1,500})\]\((?P<url>[^()\s]{1,2000})\)"
    r"|(?P<url2>https?://[^\s<>()\[\]`\"']{0,2000}[^\s<>()\[\]`\"'.,;:!?])", re.S)
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+", re.I)


def parse(md):
    """Blocks: ("para", inline), ("heading", level, inline), ("list", ordered, [inline...]),
    ("code", info, [lines])."""
    blocks, para, items, code = [], [], None, None

    def flush():
        nonlocal items
        if para:
            blocks.append(("para", inline("\n".join(para))))
            para.clear()
        if items is not None:
            blocks.append(("list", items[0], [inline(" ".join(it)) for it in items[1:]]))
            items = None

    for line in plain(md, keep="\n\t").strip("\n").split("\n"):
        if code is not None:
            m = _FENCE.match(line)
            if m and m.group(1)[0] == code[0][0] and len(m.group(1)) >= len(code[0]) and not m.group(2):
                blocks.append(("code", code[1], code[2]))
                code = None
            else:
                code[2].append(line)
            continue
        st = line.strip()
        m = _FENCE.match(line)
        if m:
            flush()
            code = (m.group(1), m.group(2), [])
            continue
        if not st:
            flush()
            continue
        b = _BULLET.match(line)
        if b:
            if para:
                flush()
            if items is None:
                items = [b.group(2) is not None]
            items.append([b.group(3)])
            continue
        if items is not None and line[:1] in (" ", "\t"):
            items[-1].append(st)
            continue
        h = _HEADING.match(line)
        if h:
            flush()
            blocks.append(("heading", len(h.group(1)), inline(h.group(2))))
            continue
        if items is not None:
            flush()
        para.append(st)
    if code is not None:                       # an unclosed fence runs to the end, as in CommonMark
        blocks.append(("code", code[1], code[2]))
    flush()
    return blocks


def inline(s):
    """Spans: ("text", s), ("code", s), ("math", s), ("dmath", s), ("strong", spans),
    ("em", spans), ("link", spans, url), ("url", url)."""
    out, pos = [], 0
    for m in _INLINE.finditer(s):
        if m.start() > pos:
            out.append(("text", s[pos:m.start()]))
        g = m.groupdict()
        if g["code"]:
            out.append(("code", g["codebody"].replace("\n", " ").strip() or g["codebody"]))
        elif g["dmath"] is not None:
            out.append(("dmath", g["dmath"]) if math_ok(g["dmath"]) else ("text", m.group()))
        elif g["math"] is not None:
            out.append(("math", g["math"]) if math_ok(g["math"]) else ("text", m.group()))
        elif g["bold"] is not None:
            out.append(("strong", inline(g["bold"])))
        elif g["em"] is not None or g["em2"] is not None:
            out.append(("em", inline(g["em"] or g["em2"])))
        elif g["ltext"] is not None:
            url = g["url"]
            if _URL.fullmatch(url):
                out.append(("link", inline(g["ltext"]), url))
            else:
                out.append(("text", m.group()))
        elif _URL.fullmatch(g["url2"]):
            out.append(("url", g["url2"]))
        else:
            out.append(("text", g["url2"]))
        pos = m.end()
    if pos < len(s):
        out.append(("text", s[pos:]))
    return out


# --- writing: Markdown ----------------------------------------------------------------------

def to_markdown(md):
    """The description as Markdown that holds only the subset: everything else escaped."""
    if not md or not md.strip():
        return ""
    out = []
    for b in parse(md):
        if b[0] == "para":
            out.append(_md_lines(b[1]))
        elif b[0] == "heading":
            out.append("#" * b[1] + " " + _md_spans(b[2]).replace("\n", " "))
        elif b[0] == "list":
            marks = ["%d." % (k + 1) if b[1] else "-" for k in range(len(b[2]))]
            out.append("\n".join("%s %s" % (mk, md_line_start(_md_spans(it)).replace("\n", " "))
                                 for mk, it in zip(marks, b[2])))
        else:
            out.append(md_fence("\n".join(b[2]), b[1]))
    return "\n\n".join(out) + "\n"


def _md_lines(spans):
    """A paragraph, keeping its line breaks; no line may start a block."""
    return "\n".join(md_line_start(line.strip()) for line in _md_spans(spans).split("\n"))


def _md_spans(spans):
    out = []
    for sp in spans:
        kind = sp[0]
        if kind == "text":
            out.append("\n".join(md_escape(dashes(x)) for x in sp[1].split("\n")))
        elif kind == "code":
            out.append(md_code(sp[1]))
        elif kind == "math":
            out.append("$%s$" % md_math(sp[1]))
        elif kind == "dmath":
            out.append("$$%s$$" % md_math(sp[1]))
        elif kind == "strong":
            out.append("**%s**" % _md_spans(sp[1]))
        elif kind == "em":
            out.append("*%s*" % _md_spans(sp[1]))
        elif kind == "link":
            out.append("[%s](%s)" % (_md_spans(sp[1]), _md_url(sp[2])))
        else:
            out.append("<%s>" % _md_url(sp[1]))
    return "".join(out)


def _md_url(u):
    """An allowed address for a Markdown link: its few characters with a meaning in
    Markdown or HTML percent-encoded."""
    return "".join("%%%02X" % ord(ch) if ch in "<>()[]\\ `\"'" else ch for ch in u)


# --- writing: LaTeX ---------------------------------------------------------------------------

def to_tex(md):
    """The description as LaTeX paragraphs, lists, code and math: spec text escaped."""
    if not md or not md.strip():
        return ""
    out = []
    for b in parse(md):
        if b[0] == "para":
            out.append(_tex_spans(b[1]))
        elif b[0] == "heading":
            out.append(r"\paragraph{%s}" % _tex_spans(b[2]))
        elif b[0] == "list":
            env = "enumerate" if b[1] else "itemize"
            out.append("\\begin{%s}\n%s\n\\end{%s}" % (
                env, "\n".join(r"  \item{} %s" % _tex_spans(it) for it in b[2]), env))
        else:
            out.append("\\begin{Verbatim}[fontsize=\\small,commandchars=\\\\\\{\\}]\n%s\n\\end{Verbatim}"
                       % tex_verbatim("\n".join(b[2])))
    return "\n\n".join(out) + "\n"


def _tex_spans(spans):
    out = []
    for sp in spans:
        kind = sp[0]
        if kind == "text":
            out.append(tex_escape(sp[1]))
        elif kind == "code":
            out.append(tex_code(sp[1]))
        elif kind == "math":
            out.append("$%s$" % tex_math(sp[1]))
        elif kind == "dmath":
            out.append(r"\[%s\]" % tex_math(sp[1]))
        elif kind == "strong":
            out.append(r"\textbf{%s}" % _tex_spans(sp[1]))
        elif kind == "em":
            out.append(r"\emph{%s}" % _tex_spans(sp[1]))
        elif kind == "link":
            out.append(r"\href{%s}{%s}" % (_tex_url(sp[2]), _tex_spans(sp[1])))
        else:
            out.append(r"\href{%s}{%s}" % (_tex_url(sp[1]), tex_code(sp[1])))
    return "".join(out)


def _tex_url(u):
    """An allowed address for \\href: what TeX would read as markup escaped or percent-encoded
    (``~``, ``_`` and ``$`` mean the same percent-encoded)."""
    enc = {"~": "%7E", "_": "%5F", "$": "%24", "#": r"\#", "%": r"\%", "&": r"\&"}
    return "".join(enc.get(ch, ch) for ch in u)


# --- writing: HTML ----------------------------------------------------------------------------

def to_html(md):
    """The description as HTML of the subset: paragraphs, headings, lists, code, math as
    MathML, links to http(s) addresses; everything else escaped text."""
    from .html import html_pre
    if not md or not md.strip():
        return ""
    out = []
    for b in parse(md):
        if b[0] == "para":
            out.append("<p>%s</p>" % _html_spans(b[1]).replace("\n", "<br>\n"))
        elif b[0] == "heading":
            level = min(6, b[1] + 2)
            out.append("<h%d>%s</h%d>" % (level, _html_spans(b[2]), level))
        elif b[0] == "list":
            tag = "ol" if b[1] else "ul"
            out.append("<%s>\n%s\n</%s>" % (tag, "\n".join("<li>%s</li>" % _html_spans(it) for it in b[2]), tag))
        else:
            out.append(html_pre("\n".join(b[2])))
    return "\n".join(out) + "\n"


def _html_spans(spans):
    from .html import html_code, html_escape
    from .mathml import mathml
    out = []
    for sp in spans:
        kind = sp[0]
        if kind == "text":
            out.append("\n".join(html_escape(dashes(x)) for x in sp[1].split("\n")))
        elif kind == "code":
            out.append(html_code(sp[1]))
        elif kind in ("math", "dmath"):
            out.append(mathml(sp[1], display=kind == "dmath"))
        elif kind == "strong":
            out.append("<strong>%s</strong>" % _html_spans(sp[1]))
        elif kind == "em":
            out.append("<em>%s</em>" % _html_spans(sp[1]))
        elif kind == "link":
            out.append('<a href="%s">%s</a>' % (html_escape(sp[2]), _html_spans(sp[1])))
        else:
            out.append('<a href="%s">%s</a>' % (html_escape(sp[1]), html_code(sp[1])))
    return "".join(out)
