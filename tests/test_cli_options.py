"""The one parser of numeric options (cli/common.py): finite bounds from one table, inf and nan
refused, one-line errors that name the option, what it allows and the value received."""

from __future__ import annotations

import click
import pytest

from accelbench import cli
from accelbench.cli.common import NUMBER_OPTIONS, number_option, parse_number
from accelbench.errors import UserError
from cli_helpers import cli_exit_code


@pytest.mark.parametrize("name, text, expected", [
    ("batch", "32", 32), ("batch", " 1 ", 1), ("seed", "0", 0), ("time-limit", "0.5", 0.5),
    ("target-ci", "0.02", 0.02), ("budget", "60", 60.0), ("size", "16384", 16384), ("tdp", "1e3", 1000.0),
])
def test_accepted_values(name, text, expected):
    value = parse_number(name, text)
    assert value == expected and type(value) is NUMBER_OPTIONS[name].kind


@pytest.mark.parametrize("name, text, message", [
    ("time-limit", "0", "time-limit: must be a positive number of seconds, at most 86,400; got '0'"),
    ("time-limit", "abc", "time-limit: 'abc' is not a number; give a positive number of seconds, at most 86,400"),
    ("time-limit", "inf", "time-limit: must be a positive number of seconds, at most 86,400; got 'inf'"),
    ("tdp", "nan", "tdp: must be a positive number of watts, at most 100,000; got 'nan'"),
    ("batch", "0", "batch: must be a positive integer, at most 65,536; got '0'"),
    ("batch", "1.5", "batch: '1.5' is not a whole number; give a positive integer, at most 65,536"),
    ("seed", "-1", "seed: must be an integer from 0 to 4,294,967,295; got '-1'"),
    ("budget", "60.5", "budget: must be a positive number of seconds, at most 60; got '60.5'"),
    ("target-ci", "1", "target-ci: must be a positive number, at most 0.999; got '1'"),
])
def test_refused_values_name_the_option_the_bounds_and_the_value(name, text, message):
    with pytest.raises(UserError) as exc:
        parse_number(name, text)
    assert str(exc.value) == message


def test_no_value_stays_none_and_every_rule_is_finite():
    assert parse_number("threads", None) is None
    for name, rule in NUMBER_OPTIONS.items():
        assert rule.kind in (int, float) and rule.minimum < rule.maximum < float("inf"), name


def test_a_numeric_option_needs_a_row_in_the_table():
    with pytest.raises(KeyError, match="--nonsense: add its bounds to NUMBER_OPTIONS"):
        number_option("--nonsense")


def test_every_numeric_option_of_the_cli_goes_through_the_table():
    ctx = click.Context(cli.app)
    seen = set()
    for name in cli.COMMANDS:
        command = cli.app.get_command(ctx, name)
        for sub in [command, *getattr(command, "commands", {}).values()]:
            for param in sub.params:
                if isinstance(param, click.Option) and param.metavar in ("INTEGER", "FLOAT", "N"):
                    assert param.opts[0][2:] in NUMBER_OPTIONS, param.opts
                    seen.add(param.opts[0][2:])
                assert not isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)), param.opts
    assert seen == set(NUMBER_OPTIONS)


@pytest.mark.parametrize("argv, fragment", [
    (["bench", "resnet50", "--time-limit", "inf"], "time-limit: must be a positive number"),
    (["run", "--time-limit", "x"], "time-limit: 'x' is not a number"),
    (["tops", "host", "--size", "0", "--no-measure"], "size: must be a positive integer"),
    (["tops", "host", "--budget", "nan"], "budget: must be a positive number of seconds"),
    (["models", "closest", "resnet50", "--limit", "0"], "limit: must be a positive integer"),
    (["worker", "--head", "--port", "70000", "--dry-run"], "port: must be a positive integer, at most 65,535"),
    (["worker", "--head", "--num-cpus", "-1", "--dry-run"], "num-cpus: must be an integer from 0 to 4,096"),
])
def test_cli_refuses_with_exit_2_and_one_line(argv, fragment, capsys):
    assert cli_exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {fragment}")
