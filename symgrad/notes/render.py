"""Rendering: a `Derivation` as lecture notes in Markdown, LaTeX or PDF.

The content is built once, format-neutral, by ``symgrad.notes.content``; three jinja2
templates lay it out (``notes.md.j2``, ``notes.html.j2``, and ``notes.tex.j2`` with
LaTeX-safe delimiters ``\\VAR{...}``, ``\\BLOCK{...}``, ``\\#{...}``).  The templates ship inside the package
(``symgrad/templates`` when installed, the repository's ``templates/`` in a checkout);
``template_dir`` (the CLI's ``--template DIR``) puts a folder of your own first, so
you may override one template and keep the other.  A template is code (jinja2 runs
Python through it): pass only folders you trust.  A broken one is a `SymgradError`
naming its file and line.

Escaping is explicit and per format: every ``{{ }}`` of the shipped templates ends in one
of `OUTPUT_FILTERS` -- ``e`` (text), ``title``, ``code``, ``code_cell``, ``fence``, ``pre``,
``verbatim``, ``description``, ``rich`` (prose segments), ``math``/``imath`` (LaTeX that
symgrad's printers wrote: as it is for Markdown and LaTeX, as MathML for HTML), and the
HTML drawing's fixed colours ``fill``/``stroke``/``ink`` -- and a test holds them to it.
Jinja2's autoescape is off: the filters escape for each format themselves.

A PDF is the LaTeX notes run through ``pdflatex`` (until its references settle) in a
temporary folder that is always removed; pdflatex runs in its own process group, which is
killed on a timeout (a few seconds, more for long notes), on Ctrl-C, and on SIGTERM or
SIGHUP, which are then delivered as usual.  Output is deterministic: the same spec gives
byte-identical Markdown and LaTeX, and the PDF is built with ``SOURCE_DATE_EPOCH`` and
without a trailer ID, so it is identical too.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import jinja2

from ..errors import SymgradError, one_line

FORMATS = ("md", "tex", "pdf", "html")
TEMPLATES = {"md": "notes.md.j2", "tex": "notes.tex.j2", "html": "notes.html.j2"}
TEX_PACKAGES = "texlive-latex-recommended texlive-pictures"
EPOCH = "946684800"          # 2000-01-01: the date a reproducible PDF claims
OUTPUT_FILTERS = ("e", "title", "code", "code_cell", "fence", "verbatim", "description", "rich", "math",
                  "imath", "mathcell", "yesno", "pdfstring", "pre", "fill", "stroke", "ink", "stylesheet")


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
    from . import description as rd
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
        env.filters.update({
            "e": rt.tex_escape, "rich": lambda r: r.tex(), "code": rt.tex_code,
            "code_cell": rt.tex_code, "verbatim": rt.tex_verbatim, "description": rd.to_tex,
            "pdfstring": rt.tex_pdfstring})
        env.filters["math"] = env.filters["mathcell"] = str     # symgrad's LaTeX, as it is
        env.filters["title"] = rt.tex_escape
    elif fmt == "html":
        from . import html as rh
        env = jinja2.Environment(**common)
        env.filters.update({
            "e": rh.html_escape, "title": lambda s: rh.html_escape(rt.dashes(s)), "rich": rh.html_rich,
            "code": rh.html_code, "code_cell": rh.html_code, "pre": rh.html_pre, "fence": rh.html_pre,
            "description": rd.to_html, "math": rh.html_math, "imath": rh.html_imath, "mathcell": rh.html_imath,
            "fill": rh.svg_fill, "stroke": rh.svg_stroke, "ink": rh.svg_text_color,
            "stylesheet": rh.stylesheet})
    else:
        env = jinja2.Environment(**common)
        env.filters.update({
            "e": rt.md_escape, "title": lambda s: rt.md_escape(rt.dashes(s)), "rich": lambda r: r.md(),
            "code": rt.md_code, "code_cell": rt.md_code_cell, "cell": rt.md_cell, "fence": rt.md_fence,
            "description": rd.to_markdown, "mathcell": rt.md_math_cell})
        env.filters["math"] = str           # LaTeX written by symgrad's printers, as it is
    env.filters["yesno"] = lambda b: "yes" if b else "no"
    return env


def render(derivation, fmt="md", check=None, template_dir=None, standalone=True, numbers=True):
    """The notes of a derivation: str for ``md``, ``tex`` and ``html``, bytes for ``pdf``.
    ``standalone=False`` gives the HTML without its page around it (Jupyter's display);
    ``numbers=False`` runs no PyTorch (``--no-check``): the notes then show no values."""
    if fmt not in FORMATS:
        raise SymgradError("unknown notes format %r (md, tex, pdf or html)" % fmt)
    if fmt == "pdf":
        return build_pdf(render(derivation, "tex", check, template_dir, numbers=numbers), spec_sources(derivation))
    from .content import notes
    ctx = notes(derivation, check, numbers)
    env = environment(fmt, template_dir)
    try:
        out = env.get_template(TEMPLATES[fmt]).render(n=ctx, standalone=standalone)
    except Exception as e:                  # a template is code: any error is its author's
        raise template_error(e, env, TEMPLATES[fmt]) from None
    if fmt == "tex":
        from .text import tex_short_lines
        out = tex_short_lines(out)
    return out


def template_error(e, env, name):
    """A template's error as one line: ``template FILE:LINE: what``."""
    where = getattr(e, "filename", None)
    line = getattr(e, "lineno", None) if isinstance(e, jinja2.TemplateSyntaxError) else None
    if not where or not line:
        # a runtime error: the innermost frame that runs a template file (jinja2 gives it
        # the template's file name and line)
        roots = tuple(os.path.join(d, "") for d in getattr(env.loader, "searchpath", ()))
        tb = e.__traceback__
        while tb is not None:
            f = tb.tb_frame.f_code.co_filename
            if f.startswith(roots):
                where, line = f, tb.tb_lineno
            tb = tb.tb_next
    if not where:
        where = next((os.path.join(d, name) for d in env.loader.searchpath
                      if os.path.isfile(os.path.join(d, name))), name)
    if isinstance(e, UnicodeDecodeError) and not line:
        line = 1
    what = str(e) if isinstance(e, jinja2.TemplateError) and not isinstance(e, jinja2.TemplateNotFound) \
        else "%s: %s" % (type(e).__name__, e)
    if isinstance(e, jinja2.TemplateNotFound):
        what = "no template %s in %s" % (e.name, ", ".join(env.loader.searchpath))
    return SymgradError(one_line("template %s%s: %s" % (where, ":%d" % line if line else "",
                                                      (what.splitlines() or [""])[0][:300])))


def repr_latex(derivation):
    """For Jupyter's ``_repr_latex_``: the closed forms as one display formula, in matrix and
    index notation side by side.  Notebook front ends show the Markdown notes
    (``_repr_markdown_``); nbconvert's LaTeX and PDF exports prefer this one."""
    from .content import closed_forms_latex
    rows = ["%s &= %s &\\qquad %s &= %s" % c for c in closed_forms_latex(derivation)]
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


def repr_html(derivation):
    """For Jupyter's ``_repr_html_``: the HTML notes without their page (the same content as
    ``-o notes.html``); never raises -- the summary, escaped, if the notes fail."""
    try:
        return render(derivation, "html", derivation._check, standalone=False)
    except Exception:
        from .html import html_pre
        return html_pre(derivation.summary())


# --- PDF ---------------------------------------------------------------------------

PDFLATEX = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
            "-no-shell-escape", "notes.tex"]
