"""The command line: thin commands over the library (SPEC §4).

Each command is a few library calls; every `SymgradError` becomes one line on stderr
(``symgrad: error: FILE:LINE:COL: message``) and exit status 2, a failed check exit 1.
Outputs are written to a temporary file and renamed only after everything succeeded.
torch is imported only when a check or a compiled module needs it.
"""
import os
import sys
import tempfile
import traceback

import click

from .errors import SymgradError, SpecError, one_line
from .version import __version__

FORMATS = ("text", "json", "md", "tex", "pdf")
SUFFIX_FORMAT = {".md": "md", ".markdown": "md", ".tex": "tex", ".pdf": "pdf", ".json": "json",
                 ".txt": "text"}


class Fail(Exception):
    def __init__(self, code):
        self.code = code


def _run(fn, debug):
    try:
        code = fn()
    except Fail as f:
        code = f.code
    except SymgradError as e:          # bad input or usage: one line, no traceback
        _error(e)
        code = 2
    except KeyboardInterrupt:
        click.echo("symgrad: interrupted", err=True)
        code = 130
    except Exception as e:            # a bug: still one clean line
        _internal(e, debug)
        code = 2
    sys.exit(code or 0)


def _error(e, prefix=""):
    click.echo(one_line("symgrad: error: %s%s" % (prefix, e)), err=True)


def _internal(e, debug, prefix=""):
    if debug:
        traceback.print_exc()
    first = (str(e).splitlines() or [""])[0]
    click.echo(one_line("symgrad: internal error: %s%s: %s (please report it; --debug shows the traceback)"
                        % (prefix, type(e).__name__, first[:300])), err=True)


def _dims(values):
    out = {}
    for v in values:
        name, sep, num = v.partition("=")
        num = num.strip()
        if not sep or not name.strip() or not num.isdigit() or not 0 < int(num) <= 10 ** 9:
            raise SymgradError("--dim: expected NAME=N with a positive integer N (at most 10**9), got %r" % v)
        out[name.strip()] = int(num)
    return out


def write_atomic(path, data, spec_path=None):
    """Write bytes or text to path via a temporary file in the same folder.

    The file appears (by an atomic rename) only once all of it is written, so a failure
    leaves no output and no half-written file; it never replaces the spec itself.
    """
    specs = spec_path if isinstance(spec_path, (list, tuple)) else [spec_path]
    for spec in specs:
        if spec and os.path.exists(path) and os.path.exists(spec) and os.path.samefile(path, spec):
            raise SymgradError("refusing to overwrite the spec itself: %s" % path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SymgradError("cannot write %s: no such folder" % path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".symgrad-", dir=folder)
    except OSError as e:
        raise SymgradError("cannot write %s: %s" % (path, e.strerror or e))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)        # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except OSError as e:
        _unlink(tmp)
        raise SymgradError("cannot write %s: %s" % (path, e.strerror or e))
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


common_check = [
    click.option("--device", type=click.Choice(["cpu", "cuda", "auto", "all"]), default="cpu",
                 show_default=True, help="where the numeric check runs"),
    click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
                 show_default=True),
    click.option("--seed", type=int, default=0, show_default=True, help="seed of the random inputs"),
    click.option("--dim", "dim", multiple=True, metavar="NAME=N", help="value of a symbolic dim"),
    click.option("--debug", is_flag=True, help="show tracebacks of internal errors"),
]


def with_options(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symgrad")
def main():
    """symgrad: closed-form gradients from a YAML spec, checked against PyTorch."""


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, metavar="NAME=SHAPE[:long:HIGH]",
              help="with SPEC = FILE.py:NAME: an argument of the traced code (see `symgrad trace`)")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), help="write notes/report (.md .tex .pdf .json)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="what to print (default text)")
@click.option("--check/--no-check", default=True, show_default=True, help="validate numerically against autograd")
@click.option("--template", "template_dir", type=click.Path(file_okay=False), help="folder with your own templates")
@with_options(common_check)
def derive(spec, inputs, out, fmt, check, template_dir, device, dtype, seed, dim, debug):
    """Derive every closed-form gradient of SPEC (a YAML spec, or FILE.py:NAME traced as by `symgrad trace`)."""
    def go():
        from . import derive as derive_
        dims = _dims(dim)
        problem = _spec_or_code(spec, inputs)
        d = derive_(problem)
        report = None
        if check:
            report = d.check(device=device, dtype=dtype, seed=seed, dims=dims)
        out_fmt = None
        if out:
            out_fmt = fmt if fmt not in (None, "text") else SUFFIX_FORMAT.get(os.path.splitext(out)[1].lower())
            if out_fmt is None:
                raise SymgradError("cannot tell the format of %s: use .md, .tex, .pdf or .json (or --format)" % out)
            data = _render(d, out_fmt, report, template_dir)
            write_atomic(out, data, spec)
            click.echo(d.summary(report), nl=False)
            click.echo("wrote %s" % out)
        else:
            show = fmt or "text"
            if show == "pdf":
                raise SymgradError("--format pdf needs -o FILE.pdf")
            data = _render(d, show, report, template_dir)
            click.echo(data, nl=False)
        if report is not None and not report.passed:
            raise Fail(1)
        return 0
    _run(go, debug)


