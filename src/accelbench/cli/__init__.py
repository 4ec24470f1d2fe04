"""The accelbench command line (click).

``app`` is the root group; each command lives in a module of this package that registers itself
on ``app`` (``accelbench.cli.<topic>``), listed once in COMMAND_MODULES. ``main`` is the one place
that turns errors into exit codes: UserError -> 2 with one line on stderr; anything unexpected -> 1
with a short message and a hint to rerun with --debug for the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from accelbench import __version__
from accelbench.errors import UserError

# Each module registers its commands on `app` when imported.
COMMAND_MODULES = ("models", "profile", "tops", "bench", "project", "run", "report", "sweep")


@click.group(
    name="accelbench",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--debug", is_flag=True, help="Show full tracebacks for unexpected errors.")
@click.version_option(__version__, prog_name="accelbench")
def app(debug: bool) -> None:
    """Which inference accelerator is best for YOUR network: peak TOPS, ResNet-50 done right,
    real-world models, your own model; measured here, and projected onto devices you do not own."""
    if debug:
        os.environ["ACCELBENCH_DEBUG"] = "1"


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"accelbench.cli.{name}")
        except ModuleNotFoundError as exc:
            # A command module not written yet must not break the others.
            if exc.name != f"accelbench.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and map errors to exit codes."""
    _register_commands()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("ACCELBENCH_DEBUG") == "1"
    try:
        result = app.main(args=args, prog_name="accelbench", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except UserError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    except Exception as exc:  # the one place unexpected errors become exit code 1
        if debug:
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(
            f"internal error: {type(exc).__name__}: {first_line} (rerun with --debug for the traceback)",
            err=True,
        )
        code = 1
    sys.exit(code)
