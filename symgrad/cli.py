"""The command line: thin commands over the library (SPEC §4).

Each command is a few library calls; every `SymgradError` becomes one line on stderr
(``symgrad: error: FILE:LINE:COL: message``) and exit status 2, a failed check exit 1.
Usage mistakes that click finds (an unknown option, a missing argument, a bad choice)
get the same one line and exit 2 (`Cli`), never click's usage block.  An output is
rendered completely first and written last (`write_output`), so an error writes nothing.
torch is imported only when a check or a compiled module needs it.
"""
import errno
import os
import stat
import sys
import tempfile
import traceback

import click

from .errors import SymgradError, SpecError, one_line, printable_path
from .version import __version__

FORMATS = ("text", "json", "md", "tex", "pdf", "html")
SUFFIX_FORMAT = {".md": "md", ".markdown": "md", ".tex": "tex", ".pdf": "pdf", ".json": "json",
                 ".txt": "text", ".html": "html", ".htm": "html"}


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
    except BrokenPipeError:           # stdout's reader went away (| head): stop quietly
        _silence_stdout()
        code = 141                    # what a shell reports for a process ended by SIGPIPE
    except Exception as e:            # a bug: still one clean line
        _internal(e, debug)
        code = 2
    sys.exit(code or 0)


def _silence_stdout():
    """Point stdout at /dev/null so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):    # no real stdout (e.g. under a test runner)
        pass


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
        if not sep or not name.strip() or not (num.isascii() and num.isdigit() and len(num) <= 10) \
                or not 0 < int(num) <= 10 ** 9:
            raise SymgradError("--dim: expected NAME=N with a positive integer N (at most 10**9), got %r" % v)
        out[name.strip()] = int(num)
    return out


def write_output(path, data, specs=()):
    """Write a finished output (bytes or text) to ``path``; the last step of a command.

    * A new or existing regular file is written to a temporary file in the same folder and
      renamed over the target, so it appears only complete; an existing file keeps its
      permission mode (and owner, where allowed).  A file with other hard links is
      rewritten in place instead, so the links keep sharing it.
    * A symlink is followed and stays a symlink: its target is written as above (a dangling
      link's target is created).
    * A FIFO or character device (``/dev/null``, ``/dev/stdout``, ``>(gzip > x.gz)``) is
      written into, as a shell redirection would, never replaced by a file; a FIFO that no
      process reads is an error, not a hang.
    * A folder, block device or socket is refused, and so is the spec itself.
    """
    shown = printable_path(path)
    data = data if isinstance(data, bytes) else data.encode("utf-8")
    if not path or path.endswith(("/", os.sep)):
        raise SymgradError("cannot write %r: give a file name" % shown)
    for spec in specs:
        if spec and _same_file(path, spec):
            raise SymgradError("refusing to overwrite the spec itself: %s" % shown)
    try:
        st = os.stat(path)                     # follows symlinks: what would be written
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise SymgradError("cannot write %s: %s" % (shown, e.strerror or e))
    try:
        if st is None or stat.S_ISREG(st.st_mode):
            target = os.path.realpath(path)    # through symlinks: they stay links
            if st is not None and not os.access(target, os.W_OK):
                raise PermissionError(13, "Permission denied")
            if st is not None and st.st_nlink > 1:
                _write_in_place(target, data)
            else:
                _replace(target, data, st, shown)
        elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            _write_into(path, data)
        else:
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else \
                "a block device" if stat.S_ISBLK(st.st_mode) else "not a regular file"
            raise SymgradError("refusing to write %s: it is %s" % (shown, kind))
    except OSError as e:
        if e.errno == errno.ENXIO and st is not None and stat.S_ISFIFO(st.st_mode):
            raise SymgradError("cannot write %s: no process is reading the FIFO" % shown)
        raise SymgradError("cannot write %s: %s" % (shown, e.strerror or e))


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _replace(target, data, st, shown):
    """A new file at target, atomically: a temporary file renamed over it."""
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise SymgradError("cannot write %s: no such folder" % shown)
    fd, tmp = tempfile.mkstemp(prefix=".symgrad-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if st is None:                  # mkstemp makes 0600; give the usual mode
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(f.fileno(), 0o666 & ~umask)
            else:
                os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                    try:
                        os.fchown(f.fileno(), st.st_uid, st.st_gid)
                    except OSError:
                        pass
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_in_place(target, data):
    """Rewrite an existing file in place (it keeps its inode: hard links still share it)."""
    with open(target, "r+b") as f:
        f.write(data)
        f.truncate()


def _write_into(path, data):
    """Write into a FIFO or device: opened without blocking (a FIFO nobody reads fails)."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


SEEDS = click.IntRange(-2 ** 63, 2 ** 64 - 1)      # what torch.manual_seed accepts


def _output_path(ctx, param, value):
    if value is not None and not value.strip():
        raise click.BadParameter("an empty file name", ctx=ctx, param=param)
    return value


common_check = [
    click.option("--device", type=click.Choice(["cpu", "cuda", "auto", "all"]), default="cpu",
                 show_default=True, help="where the numeric check runs"),
    click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
                 show_default=True),
    click.option("--seed", type=SEEDS, default=0, show_default=True,
                 help="seed of the random inputs (64 bits, as torch.manual_seed takes it)"),
    click.option("--dim", "dim", multiple=True, metavar="NAME=N", help="value of a symbolic dim"),
    click.option("--debug", is_flag=True, help="show tracebacks of internal errors"),
]


