"""Error types. The CLI maps them to exit codes in one place (accelbench.cli.main)."""

from __future__ import annotations

import math

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
