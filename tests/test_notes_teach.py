"""Notes that teach (issue 15): numbers, both graphs, exercises, a web page, and a page budget.

* Numbers: values as PyTorch prints them, from ``value:`` or the check's seeded draw (and
  the listing draws the same ones).
* The web page (``-o notes.html``): one self-contained file -- MathML, inline SVG, one fixed
  style sheet, nothing to fetch, no script -- looked at in headless Chromium; Jupyter's
  ``_repr_html_`` shows the same content.  Hostile specs stay inert in it.
* Layout: no overfull box over 10pt in any example's ``.tex``, the MLP's PDF within its page
  budget, no summation index named like a dim.
* Scale: notes of a 40-node elementwise chain render in seconds.
"""
import glob
import html.parser
import os
import re
import shutil
import subprocess
import time

import pytest
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.notes.html import STYLE
from symgrad.notes.mathml import mathml, unknown_commands
from conftest import EXAMPLES

CHROMIUM = next((c for c in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "", shutil.which("google-chrome") or "")
                 if c and os.path.exists(c)), None)
HAVE_PDFLATEX = bool(shutil.which("pdflatex"))
needs_pdflatex = pytest.mark.skipif(not HAVE_PDFLATEX, reason="pdflatex not installed")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
SPECS = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))


def derive(name):
    return symgrad.derive(symgrad.load(os.path.join(EXAMPLES, name)))


# --- numbers -----------------------------------------------------------------------------------

def test_numbers_come_from_the_spec_values_or_the_seeded_draw():
    md = derive("multi_loss.yaml").render("md")
    assert "on the inputs' `value`s from the spec" in md
    assert "b.grad = tensor([[0.5000, 0.5000, 0.5000, 0.5000]])" in md      # the notebook's
    md = derive("mlp_tanh.yaml").render("md")
    assert "drawn with seed 0 from each input's domain" in md
    md = derive("zero_grad.yaml").render("md")
    assert "gen = torch.Generator().manual_seed(0)   # the inputs symgrad's check draws" in md


def test_the_listing_reproduces_the_numbers_of_the_notes():
    """Run the PyTorch listing the notes print: it computes the values they show."""
    torch = pytest.importorskip("torch")
    d = derive("zero_grad.yaml")
    from symgrad.notes.listing import pytorch_listing
    from symgrad.notes.numbers import fmt, numbers
    num = numbers(d)
    ns = {}
    exec(compile(pytorch_listing(d, num), "<listing>", "exec"), ns)   # our own generated code
    torch.set_default_dtype(torch.float32)
    assert torch.equal(ns["w"].detach(), num.forward["w"]) and torch.equal(ns["x"], num.forward["x"])
    assert fmt(ns["w"].grad) == fmt(num.steps[-1]["w"])


def test_large_values_print_as_the_listing_prints_them():
    """A summarized .grad in the notes is what ``print`` shows after the listing's own
    ``torch.set_printoptions`` (no corner-only summary of the notes' own making)."""
    torch = pytest.importorskip("torch")
    d = derive("lstm_cell.yaml")
    from symgrad.notes.listing import pytorch_listing
    from symgrad.notes.numbers import fmt, numbers
    num = numbers(d)
    code = pytorch_listing(d, num)
    assert "torch.set_printoptions(threshold=16, edgeitems=2)   # as the notes print values" in code
    saved = torch._tensor_str.PRINT_OPTS.__dict__.copy()
    ns = {}
    try:
        exec(compile(code + "L.backward()\nshown = repr(W_ih.grad)\n", "<listing>", "exec"), ns)
    finally:
        torch.set_default_dtype(torch.float32)
        torch._tensor_str.PRINT_OPTS.__dict__.update(saved)
    assert "..." in ns["shown"] and ns["shown"] == fmt(ns["W_ih"].grad)
    assert ns["shown"].count("\n") == 4                   # two rows, "...", two rows


def test_numbers_are_unavailable_without_dim_values():
    d = symgrad.derive(symgrad.loads("dims: {n: null}\ninputs: {a: {shape: [n]}}\nnodes: {b: sum(a**2)}\n"))
    md = d.render("md")
    assert "The notes show no numbers here" in md and "dim 'n' has no value" in md


# --- exercises -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["multi_loss.yaml", "multi_loss_no_retain.yaml", "zero_grad.yaml",
                                  "non_leaf.yaml", "detach.yaml", "vector_jacobian.yaml", "mlp_tanh.yaml"])
def test_every_exercise_is_proven_by_the_replay(name):
    from symgrad.notes.exercises import exercises
    from symgrad.notes.numbers import numbers
    d = derive(name)
    found = exercises(d, numbers(d))
    assert 2 <= len(found) <= 4
    assert all(x["passed"] is True for x in found), [x["answer"] for x in found if not x["passed"]]


