"""Plan the four-stage run: every configuration, its precisions and its backend, checked before
anything runs.

Sizes: the default plan measures ResNet-50 at 224 (batch 8, offline: how datasheets quote it)
and at 2 MP (batch 1: what an edge application needs), YOLOv3 at 1 MP (``--full``: 1, 2 and 4 MP),
and the user's model, each at FP32 and at the best reduced precision of this host. The
environment variable ACCELBENCH_TINY=1 shrinks every size (tests; the same code path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from accelbench.errors import UserError, choice_error

TINY_ENV = "ACCELBENCH_TINY"
OBJECTIVES = ("latency", "throughput", "per-watt", "per-dollar")
STAGE_TITLES = {2: "ResNet-50, done right", 3: "a real-world model", 4: "your model"}


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
        return stage1 + self.measurements * (self.time_limit_s + per_setup) + len(self.configs) * reduced * calibration


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
              time_limit_s: float | None = None, tiny: bool | None = None) -> RunPlan:
    """Validate the options and lay out every configuration before anything runs."""
    from accelbench.models.loader import load_model
    from accelbench.shapes import parse_resolution

    tiny = os.environ.get(TINY_ENV) == "1" if tiny is None else tiny
    if objective not in OBJECTIVES:
        raise choice_error("objective", objective, OBJECTIVES)
    sizes = stage_sizes(tiny, full)
    configs: list[StageConfig] = []
    for res, batch, scenario in sizes["resnet50"]:
        configs.append(StageConfig(2, "resnet50", res, batch, scenario, f"ResNet-50 @ {res}, batch {batch}"))
    for res, batch, scenario in sizes["yolov3"]:
        configs.append(StageConfig(3, "yolov3", res, batch, scenario, f"YOLOv3 @ {res}, batch 1"))
    if model is not None:
        if resolution is not None:
            parse_resolution(resolution)
        # Fail now, not after minutes of stages 1-3: load (weightless) to check the name/file and shapes,
        # and that its MACs can be counted (utilization and the projected ranking divide by them).
        loaded = load_model(model, resolution=resolution, batch=1, with_weights=False)
        from accelbench.profile import profile_model

        profile_model(loaded).require_counted_macs("its MAC utilization and the projected ranking")
        res = resolution if resolution is not None else (loaded.resolution.spec if loaded.resolution else None)
        configs.append(StageConfig(4, model, res, 1, "single-stream", f"{loaded.name} @ {res or 'its own shape'}, batch 1",
                                   source=loaded.source))
    if precisions is None:
        precisions = ("fp32", best_reduced_precision(backend))
    check_precisions(backend, precisions)
    limit = time_limit_s if time_limit_s is not None else (1.0 if tiny else 6.0)
    if limit <= 0:
        raise UserError(f"time-limit: must be a positive number of seconds; got {limit}")
    return RunPlan(tuple(configs), tuple(precisions), backend, limit, objective, tiny, full, model, resolution)


def check_precisions(backend: str, precisions: tuple[str, ...], device: str = "cpu") -> None:
    """Refuse, before anything runs, a precision that no usable backend can run on ``device``."""
    from accelbench.backends.base import backend_class, backends_accepting, describe_sources, runnable_precisions

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
    from accelbench.hardware.host import detect_host

    host = detect_host(with_gpus=False)
    if any(host.has(f) for f in ("amx_int8", "avx512_vnni", "avx_vnni")):
        return "int8"
    from accelbench.backends.base import runnable_precisions

    if any(host.has(f) for f in ("amx_bf16", "avx512_bf16")) and "bf16" in runnable_precisions(backend, "cpu", "zoo"):
        return "bf16"
    return "int8"
