"""Sweep plans: a TOML file that names axes, rules and measurement settings (docs/sweep.md).

```toml
name = "edge candidates"                 # optional
[axes]
models = ["resnet50", "models/my.onnx"]  # zoo names, ONNX files (relative to this file), torch: specs
resolutions = ["224", "2mp"]             # default: each model's own ("default")
batches = [1, 8]                         # default [1]
precisions = ["fp32", "int8"]            # default ["fp32"]
backends = ["onnxruntime", "openvino"]   # default ["onnxruntime"]
scenarios = ["single-stream", "offline"] # default ["single-stream"]
devices = ["cpu"]                        # cpu, gpu, all, or ids like gpu:nvidia-a100 (default ["cpu"])
[measure]
time_limit_s = 2.0                       # and mode, target_ci, timeout_s, threads, seed, target_qps, latency_bound_ms,
                                         # streams (N or "auto"), iterations, min_duration_s, inputs, calibration_data
[[exclude]]                              # drop every combination matching ALL the keys it names
backends = "openvino"
precisions = "int8"
[[include]]                              # add combinations: the keys it names x every value of the others
models = "yolov3"
resolutions = "1mp"
```

Expansion: the product of the axes, minus what an ``exclude`` rule matches, plus what each
``include`` adds (excludes do not apply to includes, as in GitHub Actions' matrix), duplicates
removed, in plan order. Combinations that cannot run by construction (single-stream measures
batch 1; a backend runs only the model sources it accepts: torch runs torch: specs only) are
dropped and counted. Everything is
checked when the plan is read, before anything runs: an unknown key or a bad value is one
UserError line naming where it is, what is allowed and what was given ("did you mean ...").
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from dataclasses import dataclass, field, fields, replace
from itertools import product
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from accelbench.bounds import NUMBER_OPTIONS
from accelbench.backends.base import backend_class, backend_names, describe_sources
from accelbench.errors import UserError
from accelbench.measure.runner import CONCURRENT_SCENARIOS
from accelbench.models.registry import find_zoo_model, zoo_models
from accelbench.models.torch_export import parse_torch_spec
from accelbench.precision import PRECISIONS, parse_precision
from accelbench.results.records import MODES, SCENARIOS, BenchConfig
from accelbench.shapes import parse_batch, parse_resolution
from accelbench.sources import is_torch_spec
from accelbench.sweep.devices import DEVICE_GROUPS, DeviceId, parse_device_id, resolve_devices
from accelbench.sweep.identity import config_hash

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PLAN_KEYS = ("name", "description", "axes", "measure", "exclude", "include")
AXES = ("models", "resolutions", "batches", "precisions", "backends", "scenarios", "devices")
DEFAULT_RESOLUTION = "default"  # the resolutions value for "the model's own input size"
AXIS_DEFAULTS: dict[str, tuple] = {"resolutions": (DEFAULT_RESOLUTION,), "batches": (1,), "precisions": ("fp32",),
                                   "backends": ("onnxruntime",), "scenarios": ("single-stream",), "devices": ("cpu",)}
MEASURE_KEYS = ("mode", "time_limit_s", "target_ci", "timeout_s", "threads", "seed", "target_qps", "latency_bound_ms",
                "streams", "iterations", "min_duration_s", "inputs", "calibration_data")
# [measure] key -> the CLI option whose bounds it shares (bounds.NUMBER_OPTIONS)
MEASURE_OPTIONS = {"time_limit_s": "time-limit", "target_ci": "target-ci", "timeout_s": "timeout", "threads": "threads",
                   "seed": "seed", "target_qps": "target-qps", "latency_bound_ms": "latency-bound-ms"}
DEFAULT_TIME_LIMIT_S = 10.0
# The bounds of `bench --streams/--iterations/--min-duration` (bounds.NUMBER_OPTIONS), checked with their
# own messages (streams may also be "auto"): key -> (int or float, lowest, highest, lowest excluded).
MEASURE_BOUNDS: dict[str, tuple[type, float, float, bool]] = {
    key: (NUMBER_OPTIONS[option].kind, NUMBER_OPTIONS[option].minimum, NUMBER_OPTIONS[option].maximum,
          NUMBER_OPTIONS[option].above)
    for key, option in (("streams", "streams"), ("iterations", "iterations"), ("min_duration_s", "min-duration"))}
DATA_KEYS = ("inputs", "calibration_data")  # the user's data: a .npz/.npy file or a folder, relative to the plan


def did_you_mean(value: object, allowed: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(str(value).lower(), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_key(where: str, key: str, allowed: Sequence[str]) -> UserError:
    return UserError(f"plan {where}: unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class Measure:
    """Measurement settings shared by every configuration of the plan (BenchConfig's meaning)."""

    mode: str = "quick"
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    target_ci: float = 0.02
    timeout_s: float | None = None  # per configuration; None: from the time limit (measure.runner)
    threads: int | None = None
    seed: int = 0
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    # the conventions of `bench` (docs/measurement.md): requests in flight, a fixed count, a minimum duration
    streams: int | str = 1
    iterations: int | None = None
    min_duration_s: float | None = None
    inputs: str | None = None  # absolute paths by then (see ``_measure``)
    calibration_data: str | None = None

    def bench_fields(self) -> dict[str, Any]:
        return dict(mode=self.mode, time_limit_s=self.time_limit_s, target_rel_ci=self.target_ci,
                    threads=self.threads, seed=self.seed, target_qps=self.target_qps,
                    latency_bound_ns=int(self.latency_bound_ms * 1e6) if self.latency_bound_ms else None,
                    streams=self.streams, iterations=self.iterations, min_duration_s=self.min_duration_s,
                    inputs=self.inputs, calibration_data=self.calibration_data)


@dataclass(frozen=True)
class AxisValues:
    """Values per axis, normalized (zoo aliases -> names, files -> absolute paths, sizes -> specs).
    In a rule, None means the rule does not name that axis."""

    models: tuple[str, ...] | None = None
    resolutions: tuple[str, ...] | None = None
    batches: tuple[int, ...] | None = None
    precisions: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    scenarios: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None  # groups (cpu, gpu, all) or device ids, as text

    def named(self) -> dict[str, tuple]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Combination:
    model: str
    resolution: str
    batch: int
    precision: str
    backend: str
    scenario: str
    device: DeviceId

    def matches(self, rule: AxisValues) -> bool:
        """True when every axis the rule names holds this combination's value."""
        for axis, values in rule.named().items():
            if axis == "devices":
                if not any(_device_matches(self.device, v) for v in values):
                    return False
            elif getattr(self, _AXIS_FIELD[axis]) not in values:
                return False
        return True


_AXIS_FIELD = {"models": "model", "resolutions": "resolution", "batches": "batch", "precisions": "precision",
               "backends": "backend", "scenarios": "scenario", "devices": "device"}


def _device_matches(device: DeviceId, value: str) -> bool:
    return value == "all" or value == device.kind or value == str(device)


@dataclass(frozen=True)
class SweepItem:
    """One configuration of a sweep: what to measure, on which device, and its stable hash."""

    config: BenchConfig
    device: DeviceId
    config_hash: str
    layer_runs: int | None = None  # also collect per-layer times over this many profiled runs (`run --cluster`)

    @property
    def label(self) -> str:
        cfg = self.config
        model = os.path.basename(cfg.model) if cfg.source == "file" else cfg.model
        return (f"{model} @ {cfg.resolution or DEFAULT_RESOLUTION}, batch {cfg.batch}, {cfg.precision}, "
                f"{cfg.backend}, {cfg.scenario} on {self.device}")


@dataclass(frozen=True)
class Expansion:
    items: tuple[SweepItem, ...]
    dropped: tuple[tuple[str, int], ...] = ()  # (why, how many combinations)


@dataclass(frozen=True)
class SweepPlan:
    name: str
    axes: AxisValues  # every axis set (defaults filled in)
    measure: Measure = field(default_factory=Measure)
    exclude: tuple[AxisValues, ...] = ()
    include: tuple[AxisValues, ...] = ()
    description: str = ""

    def expand(self, available: Sequence[DeviceId], where: str = "this machine") -> Expansion:
        """Every configuration, on the devices among ``available`` (the executor's) that the plan
        names; a device group or id the plan names that is not available is a UserError."""
        for rule in (self.axes, *self.include):
            if rule.devices is not None:
                resolve_devices(rule.devices, available, where)
        combos = [c for c in self._product(self.axes, available) if not any(c.matches(r) for r in self.exclude)]
        for rule in self.include:
            combos += self._product(replace(self.axes, **rule.named()), available)
        kept, dropped = [], {}
        for combo in dict.fromkeys(combos):
            why = cannot_run(combo, self.measure)
            if why:
                dropped[why] = dropped.get(why, 0) + 1
            else:
                kept.append(combo)
        for model, resolution in dict.fromkeys((c.model, c.resolution) for c in kept):
            check_size(model, resolution)
        return Expansion(tuple(self._item(c) for c in kept), tuple(dropped.items()))

    def _product(self, axes: AxisValues, available: Sequence[DeviceId]) -> list[Combination]:
        chosen = [d for d in available if any(_device_matches(d, v) for v in axes.devices)]
        return [Combination(*values) for values in product(axes.models, axes.resolutions, axes.batches,
                                                            axes.precisions, axes.backends, axes.scenarios, chosen)]

    def _item(self, combo: Combination) -> SweepItem:
        source = _source(combo.model)
        settings = self.measure.bench_fields()
        # streams are for the throughput scenarios, calibration data for INT8: the others measure as without them
        if combo.scenario not in CONCURRENT_SCENARIOS:
            settings["streams"] = 1
        if combo.precision != "int8":
            settings["calibration_data"] = None
        config = BenchConfig(model=combo.model, source=source,
                             resolution=None if combo.resolution == DEFAULT_RESOLUTION else combo.resolution,
                             batch=combo.batch, backend=combo.backend, device=combo.device.bench_device(combo.backend),
                             precision=combo.precision, scenario=combo.scenario, **settings)
        return SweepItem(config, combo.device, config_hash(config, str(combo.device)))


def check_size(model: str, resolution: str) -> None:
    """A zoo model must take the input size (YOLOv3: multiples of 32): a UserError before anything runs."""
    zoo = find_zoo_model(model)
    if zoo is None or zoo.validate is None or os.path.isabs(model):
        return
    try:
        zoo.validate(parse_resolution(zoo.default_resolution if resolution == DEFAULT_RESOLUTION else resolution))
    except UserError as exc:
        raise UserError(f"plan: {model} cannot take resolution {resolution} ({exc}); change the resolutions or add"
                        f" an [[exclude]] with models = \"{model}\" and resolutions = \"{resolution}\"") from None


def cannot_run(combo: Combination, measure: Measure) -> str | None:
    """Why a combination cannot run by construction (it is dropped), or None."""
    if measure.mode == "quick" and combo.scenario == "single-stream" and combo.batch != 1:
        return "single-stream measures batch 1 (use offline for a batch)"
    accepts = backend_class(combo.backend).accepts
    if _source(combo.model) not in accepts:
        return f"the {combo.backend} backend runs {describe_sources(accepts)} only"
    return None


def _source(model: str) -> str:
    """The source of a normalized model value (files are absolute paths by then: see ``_model``)."""
    return "torch" if is_torch_spec(model) else "file" if os.path.isabs(model) else "zoo"


# -- reading ---------------------------------------------------------------------------------------


def load_plan(path: str | os.PathLike) -> SweepPlan:
    """Read and check a plan file (TOML); relative model paths are relative to the file."""
    plan_path = Path(path)
    if not plan_path.is_file():
        raise UserError(f"plan: {str(path)!r} is not a file; give a sweep plan (.toml, see docs/sweep.md)")
    try:
        text = plan_path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"plan: {str(path)!r} cannot be read ({exc})") from None
    return parse_plan(text, base_dir=plan_path.resolve().parent, default_name=plan_path.stem)


