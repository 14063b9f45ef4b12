"""Rendering: a `Derivation` as lecture notes in Markdown, LaTeX or PDF.

The content is built once, format-neutral, by ``symgrad.notes.content``; two jinja2
templates lay it out (``notes.md.j2``, and ``notes.tex.j2`` with LaTeX-safe delimiters
``\\VAR{...}``, ``\\BLOCK{...}``, ``\\#{...}``).  The templates ship inside the package
(``symgrad/templates`` when installed, the repository's ``templates/`` in a checkout);
``template_dir`` (the CLI's ``--template DIR``) puts a folder of your own first, so
you may override one template and keep the other.

A PDF is the LaTeX notes built by ``latexmk -pdf`` in a temporary folder.  Output is
deterministic: the same spec gives byte-identical Markdown and LaTeX, and the PDF is
built with ``SOURCE_DATE_EPOCH`` and without a trailer ID, so it is identical too.
"""
import os
import re
import shutil
import subprocess
import tempfile

import jinja2

from ..errors import SymgradError

FORMATS = ("md", "tex", "pdf")
TEMPLATES = {"md": "notes.md.j2", "tex": "notes.tex.j2"}
TEX_PACKAGES = "latexmk texlive-latex-recommended texlive-pictures"
PDF_TIMEOUT_S = 120
EPOCH = "946684800"          # 2000-01-01: the date a reproducible PDF claims


def template_dirs(template_dir=None):
    """Where templates are looked up, first match wins."""
    dirs = []
    if template_dir:
        if not os.path.isdir(template_dir):
            raise SymgradError("--template %s: no such folder" % template_dir)
        dirs.append(os.path.abspath(template_dir))
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for d in (os.path.join(package, "templates"),                    # installed
              os.path.join(os.path.dirname(package), "templates")):  # a source checkout
        if os.path.isfile(os.path.join(d, TEMPLATES["md"])) and d not in dirs:
            dirs.append(d)
    return dirs


def environment(fmt, template_dir=None):
    from . import text as rt
    dirs = template_dirs(template_dir)
    if not dirs:
        raise SymgradError("the notes templates are missing from this installation of symgrad "
                           "(expected symgrad/templates/%s); reinstall, or pass --template DIR"
                           % TEMPLATES["md"])
    common = dict(loader=jinja2.FileSystemLoader(dirs), autoescape=False, trim_blocks=True,
                  lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    if fmt == "tex":
        env = jinja2.Environment(
            block_start_string=r"\BLOCK{", block_end_string="}",
            variable_start_string=r"\VAR{", variable_end_string="}",
            comment_start_string=r"\#{", comment_end_string="}",
            line_statement_prefix="%%", line_comment_prefix="%#", **common)
        env.filters["e"] = rt.tex_escape
        env.filters["rich"] = lambda r: r.tex()
        env.filters["code"] = rt.tex_code
        env.filters["verbatim"] = rt.verbatim_safe
        env.filters["description"] = rt.md_to_tex
    else:
        env = jinja2.Environment(**common)
        env.filters["e"] = rt.md_escape
        env.filters["rich"] = lambda r: r.md()
        env.filters["code"] = rt.md_code
        env.filters["cell"] = rt.md_cell
        env.filters["description"] = rt.md_description
    env.filters["yesno"] = lambda b: "yes" if b else "no"
    return env


def render(derivation, fmt="md", check=None, template_dir=None):
    """The notes of a derivation: str for ``md`` and ``tex``, bytes for ``pdf``."""
    if fmt not in FORMATS:
        raise SymgradError("unknown notes format %r (md, tex or pdf)" % fmt)
    if fmt == "pdf":
        return build_pdf(render(derivation, "tex", check, template_dir))
    from .content import notes
    ctx = notes(derivation, check)
    env = environment(fmt, template_dir)
    try:
        tpl = env.get_template(TEMPLATES[fmt])
        return tpl.render(n=ctx)
    except jinja2.TemplateError as e:
        where = getattr(e, "filename", None) or TEMPLATES[fmt]
        line = getattr(e, "lineno", None)
        raise SymgradError("template %s%s: %s" % (where, ":%d" % line if line else "", e))


def repr_latex(derivation):
    """For Jupyter's ``_repr_latex_``: the closed forms as one display formula, in matrix and
    index notation side by side.  Notebook front ends show the Markdown notes
    (``_repr_markdown_``); nbconvert's LaTeX and PDF exports prefer this one."""
    from .content import closed_forms
    rows = ["%s &= %s &\\qquad %s &= %s" % c["parts"] for c in closed_forms(derivation)]
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


# --- PDF ---------------------------------------------------------------------------

def have_latex():
    return bool(shutil.which("latexmk") and shutil.which("pdflatex"))


def build_pdf(tex_source):
    """Compile LaTeX notes with latexmk/pdflatex in a temporary folder; return the PDF."""
    if not have_latex():
        raise SymgradError("PDF notes need latexmk and pdflatex (TeX Live); on Debian or Ubuntu: "
                           "apt-get install %s -- or write .tex or .md notes instead" % TEX_PACKAGES)
    env = dict(os.environ)
    env.update({"SOURCE_DATE_EPOCH": env.get("SOURCE_DATE_EPOCH", EPOCH), "FORCE_SOURCE_DATE": "1",
                "TZ": "UTC",
                # a spec's text must not read or write files, nor run programs, through TeX
                "openin_any": "p", "openout_any": "p", "shell_escape": "f"})
    with tempfile.TemporaryDirectory(prefix="symgrad-pdf-") as tmp:
        src = os.path.join(tmp, "notes.tex")
        with open(src, "w", encoding="utf-8") as f:
            f.write(tex_source)
        cmd = ["latexmk", "-pdf", "-pdflatex=pdflatex -no-shell-escape %O %S",
               "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "-quiet", "notes.tex"]
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=PDF_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SymgradError("latexmk took more than %d s on the notes; write .tex and build it "
                               "yourself" % PDF_TIMEOUT_S)
        pdf = os.path.join(tmp, "notes.pdf")
        if proc.returncode != 0 or not os.path.exists(pdf):
            raise SymgradError("pdflatex failed on the notes: %s" % _latex_error(tmp, proc.stdout))
        with open(pdf, "rb") as f:
            return f.read()


def _latex_error(folder, output):
    """The first LaTeX error of the log, with its line (short enough for one line)."""
    log = os.path.join(folder, "notes.log")
    text = ""
    if os.path.exists(log):
        with open(log, encoding="latin-1") as f:
            text = f.read()
    text = text or output.decode("utf-8", "replace")
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^\S*\.tex:\d+: ", line):
            more = " ".join(x.strip() for x in lines[k + 1:k + 3] if x.strip())
            return (line.lstrip("! ") + (" -- " + more if more else ""))[:300]
    return "latexmk exited without a PDF (see its log by building the .tex yourself)"
