"""LaTeX for the notes: the library's printers plus named adjoints, and display helpers.

The notes print with printers derived from the library's matrix and index printers
(``symgrad.printing``); they add only what the notes need: tensors that print as given
LaTeX (`Named`: an adjoint's name such as ``\\bar{c}`` or ``\\delta_1``, or a value shown
in place of one before it is simplified), merged subscripts (``W_{1,ij}`` rather than
``{W_{1}}_{ij}``), words for dim names, and an order of terms in index notation that
does not depend on Python's hash seed -- so the notes are byte-identical from run to run.
`chain` and `aligned` lay out ``lhs = r1 = r2`` displays, on several lines when long.
Long names print shortened with an ellipsis, and a formula too long for pdflatex to
typeset (`DISPLAY_MAX`) is named as such: the notes give its text form as well.
"""
import re

from sympy import Add, Mul, Symbol

from ..printing.index import IndexPrinter
from ..printing.latex import MatrixLatexPrinter
from ..tensor import Tensor, shape_of

# A display formula is printed on several lines (an aligned chain) beyond this length.
WRAP = 80
# A formula longer than this (LaTeX characters) is not typeset in a display but named as
# too long: pdflatex cannot scale a box wider than 16,383 pt (about 9,000 characters).
DISPLAY_MAX = 6000
# Names longer than this (characters) print shortened, with an ellipsis in the middle: a
# formula cannot break inside a name, and pdflatex cannot size a box wider than 16,383 pt.
NAME_MAX = 40


# --- printers --------------------------------------------------------------------------

class Named(Tensor):
    """A tensor that prints as given LaTeX: an adjoint's name, or a value shown in place."""

    def __new__(cls, key, shape, tex, shown=False):
        obj = Tensor.__new__(cls, key, shape)
        obj.tex = tex
        obj.shown = shown
        return obj

    def _hashable_content(self):
        # the printed form is part of the identity: SymPy caches results by equality
        return Tensor._hashable_content(self) + (self.tex, self.shown)


def _balanced(s):
    depth = 0
    for ch in s:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