def parse_plan(text: str, *, base_dir: str | os.PathLike = ".", default_name: str = "sweep") -> SweepPlan:
    """Check every key and value of a TOML plan; UserError (one line) at the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"plan: not valid TOML ({exc})") from None
    for key in data:
        if key not in PLAN_KEYS:
            raise _unknown_key("(top level)", key, PLAN_KEYS)
    base = Path(base_dir)
    axes_table = _table(data, "axes")
    if "models" not in axes_table:
        raise UserError("plan [axes]: 'models' is missing; name at least one model (zoo name, .onnx file or torch: spec)")
    axes = _axis_values(axes_table, "[axes]", base)
    axes = replace(axes, **{axis: default for axis, default in AXIS_DEFAULTS.items() if getattr(axes, axis) is None})
    rules = {}
    for kind in ("exclude", "include"):
        entries = data.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise UserError(f"plan: {kind} must be an array of tables ([[{kind}]]); got {type(entries).__name__}")
        parsed = []
        for number, entry in enumerate(entries, 1):
            if not entry:
                raise UserError(f"plan [[{kind}]] #{number}: empty; name at least one axis ({', '.join(AXES)})")
            parsed.append(_axis_values(entry, f"[[{kind}]] #{number}", base))
        rules[kind] = tuple(parsed)
    name = data.get("name", default_name)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise UserError(f"plan: {key} must be a string; got {value!r}")
    return SweepPlan(name=name.strip() or default_name, axes=axes, measure=_measure(_table(data, "measure"), base),
                     exclude=rules["exclude"], include=rules["include"], description=description)


def _table(data: Mapping, key: str) -> Mapping:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UserError(f"plan: [{key}] must be a table; got {type(value).__name__} {value!r}")
    return value


def _axis_values(table: Mapping, where: str, base: Path) -> AxisValues:
    values = {}
    for axis, raw in table.items():
        if axis not in AXES:
            raise _unknown_key(where, axis, AXES)
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise UserError(f"plan {where}: {axis} is empty; give at least one value")
        normalize = _NORMALIZERS[axis]
        out = []
        for item in items:
            if isinstance(item, (dict, list)) or isinstance(item, bool):
                raise UserError(f"plan {where}: {axis} holds {item!r}; give strings or numbers")
            try:
                out.append(normalize(item, base))
            except UserError as exc:
                raise UserError(f"plan {where}: {axis}: {exc}") from None
        values[axis] = tuple(dict.fromkeys(out))
    return AxisValues(**values)


def _model(value, base: Path) -> str:
    text = str(value).strip()
    if is_torch_spec(text):
        parse_torch_spec(text)  # the syntax only: the module is imported where it runs
        return text
    path = (base / text) if not os.path.isabs(text) else Path(text)
    if path.is_file():
        return str(path.resolve())
    zoo = find_zoo_model(text)
    if zoo is not None:
        return zoo.name
    names = [m.name for m in zoo_models()]
    raise UserError(f"{text!r} is neither a zoo model nor an existing file{did_you_mean(text, names)};"
                    f" zoo models: {', '.join(names)}")


def _resolution(value, base: Path) -> str:
    text = str(value).strip().lower()
    return DEFAULT_RESOLUTION if text == DEFAULT_RESOLUTION else parse_resolution(text).spec


def _batch(value, base: Path) -> int:
    if isinstance(value, float):
        raise UserError(f"batch: must be a positive integer such as 1 or 32; got {value!r}")
    return parse_batch(value)


def _precision(value, base: Path) -> str:
    try:
        return parse_precision(str(value))
    except UserError as exc:
        raise UserError(f"{exc}{did_you_mean(value, PRECISIONS)}") from None


def _choice(field_name: str, allowed_of):
    def normalize(value, base: Path) -> str:
        allowed = allowed_of()
        key = str(value).strip().lower()
        if key not in allowed:
            raise UserError(f"{field_name}: {value!r} is not allowed{did_you_mean(key, allowed)};"
                            f" choose one of: {', '.join(allowed)}")
        return key
    return normalize


def _backend_names() -> tuple[str, ...]:
    return tuple(backend_names())


def _device(value, base: Path) -> str:
    key = str(value).strip().lower()
    if key in DEVICE_GROUPS:
        return key
    if ":" not in key:
        raise UserError(f"{value!r} is not a device{did_you_mean(key, DEVICE_GROUPS)}; give one of:"
                        f" {', '.join(DEVICE_GROUPS)} or an id KIND:NAME such as cpu:amd-epyc-7763")
    return str(parse_device_id(str(value).strip()))


_NORMALIZERS = {"models": _model, "resolutions": _resolution, "batches": _batch, "precisions": _precision,
                "backends": _choice("backend", _backend_names), "scenarios": _choice("scenario", lambda: SCENARIOS),
                "devices": _device}


def _bounded(key: str, value) -> int | float:
    """A [measure] number under MEASURE_BOUNDS (the CLI's bounds for the same setting)."""
    kind, low, high, above = MEASURE_BOUNDS[key]
    whole = kind is int
    fits = (not isinstance(value, bool) and isinstance(value, int if whole else (int, float)) and math.isfinite(value)
            and (value > low if above else value >= low) and value <= high)
    if not fits:
        what = f"an integer from {low:,} to {high:,}" if whole else f"a number above {low:g}, at most {high:,g}"
        raise UserError(f"plan [measure]: {key} must be {what}"
                        + (' or "auto"' if key == "streams" else "") + f"; got {value!r}")
    return value if whole else float(value)


def _data_path(key: str, value, base: Path) -> str:
    """--inputs / --calibration-data of a plan: an existing .npz/.npy file or folder, relative to the plan."""
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"plan [measure]: {key} must be the path of an .npz/.npy file or a folder of them; got {value!r}")
    path = Path(value.strip())
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise UserError(f"plan [measure]: {key}: {value!r} does not exist (relative paths are relative to the plan"
                        f" file: {path})")
    return str(path.resolve())


