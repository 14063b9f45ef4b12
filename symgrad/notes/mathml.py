"""LaTeX math -> MathML, for the HTML notes: formulas a browser shows without a script.

The notes' formulas are LaTeX strings written by symgrad's printers (and the allow-listed
math of a spec's description, ``symgrad.notes.description.math_ok``).  `mathml` turns one
into a ``<math>`` element of MathML Core, which Chromium, Firefox and Safari render
natively: no network, no JavaScript.  The LaTeX itself rides along as an
``application/x-tex`` annotation (copy and paste, screen readers).

It reads the subset of TeX math that LaTeX printers write -- groups, scripts, ``\\frac``,
``\\sqrt``, ``\\left ... \\right``, ``aligned`` and matrix environments, fonts, accents,
spacing and the usual symbols -- as a small recursive-descent parser.  Every character
of the input reaches the output only as the text of a MathML token, HTML-escaped: the
result holds no markup that the input chose.  A command it does not know is shown as its
name (``\\foo``) and recorded in ``Converter.unknown`` (the tests keep that list empty
for everything the notes print).
"""
import html
import re

from .mathsymbols import (ACCENTS, BIG, ENV_FENCES, ENVS, FENCES, FONTS, FUNCTIONS, GREEK, LIMITS,
                          MOVABLE, OPERATORS, RADICALS, SPACES, SPECIAL_LETTERS, STYLE, TEXTS, UNDER, UPRIGHT)


_TOKEN = re.compile(r"\\([A-Za-z]+)\s*|\\(.)|([0-9]+(?:\.[0-9]+)?)|(\s+)|(.)", re.S)


def _alpha(ch, variant):
    """A letter in a Unicode math alphabet (script, double-struck, fraktur)."""
    if (variant, ch) in SPECIAL_LETTERS:
        return SPECIAL_LETTERS[(variant, ch)]
    base = {"script": 0x1D49C, "double": 0x1D538, "fraktur": 0x1D504}.get(variant)
    if base is None or not ("A" <= ch <= "Z" or "a" <= ch <= "z"):
        return ch
    return chr(base + (ord(ch) - ord("A") if ch <= "Z" else 26 + ord(ch) - ord("a")))


def _e(s):
    return html.escape(s, quote=True)


def _tok(tag, text, attrs=""):
    return "<%s%s>%s</%s>" % (tag, attrs, _e(text), tag)


def _row(items):
    return items[0] if len(items) == 1 else "<mrow>%s</mrow>" % "".join(items)


