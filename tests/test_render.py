"""The lecture notes: golden Markdown and LaTeX, a PDF through the CLI, KaTeX on every formula.

Regenerate the golden files after an intended change of the notes with
``SYMGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py`` and review the diff.
"""
import difflib
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.errors import SymgradError
from symgrad.notes import render as render_mod
from symgrad.notes.description import to_tex as md_to_tex
from symgrad.notes.text import tex_escape, torch_code
from conftest import EXAMPLES, ROOT

GOLDEN = os.path.join(ROOT, "tests", "golden")
UPDATE = os.environ.get("SYMGRAD_UPDATE_GOLDEN") == "1"
KATEX = os.path.join(ROOT, "node_modules", "katex")
HAVE_LATEX = render_mod.have_latex()
needs_latex = pytest.mark.skipif(not HAVE_LATEX, reason="pdflatex not installed")


def derive(name):
    return symgrad.derive(symgrad.load(os.path.join(EXAMPLES, name)))


# --- golden files ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_golden_multi_loss(fmt):
    got = derive("multi_loss.yaml").render(fmt, check=None)
    path = os.path.join(GOLDEN, "multi_loss.%s" % fmt)
    if UPDATE or not os.path.exists(path):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(got)
        if not UPDATE:
            pytest.skip("wrote the missing golden file %s" % path)
    with open(path, encoding="utf-8") as f:
        want = f.read()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            "golden", "now", n=1))
        pytest.fail("notes differ from %s (SYMGRAD_UPDATE_GOLDEN=1 regenerates):\n%s"
                    % (path, diff[:4000]))


def test_render_is_deterministic_across_processes():
    """Hash randomisation must not reorder terms: render in two interpreters."""
    code = ("import symgrad,sys; d=symgrad.derive(symgrad.load(sys.argv[1])); "
            "sys.stdout.write(d.render('md') + d.render('tex'))")
    spec = os.path.join(EXAMPLES, "mlp_tanh.yaml")
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=ROOT)
        outs.append(subprocess.run(["python", "-c", code, spec], env=env, capture_output=True,
                                   text=True, check=True).stdout)
    assert outs[0] == outs[1]


# --- content ----------------------------------------------------------------------------

def test_multi_loss_notes_follow_the_notebook():
    md = derive("multi_loss.yaml").render("md")
    # the numbers, as PyTorch prints them, from the spec's value
    assert "a = tensor([[0.0688, 0.2060, 0.3086, 0.4836]], requires_grad=True)" in md
    assert "b = tensor([[0.0047, 0.0424, 0.0952, 0.2339]], grad_fn=<PowBackward0>)" in md
    assert "on the inputs' `value`s from the spec" in md
    # the forward graph with values and both gradients on its boxes
    assert "```mermaid\nflowchart" in md and "t_c --> t_d" in md
    assert "∂d: [0.0688, 0.2060, 0.3086, 0.4836]" in md and "∂e: all 1.0000" in md
    # the derivation in named adjoints, with shapes and reasons
    assert r"\bar{c} &= \frac{\bar{d}}{4} && \in \mathbb{R}^{1 \times 4} && \text{each entry} \\" in md
    assert r"\bar{a} &= 2 \bar{b} \odot a && \in \mathbb{R}^{1 \times 4} && 1{\times}4\ \checkmark" in md
    assert "`*`: multiply swaps" in md
    # index forms in the appendix
    assert r"c_{ij} &= 2 b_{ij} = 2 a_{ij}^{2}" in md
    assert r"\frac{\partial e}{\partial a_{ij}} &= 4 a_{ij}" in md
    # each backward() step: the backward graph PyTorch builds, what it saved and frees
    step2 = md[md.index("### Step 2"):]
    assert "flowchart BT" in step2 and "MulBackward0 (c)" in step2 and "saved self=a; then frees it" in step2
    # accumulation as the sum it is, in closed form and in numbers
    assert r"a.\mathtt{grad} &= a + 4 a = 5 a" in step2
    assert ("a.grad = tensor([[0.0688, 0.2060, 0.3086, 0.4836]])\n"
            "       + tensor([[0.2752, 0.8240, 1.2344, 1.9344]])\n"
            "       = tensor([[0.3440, 1.0300, 1.5430, 2.4180]])") in step2
    # the one-call alternative, replayed
    assert "`(d + e).backward()`" in md and "Replayed in PyTorch: the same values." in md
    assert "Why `retain_graph=True` in step 1" in md
    assert "Trying to backward through the graph a second time" in md
    assert "`c.retain_grad()`" in md
    # exercises, answers at the end, each proven by the replay
    assert "## 4. Exercises: predict, then run" in md
    answers = md[md.index("Answers to the exercises"):]
    assert answers.count("Proven by") == 4 and "does NOT agree" not in answers