def test_a_wrong_prediction_is_not_called_proven():
    """The proof compares: a closed form that PyTorch does not reproduce fails it."""
    import sympy
    from symgrad.notes.numbers import numbers
    d = derive("multi_loss.yaml")
    num = numbers(d)
    a = d.problem.tensors["a"]
    assert num.agrees(5 * a, num.steps[1]["a"])[0]
    assert not num.agrees(sympy.Integer(4) * a, num.steps[1]["a"])[0]


# --- the web page ----------------------------------------------------------------------------------

HTML_TAGS = {"html", "head", "body", "meta", "title", "style", "div", "h1", "h2", "h3", "h4", "h5", "h6",
             "p", "em", "strong", "code", "pre", "ul", "ol", "li", "a", "br", "table", "thead", "tbody",
             "tr", "th", "td"}
SVG_TAGS = {"svg", "defs", "marker", "path", "rect", "text"}
MATHML_TAGS = {"math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msub",
               "msup", "msubsup", "munder", "mover", "munderover", "mfrac", "msqrt", "mroot", "mtable",
               "mtr", "mtd", "mstyle", "menclose"}


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.styles, self._in_style = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def assert_inert_page(page):
    """Only the notes' own tags; links only to http(s); no script, no event, nothing fetched."""
    p = _Page()
    p.feed(page)
    for tag, attrs in p.tags:
        assert tag in HTML_TAGS | SVG_TAGS | MATHML_TAGS, "unexpected <%s> %r" % (tag, attrs)
        for k, v in attrs.items():
            assert not k.startswith("on"), "event handler %s=%r" % (k, v)
            assert "javascript" not in (v or "").lower().replace("\\", ""), (tag, k, v)
            if k == "href":
                assert tag == "a" and re.match(r"https?://", v or ""), "link to %r" % v
            assert k not in ("src", "srcdoc", "xlink:href", "formaction", "action", "background"), (tag, k, v)
            if k == "marker-end":
                assert re.fullmatch(r"url\(#[\w-]+\)", v), v          # the page's own marker
    assert p.styles == [STYLE], "a style sheet other than the notes' own"
    return p