MAX_RUNS = 4                 # pdflatex runs until references settle (longtable, hyperref)
RERUN = re.compile(r"Rerun to get|Rerun LaTeX|Label\(s\) may have changed|Table widths have changed")
# One run may take TIMEOUT_S seconds, and one more per TIMEOUT_BYTES of LaTeX: a run of the
# notes takes about a second, so a TeX loop (a bug: spec text cannot write TeX) ends in seconds.
TIMEOUT_S = 10
TIMEOUT_BYTES = 20000


def have_latex():
    return bool(shutil.which("pdflatex"))


def pdf_timeout(tex_source):
    """Seconds one pdflatex run of these notes may take."""
    return TIMEOUT_S + len(tex_source) // TIMEOUT_BYTES


def build_pdf(tex_source, sources=()):
    """Compile LaTeX notes with pdflatex in a temporary folder; return the PDF.

    sources: (what, [LaTeX fragment]) for the spec's fields, so that an error can say
    which field it is in."""
    if not have_latex():
        raise SymgradError("PDF notes need pdflatex (TeX Live); on Debian or Ubuntu: "
                           "apt-get install %s -- or write .tex or .md notes instead" % TEX_PACKAGES)
    env = dict(os.environ)
    env.update({"SOURCE_DATE_EPOCH": env.get("SOURCE_DATE_EPOCH", EPOCH), "FORCE_SOURCE_DATE": "1",
                "TZ": "UTC",
                # belt and braces: spec text cannot write TeX, and this run cannot read or
                # write files outside its folder, nor run programs
                "openin_any": "p", "openout_any": "p", "shell_escape": "f"})
    timeout = pdf_timeout(tex_source)
    with _signals_interrupt():
        try:
            tmp = tempfile.mkdtemp(prefix="symgrad-pdf-")
        except OSError as e:
            raise SymgradError("cannot build the PDF: no temporary folder (%s)" % (e.strerror or e))
        try:
            with open(os.path.join(tmp, "notes.tex"), "w", encoding="utf-8") as f:
                f.write(tex_source)
            for _ in range(MAX_RUNS):
                rc = _run_tex(tmp, env, timeout)
                log = _read(os.path.join(tmp, "notes.log"))
                if rc != 0 or not os.path.exists(os.path.join(tmp, "notes.pdf")):
                    raise SymgradError(_latex_error(log, tex_source, sources))
                if not RERUN.search(log):
                    break
            with open(os.path.join(tmp, "notes.pdf"), "rb") as f:
                return f.read()
        except OSError as e:                 # e.g. a full disk
            raise SymgradError("cannot build the PDF: %s" % (e.strerror or e)) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_tex(folder, env, timeout):
    """One pdflatex run in its own process group; the group is killed on any way out."""
    try:
        proc = subprocess.Popen(PDFLATEX, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as e:
        raise SymgradError("cannot run pdflatex: %s" % (e.strerror or e))
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SymgradError("pdflatex took more than %d s on the notes (a TeX loop?); write .tex "
                           "and build it yourself" % timeout) from None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:                      # the group is gone: pdflatex ended on its own
            pass
        proc.wait()


class _Signalled(BaseException):
    """SIGTERM or SIGHUP arrived while a PDF was building (a BaseException, like Ctrl-C)."""


@contextlib.contextmanager
def _signals_interrupt():
    """While a PDF builds, SIGTERM and SIGHUP interrupt like Ctrl-C, so that the temporary
    folder and pdflatex are cleaned up; afterwards the signal is delivered as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []

    def interrupt(signum, frame):
        if not got:                          # once: a second signal must not stop the cleanup
            got.append(signum)
            raise _Signalled()

    old = {}
    try:
        for s in (signal.SIGTERM, signal.SIGHUP):
            old[s] = signal.signal(s, interrupt)
        yield
    except _Signalled:
        pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if got:
        os.kill(os.getpid(), got[0])         # as it would have been, now that all is clean
        raise SymgradError("the PDF build was interrupted (signal %d)" % got[0])


def _read(path):
    try:
        with open(path, encoding="latin-1") as f:
            return f.read()
    except OSError:
        return ""


def _latex_error(log, tex, sources):
    """The first LaTeX error of the log on one line, and the spec field it is in."""
    lines = log.splitlines()
    for k, line in enumerate(lines):
        m = re.match(r"^(?:\S*\.tex:(\d+): |! )(.*)", line)
        if m:
            more = " ".join(x.strip() for x in lines[k + 1:k + 3] if x.strip())
            what = (m.group(2) + (" -- " + more if more else ""))[:300]
            at = int(m.group(1)) if m.group(1) else None
            field = _field_at(tex, at, sources) if at else None
            where = " in %s" % field if field else (" at line %d of the .tex" % at if at else "")
            return one_line("pdflatex failed on the notes%s: %s" % (where, what))
    if "Unable to read an entire line" in log:
        return "pdflatex failed on the notes: a line of the .tex is too long"
    return "pdflatex exited without a PDF (build the .tex yourself to see its log)"


def _field_at(tex, line, sources):
    """Which spec field's LaTeX covers the given (1-based) line of the .tex."""
    for what, fragments in sources:
        for frag in fragments:
            if not frag or len(frag) < 3:
                continue
            k = tex.find(frag)
            while k >= 0:
                first = tex.count("\n", 0, k) + 1
                if first <= line <= first + frag.count("\n"):
                    return what
                k = tex.find(frag, k + 1)
    return None


def spec_sources(d):
    """The spec's free-text fields and the LaTeX each becomes in the notes."""
    from .description import to_tex
    from .content import TITLE_MAX, definition
    from .text import ellipsize, tex_code, tex_escape, tex_pdfstring
    prob = d.problem
    out = [("the title", [tex_escape(ellipsize(d.title, TITLE_MAX)), tex_pdfstring(d.title)]),
           ("the description", [to_tex(prob.description or "")])]
    for n in prob.nodes:
        out.append(("node '%s'" % n.name, [tex_code(definition(n.text))]))
    for k, b in enumerate(prob.backward or (), 1):
        out.append(("backward step %d" % k, [tex_code(b.call)]))
    return out
