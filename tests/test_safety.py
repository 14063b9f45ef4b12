"""No spec can run code or touch files.

Specs are shared in courses, so opening one must be safe.  Each spec below tries a way
to run code (``touch CANARY``) -- YAML object tags, Python builtins, dunder attributes,
injection into the generated module -- and the canary file must never appear: through
the library, and through every command of the CLI.  The parser never evaluates user
text; ``eval``/``exec`` are booby-trapped while specs load to prove it.
"""
import builtins
import os
import warnings

import pytest
from click.testing import CliRunner

import symgrad
from symgrad.cli import main
from symgrad.errors import SpecError

HEAD = "inputs:\n  a: {shape: [3]}\nnodes:\n"
TOUCH = "touch CANARY"

# A node expression that would run `touch CANARY` if anything evaluated it.
EXPRESSIONS = [
    "__import__('os').system('%s')" % TOUCH,
    "a.__class__.__bases__[0].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "open('CANARY', 'w')",
    "exec(\"__import__('os').system('%s')\")" % TOUCH,
    "eval(\"__import__('os').system('%s')\")" % TOUCH,
    "getattr(__builtins__, 'exec')('1')",
    "globals()['__builtins__']",
    "compile('1', 'x', 'eval')",
    "breakpoint()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "(lambda: __import__('os').system('%s'))()" % TOUCH,
    "f\"{__import__('os').system('%s')}\"" % TOUCH,
    "a.sum.__globals__",
    "sum(a).__reduce__()",
    "a.exp().__class__",
    "torch.save(a, 'CANARY')",
    "sum(a, dim=__import__('os').system('%s'))" % TOUCH,
    "ones(__import__('os').system('%s'))" % TOUCH,
    "mse_loss(a, a, reduction=__import__('os').system('%s'))" % TOUCH,
]

# Whole specs: YAML-level attacks, and user text that reaches generated code.
SPECS = [
    "inputs: !!python/object/apply:os.system ['%s']\nnodes: {b: a}\n" % TOUCH,
    "!!python/object/apply:os.system ['%s']\n" % TOUCH,
    "inputs:\n  a: !!python/object/new:os.system ['%s']\nnodes: {b: a}\n" % TOUCH,
    "inputs:\n  a: {shape: !!python/name:os.system }\nnodes: {b: a}\n",
    "inputs:\n  a: {shape: [3]}\nnodes:\n  b: !!python/object/apply:os.system ['%s']\n" % TOUCH,
    "inputs:\n  a: {shape: [3]}\nnodes:\n  b: !!python/module:os\n",
    HEAD + "  b: sum(a)\nbackward:\n  - \"__import__('os').system('%s')\"\n" % TOUCH,
    HEAD + "  b: sum(a)\nbackward:\n  - \"b.backward(gradient=__import__('os').system('%s'))\"\n" % TOUCH,
    HEAD + "  b: sum(a)\nbackward:\n  - \"exec('import os')\"\n",
    HEAD + "  b: sum(a)\nbackward:\n  - \"b.__class__.backward()\"\n",
    "dims: {\"n'); __import__('os').system('%s'); ('\": 3}\n" % TOUCH + HEAD + "  b: sum(a)\n",
    "inputs:\n  \"a'); __import__('os').system('%s'); ('\": {shape: [3]}\nnodes:\n  b: 1\n" % TOUCH,
    HEAD + "  \"b = __import__('os').system('%s')\": sum(a)\n" % TOUCH,
    HEAD + "  b: sum(a)\noutputs: [\"b')); __import__('os').system('%s'); (('\"]\n" % TOUCH,
]

