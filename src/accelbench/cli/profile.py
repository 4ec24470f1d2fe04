"""`accelbench profile MODEL`: the static profile of a zoo model or an ONNX file."""

from __future__ import annotations

import sys

import click

from accelbench.cli import app
from accelbench.cli.common import (
    batch_option,
    check_format,
    echo_json,
    format_option,
    input_shape_option,
    model_argument,
    number_option,
    precision_option,
    resolution_option,
    warn_unknown_layers,
)
from accelbench.models.loader import load_model
from accelbench.precision import parse_precision
from accelbench.profile import profile_model
from accelbench.report.profile_table import format_profile_csv, format_profile_table
from accelbench.shapes import parse_input_shapes


@app.command("profile")
@model_argument
@resolution_option
@batch_option
@input_shape_option
@precision_option
@format_option()
@number_option("--top", default=None, metavar="N",
               help="Table only: show the N layers with most MACs (totals still cover every layer).")
def profile_command(model, resolution, batch, input_shapes, precision, output_format, top) -> None:
    """Per-layer MACs, parameters, weight and activation bytes, arithmetic intensity, and the model's
    largest activation and peak live activation memory (see docs/profiling.md for the conventions)."""
    output_format = check_format(output_format)
    prec = parse_precision(precision)
    loaded = load_model(model, resolution=resolution, batch=batch, input_shapes=parse_input_shapes(input_shapes),
                        with_weights=False)
    result = profile_model(loaded, prec)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    warn_unknown_layers(result)
    if output_format == "json":
        echo_json(result.to_dict())
    elif output_format == "csv":
        sys.stdout.write(format_profile_csv(result))
    else:
        click.echo(format_profile_table(result, top=top))
