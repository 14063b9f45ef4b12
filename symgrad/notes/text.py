"""Text for the notes: rich sentences, escaping for each output format, the PyTorch listing.

Everything a spec supplies (title, names, node text, backward steps, messages that quote
them) is *data*: it reaches the Markdown, the LaTeX and the terminal only through the
escapers here, which leave nothing that the format would read as markup.

* `plain` first makes text visible: line breaks and tabs become spaces, every other
  control or invisible formatting character is shown as its Python escape (``\\x1b``).
* Markdown: `md_escape` backslash-escapes every character that could start markup
  (``<`` and ``&`` included, so no HTML tag or entity survives) and writes ``|`` as
  ``&#124;``, which no table splits on; `md_code` is an inline code span on one line;
  `md_code_cell` the same for a table cell; `md_fence` a fenced block whose fence is
  longer than any run of backticks inside.
* LaTeX: `tex_escape` and `tex_code` leave no backslash, brace, ``^``, ``%``, ``#``,
  ``~``, ``$``, ``&`` or ``_`` of the spec unescaped, so no TeX command can come from
  it, whoever compiles the file; they also give long words break points and keep source
  lines short (pdflatex reads at most 200,000 bytes a line).  `tex_verbatim` is for a
  ``Verbatim`` block with ``commandchars=\\\\\\{\\}``: backslashes and braces become
  ``\\symbol{..}``, so a line ``\\end{Verbatim}`` in the text cannot end the block.
  pdflatex (utf8 inputenc, OT1) knows ASCII and most Latin letters; `tex_char` maps the
  common symbols (``²``, Greek, arrows) and marks the rest as ``[U+XXXX]``.
* `Rich` prose: segments of text, math (LaTeX that symgrad itself wrote) and code.

The spec's ``description`` is a small Markdown subset, read in ``symgrad.notes.description``.
"""
import io
import re
import tokenize
import unicodedata

# --- visible text -------------------------------------------------------------------------

_BREAKS = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"


def _escape_char(ch):
    return repr(ch)[1:-1] if ch != "'" else ch


def _visible(ch, keep, breaks):
    if ch.isprintable() or ch in keep:
        return ch
    if ch in _BREAKS:
        return breaks
    if unicodedata.category(ch) == "Zs":          # a no-break or other typographic space
        return " "
    return _escape_char(ch)


def plain(s, keep="", breaks=" "):
    """s with line breaks and tabs as `breaks`, other spaces as a space, and every other
    non-printable character shown as its Python escape (``\\x1b``, ``\\u202e``); the
    characters in keep stay as they are."""
    s = str(s)
    return s if s.isprintable() else "".join(_visible(ch, keep, breaks) for ch in s)


def terminal(s):
    """One line for a terminal: line breaks and controls shown as escapes (``\\n``, ``\\x1b``)."""
    s = str(s)
    return s if s.isprintable() else "".join(
        ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else _escape_char(ch) for ch in s)


# Text in a table cell longer than this (characters) is shortened with an ellipsis: a table
# row cannot break across pages (the notes give the full form elsewhere).
CELL_MAX = 400


def ellipsize(s, n):
    """s cut to at most n characters, with an ellipsis in the middle when it is longer."""
    s = str(s)
    if len(s) <= n:
        return s
    head = (n - 1) * 2 // 3
    return s[:head] + "…" + s[len(s) - (n - 1 - head):]


# --- rich text: [(kind, text)] with kind in text | math | code ---------------------------

class Rich(list):
    """Prose as segments: ``Rich().t("the adjoint ").m(r"\\bar{c}").t(" is ").c("1/4")``.

    Text and code may come from a spec and are escaped; math is LaTeX symgrad wrote."""

    def t(self, s):
        self.append(("text", s))
        return self

    def m(self, s):
        self.append(("math", s))
        return self

    def c(self, s):
        self.append(("code", s))
        return self

    def then(self, other):
        """Append another Rich text; returns self (for chaining)."""
        self.extend(other)
        return self

    def md(self):
        return "".join(md_segment(k, s) for k, s in self)

    def tex(self):
        return "".join(tex_segment(k, s) for k, s in self)


def md_segment(kind, s):
    if kind == "math":
        return "$%s$" % s.strip()
    if kind == "code":
        return md_code(s)
    return md_escape(s)


def tex_segment(kind, s):
    if kind == "math":
        return "$%s$" % s
    if kind == "code":
        return tex_code(s)
    return tex_escape(s)


