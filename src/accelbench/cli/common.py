"""Options shared by several commands (click decorators) and small output helpers.

Values are validated by the core parsers (accelbench.shapes, accelbench.precision), which raise
UserError with the allowed values; click only collects the strings.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from accelbench.errors import choice_error

FORMATS = ("table", "json", "csv")

model_argument = click.argument("model", metavar="MODEL")
resolution_option = click.option(
    "--resolution", "-r", default=None,
    help="Input size: 224, WxH like 1920x1088, or 1mp/2mp/4mp (16:9); sequence length for language models.",
)
batch_option = click.option("--batch", "-b", default=None, help="Batch size (default 1).")
input_shape_option = click.option(
    "--input-shape", "input_shapes", multiple=True,
    help="Fix an input's shape: NAME=1x3x720x1280 (repeatable; ONNX files only).",
)


def _db_or_default(ctx, param, value):
    # Imported when --db is parsed, not when the CLI loads: the store pulls in numpy.
    from accelbench.results.store import default_db_path

    return value or default_db_path()


db_option = click.option(
    "--db", "db", default=None, metavar="PATH|URL", callback=_db_or_default,
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


def echo_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
