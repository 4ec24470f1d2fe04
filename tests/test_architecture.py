"""The seams of docs/architecture.md that import-linter cannot see: no module imports a heavy optional
package when it is imported, the CLI starts without importing any command module, every listed
command exists with the summary the root help shows, a missing command module is an error, and
--debug travels in the click context, not the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest

from accelbench import cli
from accelbench.errors import UserError

HEAVY = ("onnxruntime", "openvino", "nncf", "torch", "plotly", "matplotlib", "jinja2", "ray", "psycopg", "pynvml",
         "mlperf_loadgen")


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_no_module_imports_a_heavy_package_when_it_is_imported():
    out = _fresh(
        "import importlib, json, pkgutil, sys, accelbench\n"
        "for m in pkgutil.walk_packages(accelbench.__path__, 'accelbench.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in {HEAVY!r})))\n")
    assert json.loads(out) == []


def test_cli_start_up_imports_no_command_module():
    out = _fresh(
        "import contextlib, io, json, sys\n"
        "from accelbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.startswith('accelbench.') or n == 'numpy')))\n")
    assert json.loads(out) == ["accelbench.cli", "accelbench.errors"]


def test_every_listed_command_exists_with_the_summary_the_root_help_shows():
    ctx = click.Context(cli.app)
    for name, entry in cli.COMMANDS.items():
        command = cli.app.get_command(ctx, name)
        assert command is not None, name
        listed = click.Command(name, help=entry.summary)
        for limit in (45, 80, 10_000):
            assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), name
    assert set(cli.app.commands) <= set(cli.COMMANDS)  # every command a module registers is listed


def test_root_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.COMMANDS)


@pytest.fixture
def listed(monkeypatch):
    def add(name, module):
        monkeypatch.setitem(cli.COMMANDS, name, cli.CommandEntry(module, "A command."))

    return add


@pytest.mark.parametrize("module, error, message", [
    ("no_such_module", ModuleNotFoundError, "ModuleNotFoundError: No module named 'accelbench.cli.no_such_module'"),
    ("common", RuntimeError, "accelbench.cli.common does not define the command 'ghost' that COMMANDS lists"),
])
def test_a_listed_command_that_cannot_be_found_is_an_error(listed, capsys, module, error, message):
    listed("ghost", module)
    with pytest.raises(SystemExit) as exc:
        cli.main(["ghost"])
    assert exc.value.code == 1 and message in capsys.readouterr().err
    with pytest.raises(error):
        cli.main(["--debug", "ghost"])  # --debug already holds while the command's module is imported


def test_debug_travels_in_the_context_and_ends_with_the_invocation(capsys):
    @cli.app.command("_kaput")
    def kaput():
        raise RuntimeError("kaput")

    try:
        with pytest.raises(RuntimeError, match="kaput"):
            cli.main(["--debug", "_kaput"])
        assert "ACCELBENCH_DEBUG" not in os.environ
        with pytest.raises(SystemExit) as exc:
            cli.main(["_kaput"])  # the next invocation starts without --debug
        assert exc.value.code == 1 and "rerun with --debug" in capsys.readouterr().err
    finally:
        cli.app.commands.pop("_kaput", None)


def test_user_errors_keep_their_one_line_under_debug_off(capsys):
    @cli.app.command("_bad")
    def bad():
        raise UserError("thing: 'x' is not allowed; choose one of: a, b")

    try:
        with pytest.raises(SystemExit) as exc:
            cli.main(["_bad"])
        assert exc.value.code == 2
        assert capsys.readouterr().err == "error: thing: 'x' is not allowed; choose one of: a, b\n"
    finally:
        cli.app.commands.pop("_bad", None)