# --- Markdown -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>$#&~!])")
_MD_LINE_START = re.compile(r"^(\s*)([-+=:]|\d+(?=[.)]))")


def md_escape(s):
    """Plain text for Markdown, on one line: nothing in it starts markup, HTML or a table cell."""
    return _MD_SPECIAL.sub(r"\\\1", plain(s)).replace("|", "&#124;")


def md_line_start(s):
    """Escape what would make a block of a line that starts with s (a list item, a heading
    underline, a definition): ``- x`` -> ``\\- x``, ``1. x`` -> ``1\\. x``."""
    m = _MD_LINE_START.match(s)
    if not m:
        return s
    if m.group(2)[0].isdigit():
        k = m.end()
        return s[:k] + "\\" + s[k:]
    return s[:m.start(2)] + "\\" + s[m.start(2):]


def md_code(s):
    """An inline code span on one line that survives backticks in s."""
    s = plain(s)
    run = max((len(r) for r in re.findall("`+", s)), default=0)
    ticks = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")
                                                          and s.strip()) else ""
    return "%s%s%s%s%s" % (ticks, pad, s, pad, ticks)


def md_code_cell(s):
    """Code in a table cell: a code span, or escaped text when it holds a ``|`` (renderers
    differ on ``\\|`` inside a code span in a table, so none is written)."""
    return md_code(s) if "|" not in s else md_escape(s)


def md_math_cell(s):
    """symgrad's LaTeX in a Markdown table cell: no ``|`` (it would split the row)."""
    return s.replace("\\|", "\\Vert ").replace("|", "\\vert ")


def md_cell(s):
    """Text for a Markdown table cell (kept for templates of your own; the shipped ones
    use `md_code_cell` and `md_escape`, which never write a bare ``|``)."""
    return s.replace("|", r"\|")


def md_fence(s, info=""):
    """A fenced code block: its fence is longer than any run of backticks in s, so no line
    of s can close it; control characters show as escapes."""
    body = "\n".join(plain(line, keep="\t") for line in str(s).rstrip("\n").split("\n"))
    run = max((len(r) for r in re.findall("`+", body)), default=0)
    fence = "`" * max(3, run + 1)
    info = re.sub(r"[^\w+-]", "", info)
    return "%s%s\n%s\n%s" % (fence, info, body, fence)


# --- LaTeX ------------------------------------------------------------------------------------

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%",
    "#": r"\#", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': "''",
}
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
          "rho sigma sigma tau upsilon phi chi psi omega").split()
_UNICODE = {
    "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}", "¹": r"\textsuperscript{1}",
    "⁻": r"\textsuperscript{-}", "ᵀ": r"\textsuperscript{T}", "ᵢ": r"\textsubscript{i}",
    "ⱼ": r"\textsubscript{j}", "₀": r"\textsubscript{0}", "₁": r"\textsubscript{1}",
    "₂": r"\textsubscript{2}", "₃": r"\textsubscript{3}",
    "×": r"$\times$", "·": r"$\cdot$", "⊙": r"$\odot$", "∂": r"$\partial$", "∑": r"$\sum$",
    "→": r"$\to$", "←": r"$\leftarrow$", "⇒": r"$\Rightarrow$", "≤": r"$\le$", "≥": r"$\ge$",
    "≠": r"$\ne$", "≈": r"$\approx$", "∈": r"$\in$", "∞": r"$\infty$", "√": r"$\surd$",
    "−": "-", "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\dots{}",
    "•": r"\textbullet{}", "°": r"\textdegree{}", "±": r"$\pm$", "∇": r"$\nabla$",
    "\u00a0": "~",
}
for _k, _g in enumerate(_GREEK):
    if _k == 18:            # final sigma
        continue
    _UNICODE[chr(0x3B1 + _k)] = "$\\%s$" % ("omicron" if _g == "omicron" else _g)
_UNICODE["ο"] = "o"
_UNICODE["ς"] = r"$\varsigma$"
for _g, _c in (("Gamma", "Γ"), ("Delta", "Δ"), ("Theta", "Θ"), ("Lambda", "Λ"), ("Xi", "Ξ"),
               ("Pi", "Π"), ("Sigma", "Σ"), ("Phi", "Φ"), ("Psi", "Ψ"), ("Omega", "Ω")):
    _UNICODE[_c] = "$\\%s$" % _g