def _measure(table: Mapping, base: Path = Path(".")) -> Measure:
    for key in table:
        if key not in MEASURE_KEYS:
            raise _unknown_key("[measure]", key, MEASURE_KEYS)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "streams" and isinstance(value, str) and value.strip().lower() == "auto":
            values[key] = "auto"
        elif key in MEASURE_BOUNDS:
            values[key] = _bounded(key, value)
        elif key in DATA_KEYS:
            values[key] = _data_path(key, value, base)
        elif key == "mode":
            try:
                values[key] = _choice("mode", lambda: MODES)(value, Path("."))
            except UserError as exc:  # every refusal of a plan says where it is
                raise UserError(f"plan [measure]: {exc}") from None
        elif key in ("threads", "seed"):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "threads" else 0):
                raise UserError(f"plan [measure]: {key} must be a {'positive' if key == 'threads' else 'non-negative'}"
                                f" integer; got {value!r}")
            values[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise UserError(f"plan [measure]: {key} must be a positive finite number; got {value!r}")
            values[key] = float(value)  # 2 and 2.0 are one setting: one hash
    if values.get("mode") == "mlperf":
        for key in ("iterations", "min_duration_s"):
            if key in values:
                raise UserError(f"plan [measure]: {key} is not for mode \"mlperf\" (LoadGen's rules fix the query"
                                f" count and the duration); got {key} = {table[key]!r}")
    if "target_ci" in values and not values["target_ci"] < 1:
        raise UserError(f"plan [measure]: target_ci must be a fraction in (0, 1) such as 0.02; got {values['target_ci']!r}")
    for key, value in values.items():
        rule = NUMBER_OPTIONS.get(MEASURE_OPTIONS.get(key, ""))
        if rule is not None and not rule.admits(value):  # the bounds of the same option on the command line
            raise UserError(f"plan [measure]: {key} must be {rule.allowed} (as --{MEASURE_OPTIONS[key]}); got {value!r}")
    return Measure(**values)