class Converter:
    """One conversion: the parser's position in the token list, and commands it did not know."""

    def __init__(self, tex):
        self.toks = []
        for m in _TOKEN.finditer(tex):
            cmd, sym, num, space, ch = m.groups()
            if space is not None:
                self.toks.append(("space", " "))
            elif cmd is not None:
                self.toks.append(("cmd", cmd))
            elif sym is not None:
                self.toks.append(("sym", sym))
            elif num is not None:
                self.toks.append(("num", num))
            else:
                self.toks.append(("ch", ch))
        self.pos = 0
        self.unknown = []

    # --- the token stream ---------------------------------------------------------------
    def peek(self, k=0, raw=False):
        """The k-th next token (spaces skipped unless ``raw``)."""
        j = self.pos
        while True:
            while not raw and j < len(self.toks) and self.toks[j][0] == "space":
                j += 1
            if k == 0 or j >= len(self.toks):
                return self.toks[j] if j < len(self.toks) else (None, None)
            k -= 1
            j += 1

    def next(self, raw=False):
        while not raw and self.pos < len(self.toks) and self.toks[self.pos][0] == "space":
            self.pos += 1
        t = self.toks[self.pos] if self.pos < len(self.toks) else (None, None)
        self.pos += 1
        return t

    def at(self, kind, value=None):
        t = self.peek()
        return t[0] == kind and (value is None or t[1] == value)

    # --- expressions ---------------------------------------------------------------------
    def expr(self, stops=(), variant=None):
        """Atoms with their scripts up to a stop token (not consumed) or the end."""
        items = []
        while True:
            t = self.peek()
            if t[0] is None or t in stops or (t[0] == "ch" and t[1] == "}" and ("ch", "}") in stops):
                break
            if t == ("ch", "}"):                    # a stray closing brace: shown, not fatal
                self.next()
                items.append(_tok("mo", "}"))
                continue
            if t == ("cmd", "displaystyle") or t == ("cmd", "textstyle"):
                self.next()
                rest = self.expr(stops, variant)
                items.append('<mstyle displaystyle="%s">%s</mstyle>' % (
                    "true" if t[1] == "displaystyle" else "false", _row(rest or ["<mrow></mrow>"])))
                break
            atom, big = self.atom(variant)
            if atom is None:
                continue
            items.append(self.scripts(atom, big))
        return items

    def scripts(self, base, big=False):
        sub = sup = None
        while True:
            if self.at("cmd", "limits") or self.at("cmd", "nolimits"):
                big = self.next()[1] == "limits"
                continue
            if self.at("ch", "_") and sub is None:
                self.next()
                sub = self.arg()
            elif self.at("ch", "^") and sup is None:
                self.next()
                sup = self.arg()
            elif self.at("ch", "'"):
                self.next()
                sup = _tok("mo", "′") if sup is None else _row([sup, _tok("mo", "′")])
            else:
                break
        if sub is None and sup is None:
            return base
        if big:
            tag = "munderover" if sub and sup else ("munder" if sub else "mover")
        else:
            tag = "msubsup" if sub and sup else ("msub" if sub else "msup")
        return "<%s>%s%s</%s>" % (tag, base, "".join(x for x in (sub, sup) if x), tag)

    def arg(self, variant=None):
        """One argument: a {group}, or a single token."""
        if self.at("ch", "{"):
            self.next()
            items = self.expr(stops=(("ch", "}"),), variant=variant)
            if self.at("ch", "}"):
                self.next()
            return _row(items or ["<mrow></mrow>"])
        atom, _ = self.atom(variant)
        return atom if atom is not None else "<mrow></mrow>"

    def raw_group(self):
        """The source of a {group} as text (for \\text and \\operatorname)."""
        if not self.at("ch", "{"):
            t = self.next()
            return t[1] or ""
        self.next()
        depth, out = 1, []
        while self.peek(raw=True)[0] is not None:
            kind, v = self.next(raw=True)
            if kind == "ch" and v == "{":
                depth += 1
            elif kind == "ch" and v == "}":
                depth -= 1
                if depth == 0:
                    break
            if kind == "cmd":
                out.append({"textbackslash": "\\", "ldots": "…", "dots": "…"}.get(v, " " if v in SPACES else "\\" + v))
            elif kind == "space":
                out.append(" ")
            elif kind == "sym":
                out.append(" " if v in ",;:! " else v)
            else:
                out.append(v)
        return "".join(out)

    def atom(self, variant=None):
        """(MathML of the next atom, whether its scripts go under and over), or (None, _)."""
        kind, v = self.next()
        if kind == "num":
            return _tok("mn", v), False
        if kind == "ch":
            if v == "{":
                items = self.expr(stops=(("ch", "}"),), variant=variant)
                if self.at("ch", "}"):
                    self.next()
                return _row(items or ["<mrow></mrow>"]), False
            if v.isalpha():
                return self.letter(v, variant), False
            if v == "~":
                return '<mspace width="0.25em"></mspace>', False
            if v in ("&", "^", "_"):
                return None, False
            return _tok("mo", {"-": "−", "*": "∗", "'": "′"}.get(v, v)), False
        if kind == "sym":
            if v in SPACES:
                return '<mspace width="%s"></mspace>' % SPACES[v], False
            if v == "!":
                return '<mspace width="-0.1667em"></mspace>', False
            if v == "\\":
                return None, False
            return _tok("mo", {"|": "‖"}.get(v, v)), False
        return self.command(v, variant)

    def letter(self, ch, variant):
        if variant in ("script", "double", "fraktur"):
            return _tok("mi", _alpha(ch, variant))
        if variant == "normal":
            return _tok("mi", ch, ' mathvariant="normal"')
        style = STYLE.get(variant)
        return _tok("mi", ch, ' style="%s"' % style if style else "")

    def command(self, name, variant):
        if name in GREEK:
            return self.letter(GREEK[name], variant), False
        if name in UPRIGHT:
            return _tok("mi", UPRIGHT[name], ' mathvariant="normal"'), False
        if name in OPERATORS:
            return _tok("mo", OPERATORS[name]), False
        if name in BIG:
            return _tok("mo", BIG[name], ' movablelimits="true"' if name in MOVABLE else ""), True
        if name in LIMITS or name in FUNCTIONS:
            return _tok("mi", name) if len(name) > 1 else _tok("mi", name, ' mathvariant="normal"'), name in LIMITS
        if name in SPACES:
            return '<mspace width="%s"></mspace>' % SPACES[name], False
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            return "<mfrac>%s%s</mfrac>" % (self.arg(variant), self.arg(variant)), False
        if name in ("binom", "dbinom", "tbinom"):
            a, b = self.arg(variant), self.arg(variant)
            return '<mrow><mo>(</mo><mfrac linethickness="0">%s%s</mfrac><mo>)</mo></mrow>' % (a, b), False
        if name in RADICALS:
            if self.at("ch", "["):
                self.next()
                idx = self.expr(stops=(("ch", "]"),), variant=variant)
                self.next()
                return "<mroot>%s%s</mroot>" % (self.arg(variant), _row(idx or ["<mrow></mrow>"])), False
            return "<msqrt>%s</msqrt>" % self.arg(variant), False
        if name == "left":
            return self.fenced(variant), False
        if name in ("right", "middle"):
            d = self.delimiter()
            return _tok("mo", d, ' stretchy="true"'), False
        if name in ("big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
                    "Biggl", "Biggr"):
            size = {"big": "1.2em", "Big": "1.6em", "bigg": "2.1em", "Bigg": "2.6em"}[name.rstrip("lr")]
            return _tok("mo", self.delimiter(), ' minsize="%s" maxsize="%s"' % (size, size)), False
        if name in FONTS:
            v = FONTS[name]
            if name == "operatorname" or (v in ("normal", "italic", "bold", "sans", "mono") and self.plain_word()):
                word = self.raw_group().strip() or " "
                if v == "normal" or name == "operatorname":
                    return _tok("mi", word, ' mathvariant="normal"'), False
                return _tok("mi", word, ' style="%s"' % STYLE[v]), False
            return self.arg(FONTS[name]), False
        if name in TEXTS:
            style = TEXTS[name]
            return _tok("mtext", self.raw_group(), ' style="%s"' % style if style else ""), False
        if name in ACCENTS:
            body = self.arg(variant)
            return '<mover accent="true">%s%s</mover>' % (body, _tok("mo", ACCENTS[name], ' stretchy="true"')), False
        if name in UNDER:
            body = self.arg(variant)
            return '<munder accentunder="true">%s%s</munder>' % (body, _tok("mo", UNDER[name], ' stretchy="true"')), False
        if name in ("mathrel", "mathbin", "mathop", "mathord", "mathpunct"):
            body = self.raw_group() if self.at("ch", "{") else self.next()[1] or ""
            if name == "mathrel" and self.at("ch", "="):
                self.next()
                body += "="
            return _tok("mo", body.strip()), name == "mathop"
        if name == "begin":
            return self.environment(), False
        if name in ("end", "limits", "nolimits", "nonumber", "notag"):
            if name == "end":
                self.raw_group()
            return None, False
        if name == "not":
            inner, _ = self.atom(variant)
            return '<mrow><menclose notation="updiagonalstrike">%s</menclose></mrow>' % (inner or ""), False
        self.unknown.append(name)
        return _tok("mtext", "\\" + name), False

    def plain_word(self):
        """Whether the next {group} holds letters, digits and spaces only."""
        if not self.at("ch", "{"):
            return False
        k = 1
        while True:
            kind, v = self.peek(k)
            if kind is None:
                return False
            if kind == "ch" and v == "}":
                return k > 1
            if not (kind == "num" or (kind == "ch" and v.isalpha()) or (kind == "sym" and v in ", ")):
                return False
            k += 1

    def delimiter(self):
        kind, v = self.next()
        if kind == "cmd":
            return OPERATORS.get(v, "")
        if kind == "sym":
            return FENCES.get("\\" + v, v)
        return FENCES.get(v, v or "")

    def fenced(self, variant):
        open_ = self.delimiter()
        items = []
        while self.peek()[0] is not None and not self.at("cmd", "right"):
            if self.at("cmd", "middle"):
                self.next()
                items.append(_tok("mo", self.delimiter(), ' stretchy="true"'))
                continue
            got = self.expr(stops=(("cmd", "right"), ("cmd", "middle")), variant=variant)
            items.extend(got)
            if not got and not self.at("cmd", "right") and not self.at("cmd", "middle"):
                self.next()                     # a stray token: skip it
        close = ""
        if self.at("cmd", "right"):
            self.next()
            close = self.delimiter()
        parts = []
        if open_:
            parts.append(_tok("mo", open_, ' fence="true" stretchy="true"'))
        parts.append(_row(items or ["<mrow></mrow>"]))
        if close:
            parts.append(_tok("mo", close, ' fence="true" stretchy="true"'))
        return "<mrow>%s</mrow>" % "".join(parts)

    def environment(self):
        env = self.raw_group().strip()
        if env not in ENVS:
            self.unknown.append("begin{%s}" % env)
        if env == "array" and self.at("ch", "{"):
            self.raw_group()                    # the column spec
        rows, cells = [], []
        stops = (("ch", "&"), ("sym", "\\"), ("cmd", "end"))
        while self.peek()[0] is not None:
            cells.append(_row(self.expr(stops=stops) or ["<mrow></mrow>"]))
            kind, v = self.next()
            if kind == "ch":                    # &
                continue
            rows.append(cells)
            cells = []
            if kind == "cmd":                   # \end{env}
                self.raw_group()
                break
        if cells:
            rows.append(cells)
        aligned = env in "aligned align align* split".split()     # LaTeX environments
        out = []
        for r in rows:
            tds = []
            for k, c in enumerate(r):
                if aligned:
                    style = "text-align:%s;padding:0.1em 0 0.1em %s" % (
                        "right" if k % 2 == 0 else "left", "1.5em" if k and k % 2 == 0 else "0")
                else:
                    style = "text-align:%s;padding:0.1em 0.5em" % ("left" if env == "cases" else "center")
                tds.append('<mtd style="%s">%s</mtd>' % (style, c))
            out.append("<mtr>%s</mtr>" % "".join(tds))
        table = "<mtable>%s</mtable>" % "".join(out)
        if env in ENV_FENCES:
            o, c = ENV_FENCES[env]
            return "<mrow>%s%s%s</mrow>" % (_tok("mo", o, ' stretchy="true"'), table,
                                            _tok("mo", c, ' stretchy="true"') if c else "")
        return table


def _parse(tex):
    conv = Converter(tex)
    items = []
    while conv.peek()[0] is not None:
        items.extend(conv.expr(stops=()))
        if conv.peek()[0] is not None:       # a stray '&' or '\\' at the top level
            conv.next()
    return conv, items


def mathml(tex, display=False, strict=False):
    """The MathML of one LaTeX formula; ``strict``: raise ValueError on an unknown command."""
    conv, items = _parse(tex)
    if strict and conv.unknown:
        raise ValueError("unknown TeX command(s) %s in %s" % (", ".join(sorted(set(conv.unknown))), tex[:200]))
    body = _row(items or ["<mrow></mrow>"])
    if display:
        body = '<mstyle displaystyle="true">%s</mstyle>' % body
    return '<math%s><semantics>%s<annotation encoding="application/x-tex">%s</annotation></semantics></math>' % (
        ' display="block"' if display else "", body, _e(tex))


def unknown_commands(tex):
    """The commands of a formula that `mathml` does not know (for the tests)."""
    return _parse(tex)[0].unknown