# Latin letters U+00C0..U+017F that pdflatex's utf8 inputenc cannot set in the OT1 encoding.
_NOT_OT1 = set("ÐÞðþĄąĐđĘęĦħĮįĸĿŀŉŊŋŦŧŲųſ")

# A run of this many characters without a space gets a line-break opportunity (\allowbreak)
# every BREAK_EVERY characters; a .tex source line is continued (with %) after SOURCE_LINE.
LONG_WORD = 40
BREAK_EVERY = 20
CODE_WORD = 16         # a word this long may also break after ( and .
SOURCE_LINE = 1000


def latin(ch):
    """Whether pdflatex sets ch as it is (ASCII, and the Latin letters OT1 has accents for)."""
    o = ord(ch)
    return 32 <= o < 127 or (0xC0 <= o <= 0x17F and ch not in _NOT_OT1)


def tex_char(ch):
    if ch in _TEX_SPECIAL:
        return _TEX_SPECIAL[ch]
    if ch in _UNICODE:
        return _UNICODE[ch]
    if latin(ch):
        return ch
    if not ch.isprintable():
        return r"\textbackslash{}" + _escape_char(ch)[1:]
    return r"\textsf{[U+%04X]}" % ord(ch)


def _tex_units(s, unit, breaks=True, code_words=True):
    """The LaTeX of s, character by character: words of LONG_WORD characters or more get
    break points, and a source line is continued (with %) before it grows past SOURCE_LINE."""
    out, col = [], 0
    for m in re.finditer(r" +|[^ ]+", s):
        word = m.group()
        if word[0] == " ":
            out.append(word)
            col += len(word)
            continue
        long_word = breaks and len(word) >= LONG_WORD
        code_word = breaks and code_words and len(word) >= CODE_WORD   # f(x.transpose(1, ...: after ( and .
        for k, ch in enumerate(word):
            if col > SOURCE_LINE:
                out.append("%\n")
                col = 0
            if long_word and k and k % BREAK_EVERY == 0:
                out.append(r"\allowbreak{}")
            u = unit(ch)
            out.append(u)
            col += len(u)
            if code_word and ch in "(." and 0 < k < len(word) - 1:
                out.append(r"\allowbreak{}")
    return "".join(out)


def tex_short_lines(tex, limit=4 * SOURCE_LINE):
    """A .tex source whose long lines (many short pieces: spans, names) are continued with
    ``%`` after a ``}`` or a ``$`` every SOURCE_LINE characters or so -- where that changes
    nothing -- since pdflatex reads at most 200,000 bytes a line.  Lines with a comment,
    and Verbatim lines (always short), are left as they are."""
    lines = tex.split("\n")
    if all(len(line) <= limit for line in lines):
        return tex
    out = []
    for line in lines:
        if len(line) <= limit or re.search(r"(?<!\\)%", line):
            out.append(line)
            continue
        pieces, start = [], 0
        for m in re.finditer(r"[}$](?=[^ ])", line):
            if m.end() - start >= SOURCE_LINE:
                pieces.append(line[start:m.end()])
                start = m.end()
        pieces.append(line[start:])
        out.append("%\n".join(pieces))
    return "\n".join(out)


_OPEN_DOUBLE = re.compile(r'(^|[\s(\[{])"')
_OPEN_SINGLE = re.compile(r"(^|[\s(\[{])'(?=\S)")


def smart_quotes(s):
    """Straight quotes as typographic ones: opening after a space or bracket, else closing
    (so that pdflatex does not set an opening quote as a closing one)."""
    if '"' not in s and "'" not in s:
        return s
    s = _OPEN_DOUBLE.sub("\\1\u201c", s).replace('"', "\u201d")
    return _OPEN_SINGLE.sub("\\1\u2018", s)


def dashes(s):
    """TeX's dashes in prose for formats without TeX's ligatures: ``---`` and ``--``."""
    return s.replace("---", "\u2014").replace("--", "\u2013") if "--" in s else s


def tex_escape(s, breaks=True):
    """Plain text -> LaTeX text: every special character escaped, whatever s holds; straight
    quotes become typographic ones."""
    return _tex_units(smart_quotes(plain(s)), tex_char, breaks)


def tex_pdfstring(s, n=200):
    """Text for PDF metadata (hyperref's pdftitle): short, escaped, no break points."""
    return tex_escape(ellipsize(s, n), breaks=False)


