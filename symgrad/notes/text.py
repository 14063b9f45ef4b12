"""Text for the notes: rich sentences, Markdown -> LaTeX, escaping, and the PyTorch listing.

The notes are built once as format-neutral data (``symgrad.notes.content``) and written
out by two templates.  Prose generated in Python is a `Rich` list of segments -- plain
text, inline math (LaTeX), inline code -- that each format spells its own way; the
spec's ``description`` is Markdown, passed through to the Markdown notes and converted
by `md_to_tex` (paragraphs, lists, code, emphasis, links, ``$math$``) for LaTeX.
pdflatex only knows the characters it has been taught, so `tex_escape` also maps the
common non-ASCII ones (``²``, Greek letters, arrows) and marks the rest as ``[U+XXXX]``.
"""
import io
import re
import tokenize

# --- rich text: [(kind, text)] with kind in text | math | code ---------------------------


class Rich(list):
    """Prose as segments: ``Rich().t("the adjoint ").m(r"\\bar{c}").t(" is ").c("1/4")``."""

    def t(self, s):
        self.append(("text", s))
        return self

    def m(self, s):
        self.append(("math", s))
        return self

    def c(self, s):
        self.append(("code", s))
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


def md_code(s):
    """An inline code span that survives backticks in s."""
    ticks = "`"
    while ticks in s:
        ticks += "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return "%s%s%s%s%s" % (ticks, pad, s, pad, ticks)


def md_escape(s):
    """Plain text for Markdown: characters that would start markup are escaped."""
    return re.sub(r"([\\`*_\[\]<>|$#])", r"\\\1", s)


def md_cell(s):
    """Text for a Markdown table cell (a literal | ends the cell)."""
    return s.replace("|", r"\|")


# --- LaTeX escaping -----------------------------------------------------------------------

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


def tex_char(ch):
    if ch in _TEX_SPECIAL:
        return _TEX_SPECIAL[ch]
    if ch in _UNICODE:
        return _UNICODE[ch]
    if ord(ch) < 128 or 0xC0 <= ord(ch) <= 0x17F:       # ASCII, Latin-1 and Latin Extended-A
        return ch
    return r"\textsf{[U+%04X]}" % ord(ch)


def tex_escape(s):
    """Plain text -> LaTeX text that pdflatex (utf8 inputenc) accepts."""
    return "".join(tex_char(ch) for ch in str(s))


_UNSAFE_TEX = re.compile(
    r"\\(input|include|includeonly|InputIfFileExists|openin|openout|read|readline|write|"
    r"immediate|special|catcode|def|edef|gdef|xdef|let|futurelet|csname|endcsname|"
    r"expandafter|newcommand|renewcommand|providecommand|DeclareRobustCommand|usepackage|"
    r"RequirePackage|documentclass|includegraphics|verbatiminput|lstinputlisting|jobname|"
    r"endinput|makeatletter|pdfprimitive|directlua|shipout|output|everypar|"
    r"everymath|everydisplay|afterassignment|aftergroup|uppercase|lowercase|scantokens|"
    r"detokenize|batchmode|errorstopmode|nonstopmode|scrollmode)(?![A-Za-z])")


def tex_math_text(s):
    """Math copied from user text: pass through, but map non-ASCII to something pdflatex knows,
    and disarm anything that could read, write or redefine (``\\input``, ``\\def``, ``^^5c``)."""
    s = s.replace("^^", "^{}{}^{}")
    s = _UNSAFE_TEX.sub(lambda m: r"\backslash\mathrm{%s}" % m.group(1), s)
    out = []
    for ch in s:
        if ord(ch) < 128:
            out.append(ch)
        elif ch in _UNICODE:
            r = _UNICODE[ch]
            out.append(r[1:-1] if r.startswith("$") else "{%s}" % r.replace(r"\textsuperscript", "^")
                       .replace(r"\textsubscript", "_"))
        else:
            out.append(r"\text{[U+%04X]}" % ord(ch))
    return "".join(out)


def tex_code(s):
    """Inline code: typewriter text with every special character escaped."""
    return r"\texttt{%s}" % "".join(_TEX_SPECIAL.get(ch, tex_char(ch)) for ch in s).replace("''", '"')


def verbatim_safe(s):
    """Text for a Verbatim block: ASCII and Latin letters (pdflatex), the rest as [U+XXXX]."""
    return "".join(ch if ord(ch) < 128 or 0xC0 <= ord(ch) <= 0x17F else "[U+%04X]" % ord(ch)
                   for ch in s)


