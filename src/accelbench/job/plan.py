"""Plan the four-stage run: every configuration, its precisions and its backend, checked before
anything runs.

Sizes: the default plan measures ResNet-50 at 224 (batch 8, offline: how datasheets quote it)
and at 2 MP (batch 1: what an edge application needs), YOLOv3 at 1 MP (``--full``: 1, 2 and 4 MP),
and the user's model, each at FP32 and at the best reduced precision of this host. With a user
model, stage 3 also measures the zoo model closest to it (models/similarity.py; never YOLOv3,
which stage 3 measures anyway, nor the user's own) at the size the finder profiled it at. The
environment variable ACCELBENCH_TINY=1 shrinks every size (tests; the same code path).

Per-layer times: one configuration per stage (the one whose slowest layers the stage shows: its
main model's last size, at the reduced precision) gets a profiling pass after its timed runs
(``layer_runs`` profiled runs; measure/layers.py). ``layers=False`` (``run --no-layers``) skips it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from accelbench.backends.base import backend_class, backends_accepting, describe_sources, runnable_precisions
from accelbench.errors import UserError, choice_error, one_line
from accelbench.hardware.host import detect_host
from accelbench.measure.memory import check_profile_fits
from accelbench.models.loader import load_model
from accelbench.models.similarity import closest_zoo_models
from accelbench.profile import profile_model
from accelbench.profile.types import ModelProfile
from accelbench.results.summary import ClosestMeasured, Constraints
from accelbench.shapes import parse_resolution

TINY_ENV = "ACCELBENCH_TINY"
OBJECTIVES = ("latency", "throughput", "per-watt", "per-dollar")
STAGE_TITLES = {2: "ResNet-50, done right", 3: "a real-world model", 4: "your model"}
LAYER_RUNS = 10
TINY_LAYER_RUNS = 3
STAGE3_MODEL = "yolov3"


@dataclass(frozen=True)
class StageConfig:
    """One configuration to measure in a stage (the precision comes from the plan)."""

    stage: int
    model: str
    resolution: str | None
    batch: int
    scenario: str  # single-stream (batch 1, latency) or offline (throughput at a batch)
    label: str
    source: str = "zoo"
    layers: bool = False  # collect per-layer times at the plan's last precision (one configuration per stage)


@dataclass(frozen=True)
class RunPlan:
    configs: tuple[StageConfig, ...]
    precisions: tuple[str, ...]  # fp32 first, then the reduced precision
    backend: str  # a backend name, or "auto": resolved on the first configuration
    time_limit_s: float
    objective: str
    tiny: bool
    full: bool
    user_model: str | None = None
    user_resolution: str | None = None
    closest: ClosestMeasured | None = None  # stage 3's zoo model closest to the user's (record ids empty here)
    closest_error: str | None = None  # why there is none, when a user model was given
    layer_runs: int | None = None  # profiled runs of the per-layer pass; None: no per-layer times
    constraints: Constraints | None = None  # what the answer must meet (job/ranking.py)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise choice_error("objective", self.objective, OBJECTIVES)

    @property
    def measurements(self) -> int:
        return len(self.configs) * len(self.precisions)

    def estimated_duration_s(self) -> float:
        """A rough upper estimate: stage 1, then per measurement its time cap plus set-up
        (child start, model build, compile; INT8 calibration costs more)."""
        per_setup = 4.0 if self.tiny else 9.0
        calibration = 3.0 if self.tiny else 10.0
        reduced = sum(1 for p in self.precisions if p != "fp32")
        stage1 = 4.0 if self.tiny else 10.0
        layers = sum(1 for c in self.configs if c.layers) * (per_setup if self.layer_runs else 0.0)
        return (stage1 + self.measurements * (self.time_limit_s + per_setup) + len(self.configs) * reduced * calibration
                + layers)

    @property
    def layer_configs(self) -> int:
        """How many configurations get a per-layer profiling pass."""
        return sum(1 for c in self.configs if c.layers) if self.layer_runs else 0


def stage_sizes(tiny: bool, full: bool) -> dict[str, list[tuple[str, int, str]]]:
    """(resolution, batch, scenario) per stage model."""
    if tiny:
        return {
            "resnet50": [("64", 4, "offline"), ("128x96", 1, "single-stream")],
            "yolov3": [("128x96", 1, "single-stream")] + ([("160x96", 1, "single-stream")] if full else []),
        }
    return {
        "resnet50": [("224", 8, "offline"), ("2mp", 1, "single-stream")],
        "yolov3": [("1mp", 1, "single-stream")] + ([("2mp", 1, "single-stream"), ("4mp", 1, "single-stream")]
                                                    if full else []),
    }


def make_plan(*, model: str | None = None, resolution: str | None = None, full: bool = False,
              objective: str = "latency", backend: str = "auto", precisions: tuple[str, ...] | None = None,
              time_limit_s: float | None = None, tiny: bool | None = None, layers: bool = True,
              constraints: Constraints | None = None) -> RunPlan:
    """Validate the options and lay out every configuration before anything runs. ``layers``:
    collect per-layer times for one configuration per stage; ``constraints``: what the ranked
    answer must meet."""
    tiny = os.environ.get(TINY_ENV) == "1" if tiny is None else tiny
    if objective not in OBJECTIVES:
        raise choice_error("objective", objective, OBJECTIVES)
    sizes = stage_sizes(tiny, full)
    configs: list[StageConfig] = []
    last = len(sizes["resnet50"]) - 1
    for i, (res, batch, scenario) in enumerate(sizes["resnet50"]):
        configs.append(StageConfig(2, "resnet50", res, batch, scenario, f"ResNet-50 @ {res}, batch {batch}",
                                   layers=i == last))
    last = len(sizes[STAGE3_MODEL]) - 1
    for i, (res, batch, scenario) in enumerate(sizes[STAGE3_MODEL]):
        configs.append(StageConfig(3, STAGE3_MODEL, res, batch, scenario, f"YOLOv3 @ {res}, batch 1", layers=i == last))
    closest, closest_error = None, None
    if model is not None:
        if resolution is not None:
            parse_resolution(resolution)
        # Fail now, not after minutes of stages 1-3: load (weightless) to check the name/file and shapes,
        # and that its MACs can be counted (utilization and the projected ranking divide by them).
        loaded = load_model(model, resolution=resolution, batch=1, with_weights=False)
        profile = profile_model(loaded, "fp32")
        profile.require_counted_macs("its MAC utilization and the projected ranking")
        res = resolution if resolution is not None else (loaded.resolution.spec if loaded.resolution else None)
        closest, closest_error = closest_to(loaded, exclude=(model, loaded.name, STAGE3_MODEL), profile=profile)
        if closest is not None:
            configs.append(StageConfig(3, closest.model, closest.resolution, 1, "single-stream",
                                       f"{closest.model} @ {closest.resolution}, batch 1 (the zoo model closest to yours)"))
        configs.append(StageConfig(4, model, res, 1, "single-stream", f"{loaded.name} @ {res or 'its own shape'}, batch 1",
                                   source=loaded.source, layers=True))
    if precisions is None:
        precisions = ("fp32", best_reduced_precision(backend))
    check_precisions(backend, precisions)
    if model is not None:  # before stage 1, not after minutes of it
        for precision in precisions:
            check_profile_fits(profile, precision, f"--model {model} @ {res or 'its own size'}, {precision}",
                               backend=backend)
    limit = time_limit_s if time_limit_s is not None else (1.0 if tiny else 6.0)
    if limit <= 0:
        raise UserError(f"time-limit: must be a positive number of seconds; got {limit}")
    return RunPlan(tuple(configs), tuple(precisions), backend, limit, objective, tiny, full, model, resolution,
                   closest=closest, closest_error=closest_error,
                   layer_runs=(TINY_LAYER_RUNS if tiny else LAYER_RUNS) if layers else None,
                   constraints=constraints if constraints is not None and constraints.active else None)


def closest_to(loaded, *, exclude, profile: ModelProfile | None = None) -> tuple[ClosestMeasured | None, str | None]:
    """(the zoo model closest to ``loaded``, None) or (None, why there is none): the finder is a
    hint, never a reason to refuse the run. ``profile``: ``loaded``'s FP32 profile, when made already."""
    try:
        found = closest_zoo_models(profile or profile_model(loaded, "fp32"), exclude=exclude, limit=1)
    except Exception as exc:  # noqa: BLE001 - e.g. a graph the profiler cannot read
        return None, f"the closest-model finder failed: {one_line(exc)}"
    if not found:
        return None, "no zoo model is left to compare with"
    best = found[0]
    return ClosestMeasured(model=best.model, resolution=best.resolution, distance=best.distance, why=best.why,
                           size_note=best.size_note), None


