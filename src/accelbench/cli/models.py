"""`accelbench models`: list the zoo; `models save`: write one as an ONNX file; `models closest`:
the zoo models most like a given one.

The list shows, for every registered zoo model, the applications it stands for and its parameters,
MACs and layers at its default size as the static profiler counts them (accelbench.profile, fp32;
MAC = multiply-accumulate of Conv/Gemm/MatMul/LSTM/GRU, see docs/profiling.md), built without
weights so listing allocates none (all of them profile in about a second).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from accelbench.cli import app
from accelbench.cli.common import (
    batch_option,
    check_format,
    echo_json,
    format_option,
    input_shape_option,
    number_option,
    resolution_option,
    warn_unknown_layers,
)
from accelbench.errors import UserError, one_line
from accelbench.files import write_atomically
from accelbench.models.loader import load_model
from accelbench.models.registry import find_zoo_model, zoo_models
from accelbench.models.similarity import closest_zoo_models, input_size_of, profile_features
from accelbench.profile import profile_model
from accelbench.report.terminal import make_console
from accelbench.report.units import fmt_rate
from accelbench.shapes import parse_input_shapes

LIST_FORMATS = ("table", "json")


def _describe(zoo) -> dict:
    """One row of the listing: figures from the static profiler at the model's default size."""
    loaded = load_model(zoo.name, with_weights=False)
    profile = profile_model(loaded, precision="fp32")
    return {
        "name": zoo.name,
        "task": zoo.task,
        "network_kind": profile.network_kind,
        "description": zoo.description,
        "stands_for": zoo.stands_for,
        "params": int(profile.params),
        "macs": int(profile.macs),
        "layers": profile.layer_count,
        "default_resolution": zoo.default_resolution,
        "size_kind": zoo.size_kind,
        "input_shapes": {k: list(v) for k, v in loaded.input_shapes.items()},
        "accepts": zoo.accepts,
        "aliases": list(zoo.aliases),
        "source": zoo.source,
    }


def _print_table(rows: list[dict]) -> None:
    table = Table(title="accelbench zoo (parameters, MACs and layers at the default size, fp32 profile)")
    for column in ("name", "task", "params", "MACs", "layers", "default", "accepts", "stands for"):
        table.add_column(column, justify="right" if column in ("params", "MACs", "layers") else "left",
                         no_wrap=column not in ("accepts", "stands for"), ratio=3 if column == "stands for" else None)
    for row in rows:
        table.add_row(row["name"], row["task"], f"{row['params']:,}", fmt_rate(row["macs"], ""), str(row["layers"]),
                      row["default_resolution"], row["accepts"], row["stands_for"])
    make_console().print(table)


@app.group("models", invoke_without_command=True)
@format_option(LIST_FORMATS)
@click.pass_context
def models_group(ctx: click.Context, output_format: str) -> None:
    """List the zoo models: what each stands for, task, parameters, MACs and layers at the default
    size, the sizes each accepts (docs/models.md)."""
    if ctx.invoked_subcommand is not None:
        return
    fmt = check_format(output_format, LIST_FORMATS)
    rows = [_describe(zoo) for zoo in zoo_models()]
    if fmt == "json":
        echo_json(rows)
    else:
        _print_table(rows)


def _check_output_path(output: str, force: bool) -> Path:
    path = Path(output)
    if path.is_dir():
        raise UserError(f"output: {output!r} is a directory; give a file path such as model.onnx")
    if os.path.lexists(path) and not force:  # a symlink, even a dangling one, is something there
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
@number_option("--seed", default=None, help="Seed of the random weights (default 0).")
@click.option("--output", "-o", required=True, help="File to write, e.g. resnet50.onnx.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def save_command(name: str, resolution: str | None, batch: int | None, seed: int | None, output: str,
                 force: bool) -> None:
    """Write zoo model NAME as an ONNX file (opset 17) with random weights from a fixed seed."""
    zoo = find_zoo_model(name)
    if zoo is None:
        names = ", ".join(m.name for m in zoo_models())
        raise UserError(f"model: {name!r} is not a zoo model; choose one of: {names}")
    batch_size = batch or 1
    seed_value = seed or 0
    path = _check_output_path(output, force)
    loaded = load_model(zoo.name, resolution=resolution, batch=batch_size, with_weights=True, seed=seed_value)
    try:
        # A temp file renamed over the output: a kill mid-write keeps the old file; a symlink there is replaced.
        write_atomically(path, loaded.proto.SerializeToString())
    except (OSError, ValueError) as exc:
        raise UserError(f"output: cannot write {output!r} ({exc.__class__.__name__}: {one_line(exc)})") from None
    size_bytes = path.stat().st_size
    shapes = ", ".join(f"{k}={'x'.join(str(d) for d in v)}" for k, v in loaded.input_shapes.items())
    click.echo(f"wrote {zoo.name} ({shapes}, seed {seed_value}, {size_bytes / 1e6:.1f} MB) to {path}")


@models_group.command("closest")
@click.argument("model", metavar="MODEL")
@resolution_option
@batch_option
@input_shape_option
@format_option(LIST_FORMATS)
@number_option("--limit", default=None, metavar="N", help="How many zoo models to rank (default: all).")
def closest_command(model: str, resolution: str | None, batch: int | None, input_shapes: tuple[str, ...],
                    output_format: str, limit: int | None) -> None:
    """The zoo models most like MODEL (an .onnx file, a zoo name or a torch: spec), from static profiles
    at MODEL's input size: op-type mix by MACs, MACs, parameters, layers, activation memory,
    arithmetic-intensity distribution and network kind (docs/models.md, "closest")."""
    fmt = check_format(output_format, LIST_FORMATS)
    count = len(zoo_models()) if limit is None else limit
    loaded = load_model(model, resolution=resolution, batch=batch, input_shapes=parse_input_shapes(input_shapes),
                        with_weights=False)
    profile = profile_model(loaded)
    warn_unknown_layers(profile, "the comparison sees only the layers that were resolved")
    size = input_size_of(profile)
    found = closest_zoo_models(profile, exclude=loaded.name if loaded.source == "zoo" else None, limit=count)
    if fmt == "json":
        echo_json({"model": loaded.name, "input_size": None if size is None else {"kind": size.kind, "spec": size.spec},
                   "features": profile_features(profile).to_dict(), "closest": [s.to_dict() for s in found],
                   "unknown_layers": profile.unknown_layers.to_dict()})
        return
    at = "its default sizes" if size is None else f"{size.kind} size {size.spec}"
    table = Table(title=f"zoo models closest to {escape(loaded.name)} ({profile.network_kind}), profiled at {at}"
                        " (smaller distance = more alike)")
    for column in ("#", "zoo model", "kind", "at", "distance", "largest differences"):
        table.add_column(column, no_wrap=column != "largest differences")
    for rank, s in enumerate(found, start=1):
        at_size = s.resolution + (" *" if s.size_note else "")
        table.add_row(str(rank), s.model, s.kind, at_size, f"{s.distance:.2f}", s.why)
    console = make_console()
    console.print(table)
    if any(s.size_note for s in found):
        console.print("* not at your size: " + "; ".join(f"{s.model} {s.size_note}" for s in found if s.size_note))