def with_options(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


class Cli(click.Group):
    """The symgrad command group: click's usage errors become symgrad's one line.

    Click reports an unknown option, a missing argument or a bad choice with a usage block;
    here every ``click.ClickException`` is one line, ``symgrad: error: ...`` (with a pointer
    to ``--help``), exit status 2 for usage.  Help and ``--version`` are unchanged, and so
    is ``main(standalone_mode=False)`` for callers that handle click's exceptions.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as e:           # bare `symgrad`: the help, as click shows it
            e.show()
            code = e.exit_code
        except click.ClickException as e:
            hint = ""
            ctx = getattr(e, "ctx", None)
            if ctx is not None:
                hint = " (see '%s --help')" % ctx.command_path
            click.echo(one_line("symgrad: error: %s%s" % (e.format_message().rstrip("."), hint)), err=True)
            code = e.exit_code
        except click.Abort:
            click.echo("symgrad: interrupted", err=True)
            code = 130
        sys.exit(code if isinstance(code, int) else 0)


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(cls=Cli, name="symgrad", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symgrad")
def main():
    """symgrad: closed-form gradients from a YAML spec, checked against PyTorch."""


@main.command()
@click.argument("spec", type=click.Path())
@click.option("--input", "inputs", multiple=True, metavar="NAME=SHAPE[:long:HIGH]",
              help="with SPEC = FILE.py:NAME: an argument of the traced code (see `symgrad trace`)")
@click.option("-o", "--output", "out", type=click.Path(), callback=_output_path,
              help="write notes/report (.md .tex .pdf .html .json)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="what to print (default text)")
@click.option("--check/--no-check", default=True, show_default=True, help="validate numerically against autograd")
@click.option("--template", "template_dir", type=click.Path(exists=True, file_okay=False),
              help="folder with your own notes templates.  Trusted code: a jinja2 template can "
                   "run Python with your rights, so use only templates you trust")
@with_options(common_check)
def derive(spec, inputs, out, fmt, check, template_dir, device, dtype, seed, dim, debug):
    """Derive every closed-form gradient of SPEC (a YAML spec, or FILE.py:NAME traced as by `symgrad trace`)."""
    def go():
        from . import derive as derive_
        dims = _dims(dim)
        out_fmt = None
        if out:
            out_fmt = fmt if fmt not in (None, "text") else SUFFIX_FORMAT.get(os.path.splitext(out)[1].lower())
            if out_fmt is None:
                raise SymgradError("cannot tell the format of %s: use .md, .tex, .pdf, .html or .json (or --format)"
                                   % printable_path(out))
        elif fmt == "pdf":
            raise SymgradError("--format pdf needs -o FILE.pdf")
        problem = _spec_or_code(spec, inputs)
        problem.check_dims(dims)              # even with --no-check: a wrong --dim is a mistake
        if check:
            from .numeric.check import resolve_devices
            resolve_devices(device)            # no GPU for --device cuda: one error, before deriving
        d = derive_(problem)
        report = None
        if check:
            report = d.check(device=device, dtype=dtype, seed=seed, dims=dims)
        if out:
            data = _render(d, out_fmt, report, template_dir, numbers=check)
            write_output(out, data, [spec])
            click.echo(d.summary(report), nl=False)
            click.echo("wrote %s" % printable_path(out))
        else:
            data = _render(d, fmt or "text", report, template_dir, numbers=check)
            click.echo(data, nl=False)
        if report is not None and not report.passed:
            raise Fail(1)
        return 0
    _run(go, debug)


def _render(d, fmt, report, template_dir, numbers=True):
    if fmt == "text":
        return d.summary(report)
    if fmt == "json":
        return d.to_json(report)
    # --no-check runs no PyTorch at all: the notes then show no numbers
    return d.render(fmt, check=report, template_dir=template_dir, numbers=numbers)


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@click.option("--fd", is_flag=True, help="also compare with finite differences (gradcheck)")
@with_options(common_check)
def check(specs, fd, device, dtype, seed, dim, debug):
    """Validate the closed forms of each SPEC numerically (one line per gradient)."""
    from .report import row_line

    def go():
        from . import load, derive as derive_
        from .numeric.check import resolve_devices
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
            shown = printable_path(spec)
            try:
                problem = load(spec)
                own = {k: v for k, v in dims.items() if k in problem.dims}
                problem.check_dims(own)
                d = derive_(problem)
                report = d.check(device=device, dtype=dtype, seed=seed, fd=fd, dims=own)
            except SymgradError as e:
                _error(e, "" if isinstance(e, SpecError) else "%s: " % shown)
                worst = 2
                continue
            except (KeyboardInterrupt, Fail):
                raise
            except Exception as e:    # a bug: one clean line for this spec, go on with the next
                _internal(e, debug, "%s: " % shown)
                worst = 2
                continue
            for r in report.rows:
                click.echo("%s: %s" % (shown, row_line(r)))
            for r in report.schedule_rows:
                click.echo("%s: %s" % (shown, r.line()))
            if not report.passed and worst < 1:
                worst = 1
        click.echo("%d spec%s checked: %s" % (len(specs), "" if len(specs) == 1 else "s",
                                               {0: "all passed", 1: "FAILED", 2: "errors"}[worst]))
        return worst
    _run(go, debug)


@main.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(), callback=_output_path,
              help="MODULE.py to write")
@click.option("--debug", is_flag=True, help="show tracebacks of internal errors")
def compile_(spec, out, debug):
    """Write a self-contained torch module with forward() and gradients()."""
    def go():
        from . import load, derive as derive_
        d = derive_(load(spec))
        write_output(out, d.module_source(), [spec])
        click.echo("wrote %s" % printable_path(out))
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
@click.option("-o", "--output", "out", type=click.Path(), callback=_output_path, help="write the spec to this file")
@click.option("--with-values", is_flag=True, help="also write the parameters' values into the spec")
@click.option("--debug", is_flag=True, help="show tracebacks of internal errors")
def trace(target, inputs, out, with_values, debug):
    def go():
        from .trace import trace_file
        traced = trace_file(target, inputs, with_values)
        if out:
            write_output(out, traced.text, [target.rpartition(":")[0]])
            click.echo("wrote %s" % printable_path(out))
        else:
            click.echo(traced.text, nl=False)
        return 0
    _run(go, debug)


if __name__ == "__main__":
    main()