def check_precisions(backend: str, precisions: tuple[str, ...], device: str = "cpu") -> None:
    """Refuse, before anything runs, a precision that no usable backend can run on ``device``."""
    cls = backend_class(backend)  # UserError for an unknown backend
    if "zoo" not in cls.accepts:
        raise UserError(f"backend: the four-stage run measures zoo models, which the {backend} backend cannot run; "
                        f"choose one of: {', '.join(backends_accepting('zoo'))} "
                        f"({backend} runs {describe_sources(cls.accepts)} in `accelbench bench`)")
    can = runnable_precisions(backend, device, "zoo")  # UserError for one not installed
    for precision in precisions:
        if precision not in can:
            raise UserError(f"precision: {precision!r} cannot run on {device} with "
                            f"{'any installed backend' if cls.delegates else backend}; "
                            f"possible: {', '.join(sorted(can)) or 'none'}")


def best_reduced_precision(backend: str) -> str:
    """INT8 where the CPU has integer dot-product hardware (VNNI/AMX-INT8: it runs faster than BF16);
    else BF16 where it has AMX/AVX512_BF16 and the backend can use it; else INT8."""
    host = detect_host(with_gpus=False)
    if any(host.has(f) for f in ("amx_int8", "avx512_vnni", "avx_vnni")):
        return "int8"

    if any(host.has(f) for f in ("amx_bf16", "avx512_bf16")) and "bf16" in runnable_precisions(backend, "cpu", "zoo"):
        return "bf16"
    return "int8"
