"""The command line contract (SPEC §4) around the spec: usage, output files, odd paths.

* Usage mistakes -- an unknown option or command, a missing argument, a bad choice or
  number, an empty or unknown name -- are one line ``symgrad: error: ...`` and exit 2:
  no click usage block, no internal error, nothing written.
* ``-o`` writes a finished output only: through a symlink to its target (the link stays),
  over an existing file keeping its mode and hard links, into a FIFO or character device
  without replacing it; a folder is refused.  A failed command writes nothing.
* SPEC may be a pipe (``<(cmd)``) or a FIFO -- never a hang -- and its file name need not
  be UTF-8; a folder, a device or a missing file is one clean line.

Where a real process matters (a blocking open would hang the test run; the file name
in ``sys.argv``), the command runs as a subprocess with a timeout.
"""
import json
import os
import stat
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

import symgrad
import symgrad.spec.yamlread
from symgrad.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = "title: T\ninputs:\n  a: {shape: [3]}\nnodes:\n  b: sum(a**2)\n"
DIM_SPEC = "dims: {n: 3}\ninputs:\n  a: {shape: [n], value: [1.0, 2.0, 3.0]}\nnodes:\n  b: sum(a**2)\n"


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result, stdout=""):
    """The single stderr line of a failed command (exit 2), checked for the contract."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr
    assert err.endswith("\n") and err.count("\n") == 1, "stderr is not one line: %r" % err
    assert err.startswith("symgrad: error: "), err
    assert "Usage:" not in err and "Traceback" not in err and "internal error" not in err
    assert result.stdout == stdout
    return err[:-1]


def only_files(folder, *names):
    assert sorted(os.listdir(folder)) == sorted(names), "files left behind: %s" % os.listdir(folder)


def subprocess_symgrad(args, timeout=60, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "symgrad"] + list(args), capture_output=True,
                          timeout=timeout, env=env, **kw)


# --- usage errors: one line, exit 2 -----------------------------------------------------------
USAGE = [
    (["derive", "{spec}", "--bogus"], "--bogus"),
    (["--bogus"], "--bogus"),
    (["frobnicate", "{spec}"], "frobnicate"),
    (["derive"], "SPEC"),
    (["check"], "SPECS"),
    (["compile", "{spec}"], "--output"),
    (["derive", "{spec}", "-o", ""], "empty file name"),
    (["compile", "{spec}", "-o", ""], "empty file name"),
    (["derive", "{spec}", "-o", " "], "empty file name"),
    (["derive", "{spec}", "--format", "xml"], "--format"),
    (["derive", "{spec}", "--device", "tpu"], "--device"),
    (["derive", "{spec}", "--seed", str(2 ** 64)], "--seed"),
    (["derive", "{spec}", "--seed", str(10 ** 30)], "--seed"),
    (["check", "{spec}", "--seed", str(-2 ** 63 - 1)], "--seed"),
    (["check", "{spec}", "--seed", "one"], "--seed"),
    (["derive", "{spec}", "--no-check", "--dim", "zz=3"], "no dim 'zz'"),
    (["derive", "{spec}", "--dim", "n=\u00b2"], "--dim"),
    (["derive", "{spec}", "--dim", "n=" + "9" * 5000], "--dim"),
    (["derive", "{spec}", "--no-check", "-o", "{tmp}/x.md", "--template", "{tmp}/no-such-folder"], "--template"),
    (["derive", "{spec}", "--no-check", "-o", "{tmp}/x.md", "--template", "{spec}"], "--template"),
    (["derive", "{spec}", "--format", "pdf"], "-o FILE.pdf"),
    (["derive", "{spec}", "--no-check", "-o", "{tmp}/x.unknown"], "cannot tell the format"),
    (["derive", "{tmp}"], "is a folder"),
    (["check", "{tmp}"], "is a folder"),
    (["compile", "{tmp}", "-o", "{tmp}/m.py"], "is a folder"),
    (["derive", "{tmp}/missing.yaml"], "No such file"),
]


@pytest.mark.parametrize("args,fragment", USAGE, ids=[" ".join(a[:3]) + " " + f for a, f in USAGE])
def test_usage_errors_are_one_line_and_write_nothing(tmp_path, spec, args, fragment):
    args = [a.format(spec=spec, tmp=tmp_path) for a in args]
    checked = args[0] == "check" and len(args) > 1 and not args[1].startswith("-")
    msg = error_line(invoke(*args), "1 spec checked: errors\n" if checked and "--seed" not in args else "")
    assert fragment in msg, msg
    only_files(tmp_path, "spec.yaml")


def test_a_usage_error_points_at_the_help(spec):
    msg = error_line(invoke("derive", spec, "--bogus"))
    assert "symgrad derive --help" in msg


def test_help_and_version_still_work():
    result = invoke("--version")
    assert result.exit_code == 0 and symgrad.__version__ in result.stdout
    result = invoke("derive", "--help")
    assert result.exit_code == 0 and "--template" in result.stdout


def test_template_is_documented_as_trusted_code():
    text = " ".join(invoke("derive", "--help").stdout.split())
    assert "Trusted code" in text and "templates you trust" in text


@pytest.mark.parametrize("command", ["derive", "check"])
def test_dim_that_contradicts_a_value_is_a_located_error(tmp_path, command):
    path = tmp_path / "spec.yaml"
    path.write_text(DIM_SPEC)
    result = invoke(command, path, "--dim", "n=4")
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines == ["symgrad: error: %s:3:26: --dim n=4 contradicts the value of 'a', which has 3 "
                     "entries along dim 'n': drop --dim n or the value" % path]
    assert invoke(command, path, "--dim", "n=3").exit_code == 0      # the value it has is fine


def test_dim_that_contradicts_a_value_through_the_api(tmp_path):
    d = symgrad.derive(symgrad.loads(DIM_SPEC))
    with pytest.raises(symgrad.SpecError) as e:
        d.check(dims={"n": 4})
    assert (e.value.line, e.value.col) == (3, 26)


@pytest.mark.parametrize("seed", [2 ** 64 - 1, -2 ** 63, -1, 0])
def test_every_seed_torch_takes_is_accepted(tmp_path, seed):
    path = tmp_path / "spec.yaml"            # a non-scalar output: its upstream gradient too
    path.write_text("inputs:\n  a: {shape: [3]}\nnodes:\n  b: a**2\n")
    result = invoke("check", path, "--seed", seed)
    assert result.exit_code == 0, result.output


def test_stdout_closed_early_is_no_internal_error(spec, monkeypatch):
    """``symgrad derive spec.yaml | head -1``: the reader goes away; stop quietly."""
    import symgrad.cli

    def gone(*args, **kwargs):
        if not kwargs.get("err"):
            raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(symgrad.cli.click, "echo", gone)
    result = invoke("derive", spec, "--no-check")
    assert result.exit_code == 141 and result.stderr == ""


# --- output files -----------------------------------------------------------------------------
def derive_to(spec, out, *extra):
    return invoke("derive", spec, "--no-check", "-o", out, *extra)


def test_output_through_a_symlink_keeps_the_link(tmp_path, spec):
    (tmp_path / "target").mkdir()
    real = tmp_path / "target" / "notes.md"
    real.write_text("old")
    link = tmp_path / "notes.md"
    link.symlink_to(os.path.join("target", "notes.md"))
    result = derive_to(spec, link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == os.path.join("target", "notes.md")
    assert real.read_text().startswith("# T")
    only_files(tmp_path / "target", "notes.md")
    only_files(tmp_path, "notes.md", "spec.yaml", "target")


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path, spec):
    link = tmp_path / "notes.json"
    link.symlink_to("made.json")
    assert derive_to(spec, link).exit_code == 0
    assert link.is_symlink() and json.loads((tmp_path / "made.json").read_text())["title"] == "T"


def test_output_keeps_the_mode_of_an_existing_file(tmp_path, spec):
    out = tmp_path / "notes.md"
    out.write_text("old")
    os.chmod(out, 0o640)
    assert derive_to(spec, out).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert out.read_text().startswith("# T")


def test_a_new_output_file_gets_the_usual_mode(tmp_path, spec):
    umask = os.umask(0o022)
    try:
        assert derive_to(spec, tmp_path / "notes.md").exit_code == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "notes.md").st_mode) == 0o644


def test_output_keeps_hard_links(tmp_path, spec):
    out, other = tmp_path / "notes.md", tmp_path / "copy.md"
    out.write_text("old")
    os.link(out, other)
    inode = os.stat(out).st_ino
    assert derive_to(spec, out).exit_code == 0
    assert os.stat(out).st_ino == inode and os.stat(out).st_nlink == 2
    assert other.read_text() == out.read_text() and out.read_text().startswith("# T")


def test_output_shorter_than_the_old_file_in_place(tmp_path, spec):
    out = tmp_path / "notes.md"
    out.write_text("\x01" * 100_000)
    os.link(out, tmp_path / "copy.md")
    assert derive_to(spec, out).exit_code == 0
    assert "\x01" not in out.read_text() and out.read_text().startswith("# T")


def test_a_fifo_without_a_reader_is_an_error_not_a_hang(tmp_path, spec):
    fifo = tmp_path / "notes.md"
    os.mkfifo(fifo)
    result = subprocess_symgrad(["derive", str(spec), "--no-check", "-o", str(fifo)], timeout=60)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == ["symgrad: error: cannot write %s: no process is "
                                                   "reading the FIFO" % fifo]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    only_files(tmp_path, "notes.md", "spec.yaml")


def test_a_fifo_with_a_reader_is_written_into(tmp_path, spec):
    fifo = tmp_path / "notes.json"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDWR)       # holds the FIFO open: the reader below never blocks
    got, opened = [], threading.Event()

    def read():
        with open(fifo, "rb") as f:
            opened.set()
            got.append(f.read())
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert opened.wait(30)
        result = derive_to(spec, fifo)
    finally:
        os.close(keep)                    # the last writer gone: the reader sees the end
        reader.join(30)
    assert result.exit_code == 0, result.output
    assert json.loads(got[0])["title"] == "T"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
def test_a_character_device_is_written_into_never_replaced(tmp_path, spec):
    dev = tmp_path / "null.json"                       # a /dev/null of our own
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert derive_to(spec, dev).exit_code == 0
    assert stat.S_ISCHR(os.stat(dev).st_mode)
    only_files(tmp_path, "null.json", "spec.yaml")


def test_a_folder_as_output_is_refused(tmp_path, spec):
    (tmp_path / "out.md").mkdir()
    msg = error_line(derive_to(spec, tmp_path / "out.md"))
    assert "it is a folder" in msg
    msg = error_line(invoke("compile", spec, "-o", tmp_path / "out.md"))
    assert "it is a folder" in msg


def test_an_output_name_ending_in_a_slash_is_refused(tmp_path, spec):
    msg = error_line(invoke("compile", spec, "-o", str(tmp_path / "module") + "/"))
    assert "give a file name" in msg
    only_files(tmp_path, "spec.yaml")


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_output_never_overwrites_the_spec_through_a_link(tmp_path, spec, how):
    out = tmp_path / "out.json"
    if how == "symlink":
        out.symlink_to(spec)
    else:
        os.link(spec, out)
    msg = error_line(derive_to(spec, out))
    assert "refusing to overwrite the spec itself" in msg
    assert spec.read_text() == SPEC


def test_a_failed_command_leaves_the_old_output_and_no_temporary_file(tmp_path, spec):
    out = tmp_path / "notes.md"
    out.write_text("old")
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC + "  c: zz\n")
    error_line(derive_to(bad, out))
    assert out.read_text() == "old"
    only_files(tmp_path, "bad.yaml", "notes.md", "spec.yaml")


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, spec, monkeypatch):
    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", refuse)
    msg = error_line(derive_to(spec, tmp_path / "notes.md"))
    assert msg == "symgrad: error: cannot write %s: No space left on device" % (tmp_path / "notes.md")
    only_files(tmp_path, "spec.yaml")


# --- SPEC paths that are not plain files -------------------------------------------------------
def test_a_fifo_without_a_writer_as_spec_does_not_block(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    t = time.perf_counter()
    result = subprocess_symgrad(["derive", str(fifo), "--no-check"], timeout=60)
    assert time.perf_counter() - t < 30
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symgrad: error: %s: cannot read the spec" % fifo)
    assert "FIFO" in lines[0]


def test_a_pipe_as_spec_is_read(tmp_path):
    """What ``symgrad derive <(cmd)`` passes: /dev/fd/N, a pipe with a writer."""
    r, w = os.pipe()
    try:
        def write():
            time.sleep(0.3)                       # the reader finds the pipe empty first
            os.write(w, SPEC.encode())
            os.close(w)
        writer = threading.Thread(target=write)
        writer.start()
        result = invoke("derive", "/dev/fd/%d" % r, "--no-check", "--format", "json")
        writer.join()
    finally:
        os.close(r)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["title"] == "T"


def test_a_silent_pipe_as_spec_gives_up(monkeypatch):
    monkeypatch.setattr(symgrad.spec.yamlread, "READ_IDLE_TIMEOUT", 0.5)
    r, w = os.pipe()
    try:
        t = time.perf_counter()
        msg = error_line(invoke("derive", "/dev/fd/%d" % r, "--no-check"))
        assert time.perf_counter() - t < 10
    finally:
        os.close(r)
        os.close(w)
    assert "nothing arrived for 0.5 seconds (a FIFO)" in msg


def test_an_endless_device_as_spec_is_too_large():
    t = time.perf_counter()
    msg = error_line(invoke("derive", "/dev/zero", "--no-check"))
    assert "/dev/zero:1:1: the spec is too large" in msg
    assert time.perf_counter() - t < 10


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_spec(tmp_path, spec):
    os.chmod(spec, 0)
    msg = error_line(invoke("derive", spec))
    assert "cannot read the spec: Permission denied" in msg


NON_UTF8 = b"caf\xe9"


def test_a_spec_whose_file_name_is_not_utf8(tmp_path):
    folder = os.fsencode(str(tmp_path))
    path = os.path.join(folder, NON_UTF8 + b".yaml")
    with open(path, "w") as f:
        f.write(SPEC.replace("title: T\n", ""))
    name = os.fsdecode(path)                       # as Python hands it over in sys.argv
    out = os.fsdecode(os.path.join(folder, NON_UTF8 + b".json"))
    result = invoke("derive", name, "-o", out)
    assert result.exit_code == 0, result.output
    with open(out, "rb") as f:
        assert json.loads(f.read())["title"] == "caf\\xe9"    # the stem, printable
    assert "wrote %s" % str(tmp_path / "caf\\xe9.json") in result.stdout
    result = invoke("check", name)
    assert result.exit_code == 0 and "caf\\xe9.yaml: ok" in result.stdout
    result = invoke("compile", name, "-o", os.fsdecode(os.path.join(folder, NON_UTF8 + b".py")))
    assert result.exit_code == 0, result.output
    with open(path, "a") as f:
        f.write("  c: zz\n")
    msg = error_line(invoke("derive", name))
    assert msg.startswith("symgrad: error: %s:5:6: undefined name 'zz'" % (tmp_path / "caf\\xe9.yaml"))


def test_a_non_utf8_file_name_in_a_real_process(tmp_path):
    path = os.path.join(os.fsencode(str(tmp_path)), NON_UTF8 + b".yaml")
    with open(path, "w") as f:
        f.write(SPEC.replace("title: T\n", ""))
    result = subprocess_symgrad([b"derive", path, b"--no-check", b"--format", b"json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "caf\\xe9"


def test_load_accepts_bytes_and_path_like(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    assert symgrad.load(path).title == "T"
    assert symgrad.load(os.fsencode(str(path))).file == str(path)