class _NotesNames:
    """What the notes' printers add: named adjoints, merged subscripts, short names."""

    def _name(self, name):
        if len(name) > NAME_MAX:
            head, tail = name[:NAME_MAX * 2 // 3], name[-(NAME_MAX // 3):]
            return r"\mathit{%s\ldots %s}" % (head.replace("_", r"\_"), tail.replace("_", r"\_"))
        # SymPy spells a name ending in "scr" with \mathscr, which needs a package the notes
        # do not load; \mathcal is the same idea
        return super()._name(name).replace(r"\mathscr{", r"\mathcal{")

    def _print_TensorSymbol(self, e):
        if isinstance(e, Named):
            if e.shown and (_needs_parens(e.tex) or _is_product(e.tex)):
                return r"\left(%s\right)" % e.tex
            return e.tex
        if e.name.startswith("grad_"):
            stem = e.name[5:]
            if stem.endswith("_pre") and len(stem) > 4:
                return pre_tex(self._name(stem[:-4]))
            return bar(self._name(stem))
        return self._name(e.name)

    def _print_Symbol(self, e, style="plain"):
        # a dim: a word prints upright-italic as one name, not as a product of letters
        return self._name(e.name) if type(e) is Symbol else super()._print_Symbol(e, style)

    def subscripted(self, name, idx):
        m = re.fullmatch(r"(.*)_\{([^{}]*)\}", name, re.S)
        if m and _balanced(m.group(1)) and "^" not in m.group(1):
            return "%s_{%s,%s}" % (m.group(1), m.group(2), idx)
        if "_" in name or "^" in name:
            return "{%s}_{%s}" % (name, idx)
        return "%s_{%s}" % (name, idx)

    def _print_Mul(self, e):
        front = [f for f in e.args if isinstance(f, Named)]
        if not front:
            return super()._print_Mul(e)
        coeff, rest = Mul(*[f for f in e.args if f not in front]).as_coeff_Mul()
        if not any(f.shown for f in front) and not (
                any(shape_of(f) != () for f in front) and shape_of(rest) != ()):
            return super()._print_Mul(e)           # no elementwise product to order
        pieces = []                  # (latex, is a tensor, is a shown value)
        for f in front:
            pieces.append((self._print(f), shape_of(f) != (), f.shown))
        if rest != 1:
            rs = self._print(rest)
            if isinstance(rest, Add) or (isinstance(rest, Mul) and any(isinstance(f, Add) for f in rest.args)
                                         and len(rest.args) > 1 and not rs.startswith(r"\left(")):
                rs = r"\left(%s\right)" % rs
            pieces.append((rs, shape_of(rest) != (), False))
        out = ""
        if coeff == -1:
            out = "-"
        elif coeff != 1:
            out = self._print(coeff)
            out += r" \cdot " if pieces[0][2] or pieces[0][0][:1].isdigit() else " "
        prev = None
        for p in pieces:
            if prev is not None:
                out += r" \odot " if (prev[1] and p[1]) else (r" \cdot " if (prev[2] or p[2]) else " ")
            out += r"\left(%s\right)" % p[0] if prev is not None and p[0].startswith("-") else p[0]
            prev = p
        return out


class NotesLatex(_NotesNames, MatrixLatexPrinter):
    """Matrix notation for the notes."""

    def parenthesize(self, item, level, is_neg=False, strict=False):
        # a factor that prints with its own sign: I \odot (-x), not I \odot -x
        s = super().parenthesize(item, level, is_neg=is_neg, strict=strict)
        if s.startswith("-") and not getattr(item, "is_Number", False) and level >= 50:
            return r"\left(%s\right)" % s
        return s

    def _print_Add(self, e, order=None):
        # a term that prints with its own sign: a - b, not a + -b
        return super()._print_Add(e, order).replace(" + - ", " - ").replace(" + -", " - ")


class NotesIndex(_NotesNames, IndexPrinter):
    """Index notation for the notes."""

    region_printer = NotesLatex


_LATEX = NotesLatex({"mul_symbol": None})


def tex(e):
    """An expression in matrix notation."""
    return _LATEX.doprint(e)


def tex_index(e, idx, avoid=()):
    """The entry of an expression at the indices idx; summation indices avoid ``avoid``
    (the one-letter names of dims and tensors: a dim k is never a summation index)."""
    return _unwrap_numerators(NotesIndex(used=list(idx) + list(avoid)).index_of(e, list(idx)))


def _unwrap_numerators(s):
    r"""\frac{\left(X\right)}{n} -> \frac{X}{n}: a numerator needs no parentheses."""
    key = r"\frac{\left("
    start = 0
    while True:
        k = s.find(key, start)
        if k < 0:
            return s
        body = k + len(key)
        depth, j = 1, body
        while j < len(s) and depth:
            if s.startswith(r"\left(", j):
                depth += 1
                j += len(r"\left(")
                continue
            if s.startswith(r"\right)", j):
                depth -= 1
                if depth == 0:
                    break
                j += len(r"\right)")
                continue
            j += 1
        end = j + len(r"\right)")
        if depth == 0 and s.startswith("}{", end):
            s = s[:k] + r"\frac{" + s[body:j] + s[end:]
        start = k + 1


def name_tex(name):
    return _LATEX._name(name)


def entry(name_latex, idx):
    return _LATEX.subscripted(name_latex, "".join(idx)) if idx else name_latex


def bar(name_latex):
    """The adjoint's name: \\bar{c}, \\bar{W}_{1}, \\overline{\\mathit{out}}."""
    m = re.fullmatch(r"(\\[A-Za-z]+|[A-Za-z])((?:_\{[^{}]*\})?)", name_latex)
    if m:
        return r"\bar{%s}%s" % (m.group(1), m.group(2))
    m = re.fullmatch(r"(\\mathit\{[A-Za-z]+\})((?:_\{[^{}]*\})?)", name_latex)
    if m:
        return r"\overline{%s}%s" % (m.group(1), m.group(2))
    return r"\overline{%s}" % name_latex


def pre_tex(name_latex):
    """The adjoint of a node's pre-activation: \\delta_{h_{2}} (``grad_h2_pre`` in the code)."""
    return r"\delta_{%s}" % name_latex


LETTERS = "ijklmnpqrstuvw"


def index_letters(rank, avoid=()):
    """Free index letters for a tensor of this rank that are no dim's or tensor's name."""
    free = [c for c in LETTERS if c not in avoid]
    return free[:rank] if rank <= len(free) else free + ["k_{%d}" % k for k in range(rank - len(free))]


def _needs_parens(s):
    """Whether a value shown as a factor needs parentheses (a sum, or a leading minus)."""
    if s.startswith("-"):
        return True
    depth = 0
    for k, ch in enumerate(s):
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif depth == 0 and k and ch in "+-":
            return True
    return False


def _is_product(s):
    """A product at the top level (a space outside braces), but not one fraction alone."""
    depth = 0
    for ch in s:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif depth == 0 and ch == " ":
            return True
    return False


def too_long(s):
    """A formula as it is, or a note that it is too long to typeset."""
    if len(s) <= DISPLAY_MAX:
        return s
    return r"\text{(a formula of %d characters: too long to typeset here)}" % len(s)


def chain(lhs, rhs, sep="="):
    """``lhs = r1 = r2 ...`` with repeats dropped; an aligned block when it is long."""
    seen, parts = set(), []
    for r in rhs:
        if r is None or r in seen:
            continue
        seen.add(r)
        parts.append(too_long(r))
    if not parts:
        return lhs
    if len(lhs) + sum(len(p) + 3 for p in parts) <= WRAP or len(parts) == 1:
        return lhs + "".join(" %s %s" % (sep, p) for p in parts)
    rows = [r"%s &%s %s" % (lhs, sep, parts[0])] + [r"&%s %s" % (sep, p) for p in parts[1:]]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def aligned(rows):
    """rows of (lhs, [rhs...]) as one aligned block; a one-row block stays a plain equation."""
    if len(rows) == 1:
        lhs, rhs = rows[0]
        return chain(lhs, rhs)
    lines = []
    for lhs, rhs in rows:
        parts = []
        for r in rhs:
            if too_long(r) not in parts:
                parts.append(too_long(r))
        lines.append("%s &= %s" % (lhs, " = ".join(parts)))
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def shape_tex(shape):
    if not shape:
        return r"\text{scalar}"
    return r" \times ".join(str(s) if isinstance(s, int) or str(s).isdigit() else name_tex(str(s))
                             for s in shape)


def shape_plain(shape):
    if not shape:
        return "scalar"
    return " × ".join(str(s) for s in shape)


def visible_len(s):
    """About how many characters wide a LaTeX formula prints (commands count as one, braces,
    scripts and spacing as none): to tell a formula that would shrink past reading."""
    s = re.sub(r"\\(?:left|right|[bB]igg?[lr]?)\b", "", s)
    s = re.sub(r"\\(?:mathrm|operatorname|mathit|mathtt|text|mathbf)\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[A-Za-z]+|\\.", "x", s)
    return len(re.sub(r"[{}^_\s&]", "", s))
