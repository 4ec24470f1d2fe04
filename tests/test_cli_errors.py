"""The one place that maps errors to exit codes: UserError -> 2 and one line; unexpected -> 1 with a hint."""

import subprocess
import sys

import click
import pytest

from accelbench import cli
from accelbench.errors import UserError


def _run(args):
    return subprocess.run([sys.executable, "-m", "accelbench", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def temporary_commands():
    added = []

    def add(name, fn):
        command = click.command(name)(fn)
        cli.app.add_command(command)
        added.append(name)

    yield add
    for name in added:
        cli.app.commands.pop(name, None)


def test_user_error_is_exit_2_and_one_line(temporary_commands, capsys):
    def bad():
        raise UserError("thing: 'x' is not allowed; choose one of: a, b")

    temporary_commands("_bad", bad)
    with pytest.raises(SystemExit) as info:
        cli.main(["_bad"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: thing: 'x' is not allowed; choose one of: a, b\n"


def test_unexpected_error_is_exit_1_with_debug_hint(temporary_commands, capsys):
    def boom():
        raise RuntimeError("kaput")

    temporary_commands("_boom", boom)
    with pytest.raises(SystemExit) as info:
        cli.main(["_boom"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "RuntimeError: kaput" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "_boom"])


def test_module_entry_point_and_unknown_command():
    assert _run(["--version"]).returncode == 0
    result = _run(["no-such-command"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