@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_html_notes_are_one_self_contained_page(path):
    d = symgrad.derive(symgrad.load(path))
    page = d.render("html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    p = assert_inert_page(page)
    tags = [t for t, _ in p.tags]
    assert tags.count("math") > 5 and "svg" in tags
    # the same content as the Markdown: every section, every step, every exercise
    md = d.render("md")
    for heading in re.findall(r"^##+ (?:\d+(?:\.\d+)?\. )?(.*)$", md, re.M):
        plain = re.sub(r"\$[^$]*\$|`", "", heading).strip(" .")
        if plain and not plain.startswith(("From", "Step")):
            assert plain.split(" (")[0] in html.unescape(page), heading


def test_jupyter_shows_the_same_html_content():
    d = derive("multi_loss.yaml")
    frag = d._repr_html_()
    page = d.render("html")
    assert "<html" not in frag and "<style>" in frag
    body = page[page.index('<div class="sg">'):page.rindex("</div>") + 6]
    assert frag.replace("<style>" + STYLE + "</style>\n", "").strip() == body.strip()
    assert_inert_page(frag)


def test_html_through_the_cli(tmp_path):
    spec = os.path.join(EXAMPLES, "multi_loss.yaml")
    res = CliRunner().invoke(main, ["derive", spec, "-o", str(tmp_path / "notes.html")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "notes.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Numeric check" in page


@pytest.mark.parametrize("payload", ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>",
                                     "[click](javascript:alert(1))", "</style><script>alert(1)</script>",
                                     "<svg/onload=alert(1)>", "$<img src=x onerror=alert(1)>$ `<a href=x>`",
                                     "</math><script>alert(1)</script>", "```\n</pre><script>x</script>\n```"])
def test_html_notes_hold_no_live_html_from_a_spec(payload):
    from test_notes_safety import hostile_spec
    d = symgrad.derive(symgrad.loads(hostile_spec(payload)))
    assert_inert_page(d.render("html", check=d.check()))
    assert_inert_page(d._repr_html_())


def test_mathml_holds_only_escaped_text():
    out = mathml(r"\text{</annotation><script>} x^{<b>} \frac{a}{\href{javascript:x}{y}}", display=True)
    assert "<script" not in out and "<b>" not in out and 'href="' not in out
    p = _Page()
    p.feed(out)
    assert {t for t, _ in p.tags} <= MATHML_TAGS


@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_mathml_knows_every_command_the_notes_print(path):
    from test_render import formulas
    d = symgrad.derive(symgrad.load(path))
    unknown = {c for f, _ in formulas(d.render("md")) for c in unknown_commands(f)}
    assert not unknown, unknown


@needs_chromium
def test_the_web_page_renders_in_chromium(tmp_path):
    """Headless Chromium lays the page out: the numbers and the closed forms are visible text."""
    d = derive("multi_loss.yaml")
    page = tmp_path / "notes.html"
    page.write_text(d.render("html", check=d.check()), encoding="utf-8")
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=%s" % (tmp_path / "profile")]
    shot = tmp_path / "shot.png"
    subprocess.run(base + ["--window-size=1000,1400", "--screenshot=%s" % shot, page.as_uri()],
                   capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 30000           # a page, not a blank
    if not shutil.which("pdftotext"):
        return
    pdf = tmp_path / "page.pdf"
    subprocess.run(base + ["--no-pdf-header-footer", "--print-to-pdf=%s" % pdf, page.as_uri()],
                   capture_output=True, timeout=120)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    flat = " ".join(text.split())
    assert "tensor([[0.3440, 1.0300, 1.5430, 2.4180]])" in flat          # numbers, as PyTorch prints
    assert re.search(r"= 5\s*a", flat)                                    # a closed form, as MathML
    assert "Trying to backward through the graph a second time" in flat


# --- layout -------------------------------------------------------------------------------------

def _pdflatex(tex, folder, runs=1):
    (folder / "notes.tex").write_text(tex, encoding="utf-8")
    for _ in range(runs):
        p = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "notes.tex"],
                           cwd=str(folder), capture_output=True, timeout=120)
        assert p.returncode == 0, p.stdout[-2000:]
    return (folder / "notes.log").read_text(encoding="latin-1")


@needs_pdflatex
@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_no_overfull_box_over_10pt(path, tmp_path):
    d = symgrad.derive(symgrad.load(path))
    log = _pdflatex(d.render("tex"), tmp_path)
    over = [float(x) for x in re.findall(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)", log)]
    assert not [x for x in over if x > 10], over


def _pages(pdf_path):
    out = subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", out).group(1))


@needs_pdflatex
@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_the_mlp_fits_its_page_budget(tmp_path):
    """The 3-layer MLP: the body in at most 4 pages, the whole PDF (with the check) in 6."""
    d = derive("mlp_leaves.yaml")
    (tmp_path / "notes.pdf").write_bytes(d.render("pdf", check=d.check()))
    total = _pages(tmp_path / "notes.pdf")
    assert total <= 6
    for page in range(1, total + 1):
        text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(tmp_path / "notes.pdf"), "-"],
                              capture_output=True, text=True).stdout
        if "Appendix" in text:
            before = [l for l in text[:text.index("Appendix")].splitlines() if l.strip()]
            body = page if before else page - 1
            break
    else:
        pytest.fail("no appendix")
    assert body <= 4, "the body takes %d pages" % body


def test_no_summation_index_is_named_like_a_dim():
    md = derive("softmax_cross_entropy.yaml").render("md")       # dims n, d, k
    index = md[md.index("### A. Index notation"):]
    assert not re.search(r"\\sum_\{[^}]*[ndk]", index)
    assert not re.search(r"_\{[^}]*\b[kdn]\b", index.replace(r"\times", ""))
    assert r"z_{ij} &= \left(\sum_{l} x_{il} W_{lj}\right) + b_{j}" in index


def test_opening_quotes_open():
    d = symgrad.derive(symgrad.loads('description: She said "stop" and \'go\'.\ninputs: {a: {}}\nnodes: {b: a**2}\n'))
    tex = d.render("tex")
    assert "``stop''" in tex and "`go'" in tex


def test_dashes_in_markdown_titles():
    d = derive("mlp_leaves.yaml")
    assert d.render("md").startswith("# A small MLP – layer weights are leaves")


# --- scale ------------------------------------------------------------------------------------------

def chain_spec(n):
    """An elementwise chain of n nodes: h_k = h_{k-1} x + tanh(h_{k-1})."""
    lines = ["inputs:", "  x: {shape: [3]}", "nodes:", "  h1: sin(x)"]
    lines += ["  h%d: h%d*x + tanh(h%d)" % (k, k - 1, k - 1) for k in range(2, n)]
    lines.append("  L: sum(h%d)" % (n - 1))
    return "\n".join(lines) + "\n"


def test_notes_of_a_40_node_chain_render_in_seconds():
    d = symgrad.derive(symgrad.loads(chain_spec(40)))
    d.render("md")                                  # warm: torch's import and caches
    t = time.time()
    md = d.render("md")
    took = time.time() - t
    assert took < 30, "%.1f s" % took             # generous: a loaded machine; bench/notes_scaling.py measures
    assert md.count(r"\bar{h}_{") > 30
