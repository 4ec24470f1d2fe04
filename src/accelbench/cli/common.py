"""Options shared by several commands (click decorators), the one parser of numeric options, and
small output helpers.

Values are validated by the core parsers (accelbench.shapes, accelbench.precision) or, for numbers,
by ``parse_number`` under the bounds of ``NUMBER_OPTIONS`` (accelbench.bounds, where sweep plans
check their numbers too); each raises a UserError that names the option, what is allowed and the
value received. click only collects the strings.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from accelbench.bounds import NUMBER_OPTIONS, parse_number
from accelbench.errors import UserError, choice_error
from accelbench.report.units import fmt_unknown_layers
from accelbench.results import default_db_path

FORMATS = ("table", "json", "csv")


def number_option(*param_decls: str, **kwargs):
    """A click option parsed by parse_number under the rule of its long name (``--time-limit``)."""
    name = next(d for d in param_decls if d.startswith("--"))[2:]
    if name not in NUMBER_OPTIONS:
        raise KeyError(f"--{name}: add its bounds to NUMBER_OPTIONS")
    kwargs.setdefault("metavar", "INTEGER" if NUMBER_OPTIONS[name].kind is int else "FLOAT")
    return click.option(*param_decls, callback=lambda ctx, param, value: parse_number(name, value), **kwargs)


def parse_streams(value: str | int | None) -> int | str:
    """--streams: a count (NUMBER_OPTIONS["streams"]) or "auto"; None: 1."""
    if value is None:
        return 1
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return parse_number("streams", value)
    except UserError:
        raise UserError(f"streams: must be {NUMBER_OPTIONS['streams'].allowed}, or auto; got {value!r}") from None


streams_option = click.option(
    "--streams", default=None, metavar="N", callback=lambda ctx, param, value: parse_streams(value),
    help="Inference requests in flight for throughput, N or auto (offline and server scenarios; as benchmark_app "
         "-nstreams/-nireq, trtexec --streams); auto: try 1, 2, 4 ... up to the cores and keep the best. Default 1.")


def constraint_options(command):
    """--max-latency-ms, --max-watts, --max-price: only what meets them is ranked (job/ranking.py)."""
    for option in reversed((
            number_option("--max-latency-ms", default=None,
                          help="Rank only what meets this latency: a measurement's p99, a projection's batch-1 latency."),
            number_option("--max-watts", default=None,
                          help="Rank only what stays within this power: measured/estimated power, or a device's TDP."),
            number_option("--max-price", default=None, help="Rank only devices up to this price, USD."))):
        command = option(command)
    return command


model_argument = click.argument("model", metavar="MODEL")
resolution_option = click.option(
    "--resolution", "-r", default=None,
    help="Input size: 224, WxH like 1920x1088, or 1mp/2mp/4mp (16:9); sequence length for language models.",
)
batch_option = number_option("--batch", "-b", default=None, help="Batch size (default 1).")
input_shape_option = click.option(
    "--input-shape", "input_shapes", multiple=True,
    help="Fix an input's shape: NAME=1x3x720x1280 (repeatable; ONNX files only).",
)
db_option = click.option(
    "--db", "db", default=None, metavar="PATH|URL", callback=lambda ctx, param, value: value or default_db_path(),
    help="Results store: a SQLite file, sqlite:///PATH or postgresql://USER@HOST/DB"
         " (default ./accelbench.db, or $ACCELBENCH_DB).",
)
precision_option = click.option("--precision", "-p", default="fp32", show_default=True,
                                 help="fp32, fp16, bf16, int16 or int8.")


def format_option(allowed: tuple[str, ...] = FORMATS):
    return click.option("--format", "-f", "output_format", default=allowed[0], show_default=True,
                        help="Output format: " + ", ".join(allowed) + ".")


def check_format(value: str, allowed: tuple[str, ...] = FORMATS) -> str:
    key = value.strip().lower()
    if key not in allowed:
        raise choice_error("format", value, allowed)
    return key


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    """``value`` lower-cased when it is one of ``allowed``; else the standard one-line UserError."""
    key = value.strip().lower()
    if key not in allowed:
        raise choice_error(field, value, allowed)
    return key


def echo_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def warn_unknown_layers(profile, what: str = "") -> None:
    """One warning line on stderr when the profile has blind spots (unknown shapes or ops), and
    what it means for the figures that follow (``what``)."""
    text = fmt_unknown_layers(profile.unknown_layers)
    if text:
        click.echo(f"warning: {profile.model}: {text}" + (f"; {what}" if what else ""), err=True)