def tex_code(s):
    """Inline code: typewriter text with every special character escaped; longer code may
    break after ``(``, ``,``, ``=`` and ``/`` (typewriter text has no other break points)."""
    s = plain(s)
    brk = len(s) > 24

    def unit(ch):
        out = '"' if ch == '"' else tex_char(ch)
        return out + r"\allowbreak{}" if brk and ch in "(,=/" else out
    return r"\texttt{%s}" % _tex_units(s, unit, code_words=False)


VERBATIM_WIDTH = 92
_VERBATIM_SPECIAL = {"\\": r"\symbol{92}", "{": r"\symbol{123}", "}": r"\symbol{125}",
                     "^": r"\symbol{94}"}


def tex_verbatim(s):
    """Text for ``\\begin{Verbatim}[commandchars=\\\\\\{\\}]``: backslashes, braces and ``^`` as
    ``\\symbol{..}``, characters pdflatex does not know as ``[U+XXXX]``, controls as
    escapes, and lines longer than VERBATIM_WIDTH wrapped (continued, indented, on the next)."""
    lines = []
    for line in str(s).split("\n"):
        line = plain(line.expandtabs(4))
        line = "".join(ch if latin(ch) else "[U+%04X]" % ord(ch) for ch in line)
        while len(line) > VERBATIM_WIDTH:           # wrap, at a space when there is one
            cut = line.rfind(" ", VERBATIM_WIDTH // 2, VERBATIM_WIDTH) + 1 or VERBATIM_WIDTH
            lines.append(line[:cut].rstrip())
            line = "    " + line[cut:]
        lines.append(line)
    return "".join(_VERBATIM_SPECIAL.get(ch, ch) for ch in "\n".join(lines))


# --- the spec's text as PyTorch code ----------------------------------------------------

TORCH_NAMES = {"pi"}


def _listing(name):
    """How PyTorch spells a call of the spec function ``name`` (its block's ``torch``)."""
    from ..ops import FUNCTIONS
    fn = FUNCTIONS.get(name)
    return fn.listing if fn is not None else "torch." + name


def _picks(name):
    from ..ops import FUNCTIONS
    fn = FUNCTIONS.get(name)
    return fn.picks if fn is not None else None


def _closing(toks, k):
    """The end (row, col) of the parenthesis that closes the one at token k."""
    depth = 0
    for tok in toks[k:]:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
            if depth == 0:
                return tok.end
    return None


def torch_code(text):
    """A spec expression as PyTorch code: ``tanh(x @ W)`` -> ``torch.tanh(x @ W)``.

    The spec language is PyTorch's own syntax; only its bare function names need the
    ``torch.`` or ``F.`` (``torch.nn.functional``) prefix.  Methods (``c.mean()``) stay.
    Returns (code, uses_F).
    """
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text, False
    lines = text.splitlines() or [""]
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)
    inserts = []
    uses_f = False
    for k, tok in enumerate(toks):
        if tok.type != tokenize.NAME:
            continue
        prev = toks[k - 1].string if k else ""
        nxt = toks[k + 1].string if k + 1 < len(toks) else ""
        field = _picks(tok.string) if nxt == "(" else None
        if field:                             # slogdet(A) means PyTorch's slogdet(A).logabsdet
            end = _closing(toks, k + 1)
            if end is not None:
                inserts.append((offsets[end[0] - 1] + end[1], 0, "." + field))
        if prev == ".":
            continue
        is_call = nxt == "("
        if not (is_call or (tok.string in TORCH_NAMES and nxt != "=")):
            continue
        pos = offsets[tok.start[0] - 1] + tok.start[1]
        spelled = _listing(tok.string) if is_call else "torch." + tok.string
        uses_f = uses_f or spelled.startswith("F.")
        inserts.append((pos, len(tok.string), spelled))
    out = text
    for pos, n, spelled in sorted(inserts, reverse=True):
        out = out[:pos] + spelled + out[pos + n:]
    return out, uses_f


def one_line_code(text):
    """A spec expression on one line, as a table shows it: comments dropped, line breaks
    inside parentheses joined (``(a**2  # square\\n + a)`` -> ``(a**2 + a)``)."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return " ".join(text.split())
    parts, prev_end = [], None
    for tok in toks:
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER,
                        tokenize.INDENT, tokenize.DEDENT):
            continue
        if prev_end is not None and tok.start != prev_end:
            parts.append(" ")
        parts.append(tok.string)
        prev_end = tok.end
    return "".join(parts).strip()
