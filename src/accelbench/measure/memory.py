"""Will a configuration fit in memory? Estimated from the static profile, before anything allocates.

``estimate_memory(profile, precision)`` adds up what a measurement must hold at once, at least:

* the weights twice (the ONNX graph in this process and the runtime's own copy; INT8 preparation
  holds one more copy while it quantizes);
* the peak live activations of one inference at the profiled batch (liveness over the execution
  order, profile/profiler.py), and the graph inputs and outputs (the host arrays and the runtime's),
  once per request in flight (``--streams N``; "auto" counts as 1, the least it tries);
* INT8 calibration: the calibration input sets (``calibration_count`` of them, 8 by default) and
  every layer's output of one calibration run, or of every run where the backend keeps them all
  (``Backend.calibration_keeps_every_run``: ONNX Runtime's MinMax calibrator makes every intermediate
  tensor a graph output and keeps each run's until the end).

It is deliberately a *lower* estimate (runtimes add arenas, workspaces and their own code on top):
a configuration above it cannot fit, one below it may still not. ``check_fits`` refuses a
configuration whose estimate exceeds the memory available now (the smaller of the system's
available memory and this process's cgroup limit less its usage) with a UserError that gives both
figures, so `-r 65536` or `--batch 65536` ends with one line instead of an out-of-memory kill
after minutes of allocation. The measurement's runner calls it for every configuration (bench,
run, sweeps) before the child process starts; `run --model` calls it while planning, before stage 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from accelbench.backends.base import backend_class
from accelbench.errors import UserError
from accelbench.profile.types import ModelProfile

DEFAULT_CALIBRATION_COUNT = 8  # the backends' default number of INT8 calibration input sets
_CGROUP = Path("/sys/fs/cgroup")


def _gib(nbytes: int) -> str:
    # report/units.py sits above this layer; an error message needs only GiB with one decimal
    return f"{nbytes / 2**30:,.1f} GiB"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a configuration needs at least, by part (see the module docstring)."""

    weights_bytes: int
    activation_bytes: int
    io_bytes: int
    calibration_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes + self.io_bytes + self.calibration_bytes

    def describe(self) -> str:
        parts = [f"weights {_gib(self.weights_bytes)}", f"activations {_gib(self.activation_bytes)}",
                 f"inputs/outputs {_gib(self.io_bytes)}"]
        if self.calibration_bytes:
            parts.append(f"INT8 calibration {_gib(self.calibration_bytes)}")
        return ", ".join(parts)


def estimate_memory(profile: ModelProfile, precision: str, *, calibration_count: int = DEFAULT_CALIBRATION_COUNT,
                    calibration_keeps_every_run: bool = False, streams: int = 1) -> MemoryEstimate:
    """The least memory a measurement of ``profile`` (an FP32 profile at the batch that will run)
    at ``precision`` holds at once; see the module docstring."""
    fp32_weights = sum(layer.params for layer in profile.layers) * 4
    int8 = precision == "int8"
    calibration = 0
    if int8:
        every_output = sum(layer.output_bytes for layer in profile.layers)
        kept_runs = calibration_count if calibration_keeps_every_run else 1
        calibration = calibration_count * profile.input_bytes + kept_runs * every_output
    return MemoryEstimate(
        weights_bytes=fp32_weights * (3 if int8 else 2),
        activation_bytes=streams * profile.peak_live_activation_bytes,
        io_bytes=streams * 2 * (profile.input_bytes + profile.output_bytes),
        calibration_bytes=calibration,
    )


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup (v2) still allows, or None without a limit."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((_CGROUP / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def available_memory_bytes() -> int:
    """Memory a new process can use now: the system's available memory, or less under a cgroup limit."""
    available = psutil.virtual_memory().available
    room = _cgroup_room()
    return available if room is None else min(available, room)


def check_fits(estimate: MemoryEstimate, what: str, available_bytes: int | None = None) -> None:
    """UserError when ``estimate`` exceeds the memory available (``available_bytes``, default: now)."""
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if estimate.total_bytes > available:
        raise UserError(
            f"memory: {what} needs at least {_gib(estimate.total_bytes)} ({estimate.describe()}), more than "
            f"the {_gib(available)} available here; use a smaller --resolution, --batch or --input-shape")


def check_profile_fits(profile: ModelProfile, precision: str, what: str, *, backend: str | None = None,
                       available_bytes: int | None = None, streams: int | str = 1) -> None:
    """``check_fits`` of ``estimate_memory`` for ``backend`` (a registered name; None or one that
    delegates: the least any would hold): the one call the runner and the planner make."""
    keeps = False
    if backend is not None:
        cls = backend_class(backend)
        keeps = cls.calibration_keeps_every_run and not cls.delegates
    in_flight = streams if isinstance(streams, int) else 1  # "auto" starts at 1
    check_fits(estimate_memory(profile, precision, calibration_keeps_every_run=keeps, streams=in_flight), what,
               available_bytes)
