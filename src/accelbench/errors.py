"""Error types. The CLI maps them to exit codes in one place (accelbench.cli.main)."""

from __future__ import annotations

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