# --- Markdown (a small, predictable subset) -> LaTeX ---------------------------------------

_INLINE = re.compile(
    r"(?P<code>`+)(?P<codebody>.+?)(?P=code)"
    r"|\$\$(?P<dmath>.+?)\$\$"
    r"|(?<![\\$])\$(?P<math>[^$\s](?:[^$]*?[^$\s])?)\$"
    r"|\*\*(?P<bold>.+?)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*?[^*\s])?)\*"
    r"|(?<!\w)_(?P<em2>[^_\s](?:[^_]*?[^_\s])?)_(?!\w)"
    r"|\[(?P<ltext>[^\]]+)\]\((?P<url>[^)\s]+)\)"
    r"|(?P<url2>https?://[^\s)>]+)", re.S)


def md_inline_to_tex(s):
    out, pos = [], 0
    for m in _INLINE.finditer(s):
        out.append(tex_escape(s[pos:m.start()]))
        g = m.groupdict()
        if g["code"]:
            out.append(tex_code(g["codebody"].strip()))
        elif g["dmath"] is not None:
            out.append(r"\[%s\]" % tex_math_text(g["dmath"]))
        elif g["math"] is not None:
            out.append("$%s$" % tex_math_text(g["math"]))
        elif g["bold"] is not None:
            out.append(r"\textbf{%s}" % md_inline_to_tex(g["bold"]))
        elif g["em"] is not None or g["em2"] is not None:
            out.append(r"\emph{%s}" % md_inline_to_tex(g["em"] or g["em2"]))
        elif g["ltext"] is not None:
            out.append(r"\href{%s}{%s}" % (_url(g["url"]), md_inline_to_tex(g["ltext"])))
        else:
            out.append(r"\url{%s}" % _url(g["url2"]))
        pos = m.end()
    out.append(tex_escape(s[pos:]))
    return "".join(out)


def _url(u):
    return "".join(("\\" + ch) if ch in "#%&~_{}" else ch for ch in verbatim_safe(u))


def md_to_tex(md):
    """The spec's description (Markdown) as LaTeX paragraphs, lists, code and display math."""
    if not md:
        return ""
    lines = md.strip("\n").splitlines()
    out, para, items, code = [], [], None, None

    def flush_para():
        if para:
            out.append(md_inline_to_tex(" ".join(x.strip() for x in para)))
            out.append("")
            para.clear()

    def flush_items():
        nonlocal items
        if items is not None:
            out.append(r"\begin{itemize}")
            out.extend(r"  \item %s" % md_inline_to_tex(" ".join(it)) for it in items)
            out.append(r"\end{itemize}")
            out.append("")
            items = None

    for line in lines:
        st = line.strip()
        if code is not None:
            if st.startswith("```"):
                out.append(r"\begin{Verbatim}[fontsize=\small]")
                out.extend(verbatim_safe(c) for c in code)
                out.append(r"\end{Verbatim}")
                out.append("")
                code = None
            else:
                code.append(line)
            continue
        if st.startswith("```"):
            flush_para()
            flush_items()
            code = []
            continue
        bullet = re.match(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$", line)
        if bullet:
            flush_para()
            if items is None:
                items = []
            items.append([bullet.group(1)])
            continue
        if not st:
            flush_para()
            flush_items()
            continue
        if items is not None and line[:1] in (" ", "\t"):
            items[-1].append(st)
            continue
        flush_items()
        head = re.match(r"^(#{1,6})\s+(.*)$", st)
        if head:
            flush_para()
            out.append(r"\paragraph{%s}" % md_inline_to_tex(head.group(2).strip("# ")))
            continue
        para.append(line)
    if code is not None:                      # an unclosed fence: keep the text
        para.extend(code)
    flush_para()
    flush_items()
    return "\n".join(out).strip() + "\n"


def md_description(md):
    """The description for the Markdown notes: as written, with a final newline."""
    return md.strip("\n") + "\n" if md and md.strip() else ""


# --- the spec's text as PyTorch code ----------------------------------------------------

TORCH_NAMES = {"pi"}


def _listing(name):
    """How PyTorch spells a call of the spec function ``name`` (its block's ``torch``)."""
    from ..ops import FUNCTIONS
    fn = FUNCTIONS.get(name)
    return fn.listing if fn is not None else "torch." + name


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
