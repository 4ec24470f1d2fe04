"""Measured GEMM peak of this CPU: fp32 through numpy, and each precision through every backend that
builds a GEMM in its runtime (``Backend.gemm_kernel``: OpenVINO's fp32/bf16/int8 today); where
more than one measures a precision, the fastest counts.

Ops are counted 2 per MAC: a square n x n x n GEMM is 2 n^3 ops. Each measurement warms up once,
then repeats within a time budget and keeps the best (shortest) run, because the peak is the
question (not the typical speed); all run times are kept in ``run_times_ns``, and their spread
(median / best - 1) says how steady the machine was while it measured.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Mapping

import numpy as np

from accelbench.backends.base import GemmKernel, registered_backends
from accelbench.errors import UserError
from accelbench.hardware.host import (
    CpuPeak, HostInfo, MeasuredPeak, detect_host, host_device_spec, save_measured_peaks, theoretical_peaks,
)

GEMM_PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class GemmMeasurement:
    """One measured GEMM peak. ops_per_s from the best run; precision_executed as the runtime reports."""

    precision: str  # asked for
    n: int  # square matrix side
    ops_per_s: float | None  # None: not measured (see note)
    run_times_ns: tuple[int, ...]
    runtime: str  # "numpy 2.1 (openblas)", "openvino 2025.1"
    precision_executed: str
    precision_source: str  # how precision_executed is known
    note: str = ""
    measured_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UserError(f"gemm size: must be a positive integer; got {self.n}")

    @property
    def spread(self) -> float | None:
        """Median run time / best run time - 1 (0 = every run as fast as the best); None without runs."""
        if not self.run_times_ns:
            return None
        return statistics.median(self.run_times_ns) / min(self.run_times_ns) - 1.0

    @property
    def how(self) -> str:
        return f"{self.n}^3 GEMM on {self.runtime}, best of {len(self.run_times_ns)}, ran as {self.precision_executed}"

    def as_peak(self) -> MeasuredPeak | None:
        """The hardware.host.MeasuredPeak this measurement stands for (None when it did not run)."""
        return MeasuredPeak(self.ops_per_s, self.how, self.spread, self.measured_at) if self.ops_per_s else None


def _square_ops(n: int) -> float:
    return 2.0 * n**3


def _time_runs(fn, budget_s: float, min_runs: int = 3, max_runs: int = 50) -> list[int]:
    fn()  # warm-up: thread pools, page faults, JIT kernels
    times: list[int] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return times


def _blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")  # numpy >= 1.25
        return config["Build Dependencies"]["blas"]["name"]
    except Exception:  # older numpy: the name is only cosmetic
        return "blas"


def measure_numpy_fp32(n: int = 2048, budget_s: float = 2.0, seed: int = 0) -> GemmMeasurement:
    """Best fp32 ``a @ b`` of two n x n matrices through numpy's BLAS, all threads."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    times = _time_runs(lambda: np.matmul(a, b, out=out), budget_s)
    return GemmMeasurement("fp32", n, _square_ops(n) / (min(times) / 1e9), tuple(times),
                           f"numpy {np.__version__} ({_blas_name()})", "fp32", "numpy dtype")


def _measure_kernel(kernel: GemmKernel, budget_s: float) -> GemmMeasurement:
    """Time a backend's GEMM kernel (or pass on why it cannot run)."""
    if kernel.run is None:
        return GemmMeasurement(kernel.precision, kernel.n, None, (), kernel.runtime, kernel.precision_executed,
                               kernel.precision_source, kernel.note)
    times = _time_runs(kernel.run, budget_s)
    return GemmMeasurement(kernel.precision, kernel.n, _square_ops(kernel.n) / (min(times) / 1e9), tuple(times),
                           kernel.runtime, kernel.precision_executed, kernel.precision_source, kernel.note)


def measure_precision(precision: str, n: int = 2048, budget_s: float = 2.0) -> GemmMeasurement:
    """The best GEMM at ``precision``: numpy (fp32) and every registered backend's kernel, the fastest
    counting (its note then names every one that ran); one not-measured entry when none ran."""
    if precision not in GEMM_PRECISIONS:
        raise UserError(f"gemm precision: {precision!r} is not measured; choose one of: {', '.join(GEMM_PRECISIONS)}")
    candidates = [measure_numpy_fp32(n, budget_s)] if precision == "fp32" else []
    for backend in registered_backends():
        kernel = backend.gemm_kernel(n, precision)
        if kernel is not None:
            candidates.append(_measure_kernel(kernel, budget_s))
    if not candidates:
        return GemmMeasurement(precision, n, None, (), "none", "none", "not run",
                               f"not measured: no installed backend builds a {precision} GEMM")
    ran = [c for c in candidates if c.ops_per_s]
    if len(candidates) == 1 or not ran:
        return candidates[0]
    # numpy's BLAS may be held back here (OPENBLAS_CORETYPE), so a runtime's own GEMM, the kernels
    # inference uses, is measured too; the faster one is the measured peak.
    best = max(ran, key=lambda c: c.ops_per_s)
    every = "; ".join(f"{c.runtime}: {c.ops_per_s / 1e9:,.0f} GFLOP/s" for c in ran)
    return replace(best, note=(best.note + " " if best.note else "") + f"fastest of {every}")


def measure_host_gemm(n: int = 2048, budget_s: float = 2.0,
                      precisions: tuple[str, ...] = GEMM_PRECISIONS) -> list[GemmMeasurement]:
    """One GemmMeasurement per precision in GEMM_PRECISIONS (others are skipped); ``budget_s`` per run
    (plus one warm-up)."""
    return [measure_precision(p, n, budget_s) for p in precisions if p in GEMM_PRECISIONS]


def remember_measurements(info: HostInfo, measurements: list[GemmMeasurement]) -> dict[str, MeasuredPeak]:
    """Keep measured peaks for later records' utilization where they replace the remembered ones (higher
    or quieter: accelbench.hardware.host.save_measured_peaks); returns precision -> MeasuredPeak kept."""
    return save_measured_peaks(info, {m.precision: m.as_peak() for m in measurements if m.ops_per_s})


@dataclass(frozen=True)
class HostPeaks:
    """This CPU's peaks (`accelbench tops host`): theoretical for each precision asked for, the
    measured GEMM peaks of those that can be measured (none when not measured), and the peaks
    remembered for later records after this measurement (an earlier one stays when it was higher or
    quieter)."""

    info: HostInfo
    theoretical: tuple[CpuPeak, ...]
    measured: tuple[GemmMeasurement, ...] = ()
    remembered: Mapping[str, MeasuredPeak] = field(default_factory=dict)


def host_peaks(precision: str | None = None, *, measure: bool = True, n: int = 2048,
               budget_s: float = 2.0) -> HostPeaks:
    """Detect this CPU; its theoretical peak at ``precision`` (None: every precision it has) and, with
    ``measure``, the GEMM peak of each of those that GEMM_PRECISIONS covers, remembered for later
    records where it replaces the remembered one."""
    info = detect_host()
    wanted = host_device_spec(info).precisions_for(precision)
    theoretical = tuple(p for p in theoretical_peaks(info) if p.precision in wanted)
    if not measure:
        return HostPeaks(info, theoretical)
    measurements = measure_host_gemm(n, budget_s, tuple(p.precision for p in theoretical if p.precision in GEMM_PRECISIONS))
    kept = remember_measurements(info, measurements)
    return HostPeaks(info, theoretical, tuple(measurements), kept)