def test_mlp_notes_name_the_adjoints():
    md = derive("mlp_tanh.yaml").render("md")
    # one line per adjoint, in names, with its shape and the shapes that meet
    assert r"\bar{h} &= \overline{\mathit{out}} W_{2}^{\top} && \in \mathbb{R}^{4 \times 5} && " \
           r"\left(4{\times}2\right)\left(2{\times}5\right) \to 4{\times}5\ \checkmark" in md
    assert r"\delta_{h} &= \bar{h} \odot \left(1 - h^{2}\right)" in md
    assert r"\bar{W}_{1} &= x^{\top} \delta_{h}" in md
    assert "(`grad_h_pre` in the code)" in md
    # the layout convention, once
    assert md.count("laid out like") == 1
    # the results as the library states them, in the spec language
    assert "| `x.T @ grad_h_pre` |" in md
    assert "## 3. What PyTorch" not in md        # no schedule: no autograd section


def test_fan_out_is_summed():
    spec = ("inputs: {x: {shape: [3]}}\n"
            "nodes: {y: x*x + sin(x), s: y.sum() + x.sum()}\n")
    md = symgrad.derive(symgrad.loads(spec)).render("md")
    assert r"\bar{x} &\mathrel{+}= \bar{s}" in md
    assert r"\bar{x} &= \bar{s} + \left(\bar{y} \odot \left(2 x + \cos{\left(x \right)}\right)\right)" in md
    assert "their contributions add up" in md


def test_check_table_and_schedule_rows():
    d = derive("multi_loss.yaml")
    report = d.check()
    md = d.render("md", check=report)
    assert "| `dd/da` | cpu | float64 |" in md
    assert "**Verdict: every check passed.**" in md
    tex = d.render("tex", check=report)
    assert r"\subsection*{B. Numeric check}" in tex


def test_markdown_math_blocks_are_well_formed():
    for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
        md = symgrad.derive(symgrad.load(path)).render("md")
        lines = md.splitlines()
        opens = [k for k, l in enumerate(lines) if l == "$$"]
        assert len(opens) % 2 == 0, path
        for a, b in zip(opens[::2], opens[1::2]):
            assert all(l.strip() for l in lines[a + 1:b]), "blank line inside $$ in %s" % path
            assert a == 0 or lines[a - 1] == "", "no blank line before $$ in %s" % path
            assert b + 1 == len(lines) or lines[b + 1] == "", "no blank line after $$ in %s" % path


# --- KaTeX: every formula of the Markdown renders --------------------------------------

KATEX_JS = r"""
const katex = require(process.argv[2]);
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const bad = [];
for (const [tex, display, where] of items) {
  try { katex.renderToString(tex, {displayMode: display, throwOnError: true, strict: 'error'}); }
  catch (e) { bad.push(where + ': ' + e.message + ' in: ' + tex.slice(0, 200)); }
}
console.log(JSON.stringify({n: items.length, bad: bad}));
"""


