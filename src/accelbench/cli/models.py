"""`accelbench models`: list the zoo; `models save`: write one as an ONNX file; `models closest`:
the zoo models most like a given one.

The list shows, for every registered zoo model, its parameters and MACs at its default size as
the static profiler counts them (accelbench.profile, fp32; MAC = multiply-accumulate of
Conv/Gemm/MatMul, see docs/profiling.md), built without weights so listing allocates none.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from accelbench.cli import app
from accelbench.cli.common import (
    batch_option,
    check_format,
    echo_json,
    format_option,
    input_shape_option,
    resolution_option,
)
from accelbench.errors import UserError

LIST_FORMATS = ("table", "json")


def _describe(zoo) -> dict:
    """One row of the listing: figures from the static profiler at the model's default size."""
    from accelbench.models.loader import load_model
    from accelbench.profile import profile_model

    loaded = load_model(zoo.name, with_weights=False)
    profile = profile_model(loaded, precision="fp32")
    return {
        "name": zoo.name,
        "task": zoo.task,
        "description": zoo.description,
        "params": int(profile.params),
        "macs": int(profile.macs),
        "default_resolution": zoo.default_resolution,
        "input_shapes": {k: list(v) for k, v in loaded.input_shapes.items()},
        "accepts": zoo.accepts,
        "aliases": list(zoo.aliases),
    }


def _si(value: int) -> str:
    """Scale a count for display only (records keep exact integers)."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {suffix}"
    return str(value)


def _print_table(rows: list[dict]) -> None:
    from rich.table import Table

    from accelbench.report.terminal import make_console

    console = make_console()
    table = Table(title="accelbench zoo (parameters and MACs at the default size, fp32 profile)")
    table.add_column("name", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("default size", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("accepts")
    for row in rows:
        inputs = ", ".join("x".join(str(d) for d in dims) for dims in row["input_shapes"].values())
        table.add_row(row["name"], row["task"], f"{row['params']:,}", _si(row["macs"]),
                      row["default_resolution"], inputs, row["accepts"])
    console.print(table)


@app.group("models", invoke_without_command=True)
@format_option(LIST_FORMATS)
@click.pass_context
def models_group(ctx: click.Context, output_format: str) -> None:
    """List the zoo models: task, parameters, MACs at the default size, the sizes each accepts."""
    if ctx.invoked_subcommand is not None:
        return
    from accelbench.models.registry import zoo_models

    fmt = check_format(output_format, LIST_FORMATS)
    rows = [_describe(zoo) for zoo in zoo_models()]
    if fmt == "json":
        echo_json(rows)
    else:
        _print_table(rows)


def _parse_seed(value: str | None) -> int:
    from accelbench.shapes import parse_whole_number

    return 0 if value is None else parse_whole_number(value, field="seed", minimum=0, examples="0 or 42")


def _check_output_path(output: str, force: bool) -> Path:
    path = Path(output)
    if path.is_dir():
        raise UserError(f"output: {output!r} is a directory; give a file path such as model.onnx")
    if path.exists() and not force:
        raise UserError(f"output: {output!r} already exists; pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output: directory {str(parent)!r} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK):
        raise UserError(f"output: directory {str(parent)!r} is not writable; choose another path")
    return path


@models_group.command("save")
@click.argument("name", metavar="NAME")
@resolution_option
@batch_option
@click.option("--seed", default=None, help="Seed of the random weights (default 0).")
@click.option("--output", "-o", required=True, help="File to write, e.g. resnet50.onnx.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def save_command(name: str, resolution: str | None, batch: str | None, seed: str | None, output: str,
                 force: bool) -> None:
    """Write zoo model NAME as an ONNX file (opset 17) with random weights from a fixed seed."""
    import onnx

    from accelbench.models.loader import load_model
    from accelbench.models.registry import find_zoo_model, zoo_models
    from accelbench.shapes import parse_batch

    zoo = find_zoo_model(name)
    if zoo is None:
        names = ", ".join(m.name for m in zoo_models())
        raise UserError(f"model: {name!r} is not a zoo model; choose one of: {names}")
    batch_size = parse_batch(batch) if batch is not None else 1
    seed_value = _parse_seed(seed)
    path = _check_output_path(output, force)
    loaded = load_model(zoo.name, resolution=resolution, batch=batch_size, with_weights=True, seed=seed_value)
    try:
        onnx.save(loaded.proto, str(path))
    except (OSError, ValueError) as exc:
        raise UserError(f"output: cannot write {output!r} ({exc.__class__.__name__}: {exc})") from None
    size_bytes = path.stat().st_size
    shapes = ", ".join(f"{k}={'x'.join(str(d) for d in v)}" for k, v in loaded.input_shapes.items())
    click.echo(f"wrote {zoo.name} ({shapes}, seed {seed_value}, {size_bytes / 1e6:.1f} MB) to {path}")


@models_group.command("closest")
@click.argument("model", metavar="MODEL")
@resolution_option
@batch_option
@input_shape_option
@format_option(LIST_FORMATS)
def closest_command(model: str, resolution: str | None, batch: str | None, input_shapes: tuple[str, ...],
                    output_format: str) -> None:
    """The zoo models most like MODEL (an .onnx file or a zoo name), from its static profile:
    MACs, parameters, peak activation memory, layer count and operator mix (docs/models.md)."""
    from accelbench.models.loader import load_model
    from accelbench.models.similarity import closest_zoo_models
    from accelbench.profile import profile_model
    from accelbench.shapes import parse_batch, parse_input_shapes

    fmt = check_format(output_format, LIST_FORMATS)
    loaded = load_model(model, resolution=resolution, batch=parse_batch(batch) if batch is not None else None,
                        input_shapes=parse_input_shapes(input_shapes), with_weights=False)
    found = closest_zoo_models(profile_model(loaded), resolution=resolution, exclude=loaded.name, limit=10)
    if fmt == "json":
        echo_json({"model": loaded.name, "closest": [s.to_dict() for s in found]})
        return
    from rich.table import Table

    from accelbench.report.terminal import make_console

    table = Table(title=f"zoo models closest to {loaded.name} (static profile; smaller distance = more alike)")
    for column in ("zoo model", "at", "distance", "largest differences"):
        table.add_column(column)
    for s in found:
        table.add_row(s.model, s.resolution, f"{s.distance:.2f}", s.why)
    make_console().print(table)