def _render(d, fmt, report, template_dir):
    if fmt == "text":
        return d.summary(report)
    if fmt == "json":
        return d.to_json(report)
    return d.render(fmt, check=report, template_dir=template_dir)


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--fd", is_flag=True, help="also compare with finite differences (gradcheck)")
@with_options(common_check)
def check(specs, fd, device, dtype, seed, dim, debug):
    """Validate the closed forms of each SPEC numerically (one line per gradient)."""
    from .report import row_line

    def go():
        from . import load, derive as derive_
        from .check import resolve_devices
        dims = _dims(dim)
        resolve_devices(device)            # no GPU for --device cuda: one error, up front
        if dims:                           # a --dim no spec has is a usage mistake
            known = set()
            for spec in specs:
                try:
                    known |= set(load(spec).dims)
                except SymgradError:
                    pass
            unknown = sorted(set(dims) - known)
            if unknown:
                raise SymgradError("--dim %s: no spec given has a dim '%s'" % (unknown[0], unknown[0]))
        worst = 0
        for spec in specs:
            try:
                problem = load(spec)
                d = derive_(problem)
                own = {k: v for k, v in dims.items() if k in problem.dims}
                report = d.check(device=device, dtype=dtype, seed=seed, fd=fd, dims=own)
            except SymgradError as e:
                _error(e, "" if isinstance(e, SpecError) else "%s: " % spec)
                worst = 2
                continue
            except (KeyboardInterrupt, Fail):
                raise
            except Exception as e:    # a bug: one clean line for this spec, go on with the next
                _internal(e, debug, "%s: " % spec)
                worst = 2
                continue
            for r in report.rows:
                click.echo("%s: %s" % (spec, row_line(r)))
            for r in report.schedule_rows:
                click.echo("%s: %s" % (spec, r.line()))
            if not report.passed and worst < 1:
                worst = 1
        click.echo("%d spec%s checked: %s" % (len(specs), "" if len(specs) == 1 else "s",
                                               {0: "all passed", 1: "FAILED", 2: "errors"}[worst]))
        return worst
    _run(go, debug)


@main.command(name="compile")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="MODULE.py to write")
@click.option("--debug", is_flag=True, help="show tracebacks of internal errors")
def compile_(spec, out, debug):
    """Write a self-contained torch module with forward() and gradients()."""
    def go():
        from . import load, derive as derive_
        d = derive_(load(spec))
        write_atomic(out, d.module_source(), spec)
        click.echo("wrote %s" % out)
        return 0
    _run(go, debug)


# --- symgrad trace: PyTorch code -> a spec (all logic in symgrad/trace) --------------------------
TRACE_HELP = """Trace PyTorch code into a spec (YAML), printed or written with -o.

In FILE.py:NAME, NAME is a function returning one or more scalar losses, or an
nn.Module (a class, instantiated with no arguments, or an instance) whose forward returns the
loss. Each argument of the function (or of forward) needs an --input: NAME=SHAPE for float data
(x=8,1,28,28), NAME=SHAPE:long:HIGH for class labels in [0, HIGH) (y=8:long:10).

Tracing runs FILE.py: it is your own Python code, executed as pytest or an import would.
A YAML spec, by contrast, is only ever read, never executed.
"""


def _spec_or_code(spec, inputs):
    from .trace import load_spec_or_code
    return load_spec_or_code(spec, inputs)


@main.command(help=TRACE_HELP)
@click.argument("target", metavar="FILE.py:NAME")
@click.option("--input", "inputs", multiple=True, metavar="NAME=SHAPE[:long:HIGH]",
              help="an argument of NAME: its shape (and dtype); once per argument")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), help="write the spec to this file")
@click.option("--with-values", is_flag=True, help="also write the parameters' values into the spec")
@click.option("--debug", is_flag=True, help="show tracebacks of internal errors")
def trace(target, inputs, out, with_values, debug):
    def go():
        from .trace import trace_file
        traced = trace_file(target, inputs, with_values)
        if out:
            write_atomic(out, traced.text, target.rpartition(":")[0])
            click.echo("wrote %s" % out)
        else:
            click.echo(traced.text, nl=False)
        return 0
    _run(go, debug)


if __name__ == "__main__":
    main()