def run_katex(items, tmp_path, timeout=300):
    """KaTeX's verdict on [tex, display, where] (or [tex, where]: display math) items:
    {"n": how many, "bad": the messages of those that fail}."""
    items = [it if len(it) == 3 else [it[0], True, it[1]] for it in items]
    js = tmp_path / "katex_check.js"
    js.write_text(KATEX_JS)
    p = subprocess.run(["node", str(js), KATEX], input=json.dumps(items), capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def formulas(md):
    """(tex, display) for every $$ block and every inline $...$ outside code."""
    md = re.sub(r"^```.*?^```", "", md, flags=re.S | re.M)
    out = [(m.group(1), True) for m in re.finditer(r"^\$\$\n(.*?)\n\$\$$", md, flags=re.S | re.M)]
    md = re.sub(r"^\$\$\n(.*?)\n\$\$$", "", md, flags=re.S | re.M)
    md = re.sub(r"`[^`\n]*`", "", md)
    out += [(m.group(1), False) for m in re.finditer(r"(?<![\\$])\$([^$\n]+?)\$", md)]
    return out


@pytest.mark.skipif(not shutil.which("node") or not os.path.isdir(KATEX),
                    reason="node or node_modules/katex missing (npm install --no-save katex@0.16)")
def test_every_formula_renders_in_katex(tmp_path):
    items = []
    for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
        d = symgrad.derive(symgrad.load(path))
        name = os.path.basename(path)
        items += [[t, disp, name] for t, disp in formulas(d.render("md"))]
    d = derive("multi_loss.yaml")
    items += [[t, disp, "multi_loss.yaml (checked)"] for t, disp in formulas(d.render("md", check=d.check()))]
    # a description's math: every command the allow-list passes, and < > as the notes write them
    from symgrad.notes.description import MATH_MACROS, md_math
    desc = " ".join("$%s$" % _macro_sample(m) for m in sorted(MATH_MACROS)) + " $a < b > c$"
    d = symgrad.derive(symgrad.loads("description: %s\ninputs: {a: {}}\nnodes: {b: a**2}\n"
                                     % json.dumps(desc)))
    got = [t for t, _ in formulas(d.render("md").split("## 1.")[0])]
    assert len(got) == len(MATH_MACROS) + 1 and md_math("a < b > c") in got
    items += [[t, False, "description"] for t in got]
    res = run_katex(items, tmp_path, timeout=120)
    assert res["n"] > 200
    assert not res["bad"], "\n".join(res["bad"][:20])


def _macro_sample(m):
    """A use of an allowed math command: with its arguments or delimiters."""
    if m in ("frac", "dfrac", "tfrac", "binom", "dbinom", "tbinom"):
        return "\\%s{a}{b}" % m
    if m in ("left", "right", "middle"):
        return "\\left( a \\middle| b \\right)"
    if m.startswith(("big", "Big")) and m.rstrip("lr") in ("big", "Big", "bigg", "Bigg"):
        return "\\%s( a \\%s)" % (m, m.replace("l", "r", 1) if m.endswith("l") else m)
    if m in ("sqrt", "pmod", "operatorname", "overbrace", "underbrace", "overline", "underline",
             "overrightarrow", "overleftarrow", "widehat", "widetilde", "boldsymbol", "text") \
            or m.startswith(("math", "text")) or m in ("hat", "bar", "tilde", "vec", "dot", "ddot",
                                                     "check", "breve", "acute", "grave"):
        return "\\%s{a}" % m
    return "\\%s a" % m


# --- LaTeX and PDF ------------------------------------------------------------------------

@needs_latex
def test_pdf_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = os.path.join(EXAMPLES, "multi_loss.yaml")
    res = CliRunner().invoke(main, ["derive", spec, "-o", "notes.pdf", "--no-check"])
    assert res.exit_code == 0, res.output
    data = (tmp_path / "notes.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20000
    assert b"/CreationDate" not in data and b"/ID [" not in data      # reproducible


@needs_latex
def test_mlp_tex_compiles():
    pdf = render_mod.build_pdf(derive("mlp_tanh.yaml").render("tex"))
    assert pdf.startswith(b"%PDF")


def test_missing_latex_names_the_packages(monkeypatch):
    monkeypatch.setattr(render_mod.shutil, "which", lambda name: None)
    with pytest.raises(SymgradError) as e:
        derive("multi_loss.yaml").render("pdf")
    assert "pdflatex" in str(e.value) and "texlive-latex-recommended texlive-pictures" in str(e.value)


def test_latex_error_is_one_clean_line(monkeypatch):
    if not HAVE_LATEX:
        pytest.skip("pdflatex not installed")
    with pytest.raises(SymgradError) as e:
        render_mod.build_pdf("\\documentclass{article}\\begin{document}$\\undefinedmacro$\\end{document}")
    assert "Undefined control sequence" in str(e.value)


# --- templates: installed with the package, found from anywhere, replaceable --------------

def test_notes_render_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = os.path.join(EXAMPLES, "multi_loss.yaml")
    res = CliRunner().invoke(main, ["derive", spec, "-o", "notes.md", "--no-check"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "notes.md").read_text().startswith("# Two losses, one graph")
    res = CliRunner().invoke(main, ["derive", spec, "-o", "notes.tex", "--no-check"])
    assert res.exit_code == 0, res.output
    assert "\\begin{document}" in (tmp_path / "notes.tex").read_text()


def test_own_template_folder(tmp_path):
    (tmp_path / "notes.md.j2").write_text("{{ n.title }}: {% for c in n.closed_forms %}{{ c.text }};{% endfor %}\n")
    out = derive("multi_loss.yaml").render("md", template_dir=str(tmp_path))
    assert out.strip() == "Two losses, one graph: a;4*a;"
    # the other format still comes from the package
    assert "\\documentclass" in derive("multi_loss.yaml").render("tex", template_dir=str(tmp_path))


def test_template_errors_are_symgrad_errors(tmp_path):
    (tmp_path / "notes.md.j2").write_text("{{ n.no_such_thing }}")
    with pytest.raises(SymgradError):
        derive("multi_loss.yaml").render("md", template_dir=str(tmp_path))
    with pytest.raises(SymgradError):
        derive("multi_loss.yaml").render("md", template_dir=str(tmp_path / "missing"))


def test_templates_ship_with_the_package():
    with open(os.path.join(ROOT, "setup.py")) as f:
        setup = f.read()
    assert '"symgrad.templates": "templates"' in setup
    with open(os.path.join(ROOT, "MANIFEST.in")) as f:
        assert "recursive-include templates *.j2" in f.read()


def test_repr_latex_for_jupyter():
    s = render_mod.repr_latex(derive("multi_loss.yaml"))
    assert s.startswith("$$") and s.endswith("$$")
    assert r"\frac{\partial e}{\partial a} &= 4 a" in s


# --- the text helpers -------------------------------------------------------------------

def test_description_markdown_to_latex():
    tex = md_to_tex("A *small* net: $h = \\tanh(x)$, `a**2` & b² — 50%.\n\n- one\n- two\n")
    assert r"\emph{small}" in tex and r"$h = \tanh(x)$" in tex
    assert r"\texttt{a**2}" in tex and r"\&" in tex and r"\%" in tex
    assert r"\textsuperscript{2}" in tex and "---" in tex
    assert r"\begin{itemize}" in tex and r"\item{} two" in tex
    assert tex_escape("x_1 {y} ~") == r"x\_1 \{y\} \textasciitilde{}"
    assert "[U+4E2D]" in tex_escape("中")


def test_spec_text_as_pytorch_code():
    assert torch_code("tanh(x @ W1 + b1)") == ("torch.tanh(x @ W1 + b1)", False)
    assert torch_code("mse_loss(out, y)") == ("F.mse_loss(out, y)", True)
    assert torch_code("sum(c, dim=0) + c.mean()") == ("torch.sum(c, dim=0) + c.mean()", False)
