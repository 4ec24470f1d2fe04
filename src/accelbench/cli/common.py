"""Options shared by several commands (click decorators), the one parser of numeric options, and
small output helpers.

Values are validated by the core parsers (accelbench.shapes, accelbench.precision) or, for numbers,
by ``parse_number`` under the bounds of ``NUMBER_OPTIONS``; each raises a UserError that names the
option, what is allowed and the value received. click only collects the strings.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any

import click

from accelbench.errors import UserError, choice_error
from accelbench.report.units import fmt_unknown_layers
from accelbench.results import default_db_path

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class NumberRule:
    """What a numeric option accepts: an int or a float from ``minimum`` to ``maximum`` (finite:
    inf and nan never pass), the minimum itself excluded when ``above``."""

    kind: type  # int or float
    minimum: float
    maximum: float
    above: bool = False  # the value must be greater than minimum (e.g. a duration)
    unit: str = ""  # in words, for messages: "seconds", "watts"

    @property
    def allowed(self) -> str:
        """What the option accepts, in words: "a positive number of seconds, at most 86,400"."""
        unit = f" of {self.unit}" if self.unit else ""
        if self.above and self.minimum == 0:
            low = f"a positive number{unit}"
        elif self.kind is int and self.minimum == 1 and not self.above:
            low = f"a positive integer{unit}"
        else:
            what = "an integer" if self.kind is int else "a number"
            return f"{what}{unit} {'above' if self.above else 'from'} {self.minimum:,.10g} to {self.maximum:,.10g}"
        return f"{low}, at most {self.maximum:,.10g}"


# Every numeric option of the CLI and its bounds: finite, and chosen so that no value inside them makes
# a command run for hours or allocate without limit (docs/cli.md lists them; tests/test_cli_numbers.py
# checks that list against this table). LoadGen's server scenario sleeps until each Poisson arrival:
# below 0.1 queries/s the first arrival alone can outlast the run; --target-qps above what the model
# sustains is refused when the run starts (measure.loadgen.check_server_rate).
NUMBER_OPTIONS: dict[str, NumberRule] = {
    "batch": NumberRule(int, 1, 65536),
    "threads": NumberRule(int, 1, 4096),
    "time-limit": NumberRule(float, 0, 86400, above=True, unit="seconds"),
    "target-ci": NumberRule(float, 0, 0.999, above=True),
    "target-qps": NumberRule(float, 0.1, 1e6, unit="queries per second"),
    "latency-bound-ms": NumberRule(float, 0.001, 3.6e6, unit="milliseconds"),
    "price": NumberRule(float, 0, 1e9, above=True, unit="US dollars"),
    "price-per-hour": NumberRule(float, 0, 1e6, above=True, unit="US dollars per hour"),
    "tdp": NumberRule(float, 0, 1e5, above=True, unit="watts"),
    "tdp-cores": NumberRule(int, 1, 4096),
    "timeout": NumberRule(float, 0, 604800, above=True, unit="seconds"),
    "size": NumberRule(int, 1, 16384),
    "budget": NumberRule(float, 0, 60, above=True, unit="seconds"),
    "top": NumberRule(int, 1, 10**6),
    "seed": NumberRule(int, 0, 2**32 - 1),
    "limit": NumberRule(int, 1, 10**4),
    "layer-runs": NumberRule(int, 1, 10**4),
}


def parse_number(name: str, value: str | int | float | None) -> int | float | None:
    """``value`` (CLI text) as the int or float that NUMBER_OPTIONS[name] allows; None stays None.
    A UserError names the option, what it allows and the value received."""
    if value is None:
        return None
    rule = NUMBER_OPTIONS[name]
    text = str(value).strip()
    try:
        number = int(text) if rule.kind is int else float(text)
    except ValueError:
        kind = "a whole number" if rule.kind is int else "a number"
        raise UserError(f"{name}: {value!r} is not {kind}; give {rule.allowed}") from None
    too_low = number <= rule.minimum if rule.above else number < rule.minimum
    # an int of 400 digits is finite but beyond float: math.isfinite() only for floats
    if (isinstance(number, float) and not math.isfinite(number)) or too_low or number > rule.maximum:
        raise UserError(f"{name}: must be {rule.allowed}; got {value!r}")
    return number


def number_option(*param_decls: str, **kwargs):
    """A click option parsed by parse_number under the rule of its long name (``--time-limit``)."""
    name = next(d for d in param_decls if d.startswith("--"))[2:]
    if name not in NUMBER_OPTIONS:
        raise KeyError(f"--{name}: add its bounds to NUMBER_OPTIONS")
    kwargs.setdefault("metavar", "INTEGER" if NUMBER_OPTIONS[name].kind is int else "FLOAT")
    return click.option(*param_decls, callback=lambda ctx, param, value: parse_number(name, value), **kwargs)


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
    "--db", "db", default=None, metavar="PATH", callback=lambda ctx, param, value: value or default_db_path(),
    help="Results store: a SQLite file or sqlite:///PATH (default ./accelbench.db, or $ACCELBENCH_DB).",
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
