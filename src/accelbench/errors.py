"""Error types. The CLI maps them to exit codes in one place (accelbench.cli.main)."""

from __future__ import annotations

import math
import re

# Exit codes of a command that measured (besides 0, 2 for a UserError and 130 for an interrupt).
EXIT_MEASUREMENT_FAILED = 1  # nothing measured: the configuration crashed, ran out of memory, timed out
EXIT_RESULT_INVALID = 3  # measured, but the run broke its rules (LoadGen said INVALID)


class UserError(Exception):
    """Bad input from the user: printed as one line on stderr, exit code 2, no traceback.

    Messages name what was wrong, what is allowed, and the value received.
    """

    exit_code = 2


class ModelError(UserError):
    """A model file or zoo name that cannot be loaded, checked or shaped."""


class BackendUnavailable(UserError):
    """A backend, device or precision that is not installed or not supported here."""


def choice_error(field: str, value: object, allowed) -> UserError:
    """The standard message for a value outside a fixed set."""
    allowed_text = ", ".join(str(a) for a in allowed)
    return UserError(f"{field}: {value!r} is not allowed; choose one of: {allowed_text}")


def check_stop_conventions(iterations: object, min_duration_s: object) -> None:
    """``--iterations`` (a positive integer) and ``--min-duration`` (positive, finite seconds), or None:
    checked alike wherever a config carries them (the bench config, the timing config)."""
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1):
        raise UserError(f"iterations: must be a positive integer; got {iterations!r}")
    if min_duration_s is not None and not (isinstance(min_duration_s, (int, float)) and not isinstance(min_duration_s, bool)
                                           and math.isfinite(min_duration_s) and min_duration_s > 0):
        raise UserError(f"min-duration: must be a positive number of seconds; got {min_duration_s!r}")
class AccelbenchWarning(UserWarning):
    """Something the user should know that does not stop the command (a store row skipped, a
    corrupt cache treated as absent): the CLI prints it as one ``warning:`` line on stderr, and the
    measurement worker hands it back to its parent (measure/isolation.py)."""


# Lines of a runtime's message that say where in its C++ sources it was raised, not what went wrong:
# OpenVINO prefixes its messages with "Exception from src/.../core.cpp:84:" (one per frame) and
# "Check 'cond' failed at src/...:12:".
_WHERE_LINE = re.compile(r"^(?:Exception from \S+:\d+:?|Check '.*' failed at \S+:\d+:?)$")
_WHERE_PREFIX = re.compile(r"(?:Exception from \S+:\d+:\s*|Check '.*?' failed at \S+:\d+:\s*)")
_ONE_LINE_CHARS = 500


def one_line(error: BaseException | str, limit: int = _ONE_LINE_CHARS) -> str:
    """The useful part of an error message on one line: the first line that says what went wrong
    (runtimes' source-location lines skipped), whitespace collapsed, at most ``limit`` characters.
    An exception without a message gives its type name."""
    useful_lines = [" ".join(_WHERE_PREFIX.sub("", line).split()) for line in str(error).splitlines()
                    if line.strip() and not _WHERE_LINE.match(line.strip())]
    useful_lines = [line for line in useful_lines if line]
    useful = useful_lines[0] if useful_lines else ""
    if useful.endswith(":") and len(useful_lines) > 1:  # "... Error:" with the reason on the next line
        useful = f"{useful} {useful_lines[1]}"
    if not useful and isinstance(error, BaseException):
        useful = type(error).__name__
    return useful if len(useful) <= limit else useful[:limit - 3] + "..."
