"""The bounds of every number a user gives: the CLI's numeric options (``NUMBER_OPTIONS``, parsed by
``parse_number``; cli/common.py turns each into a click option) and the same settings in a sweep
plan's ``[measure]`` table (sweep/plan.py checks them with ``NumberRule.admits``). One table, so a
value refused on the command line is refused in a plan too. docs/cli.md lists the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelbench.errors import UserError


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

    def admits(self, number: int | float) -> bool:
        """Whether ``number`` (already an int or float) lies within the bounds."""
        too_low = number <= self.minimum if self.above else number < self.minimum
        # an int of 400 digits is finite but beyond float: math.isfinite() only for floats
        return not ((isinstance(number, float) and not math.isfinite(number)) or too_low or number > self.maximum)


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
    "port": NumberRule(int, 1, 65535),
    "client-port": NumberRule(int, 1, 65535),
    "num-cpus": NumberRule(int, 0, 4096),
    # the conventions users bring (benchmark_app, trtexec) and the answer's constraints
    "streams": NumberRule(int, 1, 1024),
    "iterations": NumberRule(int, 1, 10**9),
    "min-duration": NumberRule(float, 0, 86400, above=True, unit="seconds"),
    "max-latency-ms": NumberRule(float, 0, 3.6e6, above=True, unit="milliseconds"),
    "max-watts": NumberRule(float, 0, 1e6, above=True, unit="watts"),
    "max-price": NumberRule(float, 0, 1e9, above=True, unit="US dollars"),
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
    if not rule.admits(number):
        raise UserError(f"{name}: must be {rule.allowed}; got {value!r}")
    return number