# Valid specs carrying hostile text in free-text fields: they derive, check and compile,
# and the text must stay text (the title goes into the generated module's docstring).
VALID_WITH_HOSTILE_TEXT = [
    pytest.param("title: 'x\"\"\"; __import__(\"os\").system(\"%s\"); \"\"\"'\n" % TOUCH + HEAD
                 + "  b: sum(a**2)\n", id="title-closes-the-docstring"),
    pytest.param("title: \"x\\\\ y\"\n" + HEAD + "  b: sum(a**2)\n", id="title-backslash"),
    "title: \"x\\n__import__('os').system('%s')\\n\"\n" % TOUCH + HEAD + "  b: sum(a**2)\n",
    "title: \"x'''; __import__('os').system('%s'); '''\"\n" % TOUCH + HEAD + "  b: sum(a**2)\n",
    "description: |\n  \"\"\"\n  __import__('os').system('%s')\n  \"\"\"\n" % TOUCH + HEAD + "  b: sum(a**2)\n",
    "title: \"{{ ''.__class__.__mro__ }}{%% for c in [1] %%}{{ c }}{%% endfor %%}\"\n" + HEAD + "  b: sum(a**2)\n",
]


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """Work in a clean folder; afterwards, assert that CANARY never appeared."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "CANARY"
    assert not (tmp_path / "CANARY").exists(), "a spec ran code"


@pytest.fixture
def no_eval(monkeypatch):
    """Booby-trap eval and exec: loading a spec must never call them."""
    symgrad.loads(HEAD + "  b: sum(a)\nbackward:\n  - b.backward()\n")   # import what loading imports
    def trap(*args, **kwargs):
        raise AssertionError("eval/exec called while loading a spec: %r" % (args[:1],))
    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(builtins, "exec", trap)


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_expressions_cannot_run_code(canary, no_eval, expr):
    spec = HEAD + '  b: "%s"\n' % expr.replace("\\", "\\\\").replace('"', '\\"')
    with pytest.raises(SpecError):
        symgrad.loads(spec)


@pytest.mark.parametrize("spec", SPECS)
def test_specs_cannot_run_code(canary, no_eval, spec):
    with pytest.raises(SpecError):
        symgrad.loads(spec)


@pytest.mark.parametrize("spec", SPECS + [HEAD + '  b: "%s"\n' % e.replace('"', '\\"') for e in EXPRESSIONS[:6]])
@pytest.mark.parametrize("command", ["derive", "check", "compile"])
def test_cli_refuses_them_and_writes_nothing(canary, spec, command):
    path = canary.parent / "spec.yaml"
    path.write_text(spec)
    args = [command, str(path)] + (["-o", "out.py"] if command == "compile" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("symgrad: error: "), result.stderr
    assert sorted(os.listdir(canary.parent)) == ["spec.yaml"]


@pytest.mark.parametrize("spec", VALID_WITH_HOSTILE_TEXT)
def test_hostile_text_in_valid_specs_stays_text(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    d = symgrad.derive(symgrad.load(str(path)))
    source = d.module_source()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # e.g. an invalid escape from a backslash
        compile(source, "generated", "exec")                # still valid Python
    assert d.check().passed                                 # executes the generated module
    assert not (tmp_path / "CANARY").exists(), "the spec ran code"
    for fmt in ("md", "tex"):
        d.render(fmt)
    d.to_json()
    for command in (["derive", str(path), "-o", "notes.md"], ["compile", str(path), "-o", "mod.py"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, result.output
    import importlib.util
    spec_ = importlib.util.spec_from_file_location("mod", str(tmp_path / "mod.py"))
    mod = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(mod)                           # importing the written module is safe too
    assert mod.INPUTS == ("a",)
    assert not (tmp_path / "CANARY").exists(), "the spec ran code"


def test_specs_never_touch_files_other_than_the_output(canary):
    spec = canary.parent / "spec.yaml"
    spec.write_text(HEAD + "  b: sum(a**2)\n")
    before = spec.stat().st_mtime_ns
    result = CliRunner().invoke(main, ["derive", str(spec), "-o", "notes.json"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(canary.parent)) == ["notes.json", "spec.yaml"]
    assert spec.stat().st_mtime_ns == before


def test_yaml_is_never_constructed_with_an_unsafe_loader(monkeypatch):
    import yaml
    for unsafe in ("load", "unsafe_load", "full_load", "load_all"):
        monkeypatch.setattr(yaml, unsafe, lambda *a, **k: pytest.fail("yaml.%s used" % unsafe))
    assert symgrad.loads(HEAD + "  b: sum(a)\n").nodes[0].name == "b"


def test_notes_cannot_read_local_files(tmp_path):
    """TeX in a description is text: \\input of a local file never reaches the PDF."""
    import shutil
    if not shutil.which("latexmk"):
        pytest.skip("no TeX Live")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    spec = ("description: \"$\\\\input{%s}$ and $^^5cinput{%s}$\"\n" % (secret, secret) + HEAD
            + "  b: sum(a**2)\n")
    import symgrad
    d = symgrad.derive(symgrad.loads(spec))
    tex = d.render("tex")
    assert "\\input{" not in tex.replace("\\backslash\\mathrm{input}", "")
    pdf = d.render("pdf")
    import subprocess
    if shutil.which("pdftotext"):
        (tmp_path / "n.pdf").write_bytes(pdf)
        text = subprocess.run(["pdftotext", str(tmp_path / "n.pdf"), "-"], capture_output=True, text=True).stdout
        assert "TOPSECRET" not in text
