"""Measured GEMM peak of this CPU: fp32 through numpy and OpenVINO (the faster counts), bf16/int8 through OpenVINO.

Ops are counted 2 per MAC: a square n x n x n GEMM is 2 n^3 ops. Each measurement warms up once,
then repeats within a time budget and keeps the best (shortest) run, because the peak is the
question (not the typical speed); all run times are kept in ``run_times_ns``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from accelbench.errors import UserError


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

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UserError(f"gemm size: must be a positive integer; got {self.n}")


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


def _openvino_model(n: int, precision: str):
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    a = ops.parameter([n, n], np.float32, name="a")
    weights = ops.constant(rng.standard_normal((n, n)).astype(np.float32))
    if precision == "int8":
        def fake_quantize(node, low, high, levels):
            lo, hi = ops.constant(np.float32(low)), ops.constant(np.float32(high))
            return ops.fake_quantize(node, lo, hi, lo, hi, levels)
        # u8 activations x i8 weights: what OpenVINO's low-precision transformations turn into an int8 GEMM
        product = ops.matmul(fake_quantize(a, 0.0, 1.0, 256), fake_quantize(weights, -4.0, 4.0, 255), False, False)
    else:
        product = ops.matmul(a, weights, False, False)
    return ov.Model([product], [a], f"gemm_{precision}_{n}")


def _executed_precision(compiled) -> str:
    """runtimePrecision of the GEMM node in the compiled (runtime) graph, e.g. 'bf16' or 'u8'."""
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else ""
        if layer in ("FullyConnected", "MatMul", "Gemm"):
            return info["runtimePrecision"].astype(str)
    return "unknown"


def measure_openvino(precision: str, n: int = 2048, budget_s: float = 2.0) -> GemmMeasurement:
    """Best n x n x n MatMul on OpenVINO's CPU plugin at bf16 (INFERENCE_PRECISION_HINT) or int8 (FakeQuantize).

    Returns ops_per_s None with a note when OpenVINO is missing or ran another precision than asked.
    """
    if precision not in ("fp32", "bf16", "int8"):
        raise UserError(f"gemm precision: {precision!r} is not measured with OpenVINO; choose one of: fp32, bf16, int8")
    try:
        import openvino as ov
    except ImportError:
        return GemmMeasurement(precision, n, None, (), "openvino", "none", "not run",
                               "not measured: openvino not installed (pip install accelbench[openvino])")
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "bf16"} if precision == "bf16" else {"INFERENCE_PRECISION_HINT": "f32"}
    try:
        compiled = core.compile_model(_openvino_model(n, precision), "CPU", config)
    except RuntimeError as exc:
        return GemmMeasurement(precision, n, None, (), f"openvino {ov.__version__}", "none", "not run",
                               f"not measured: OpenVINO refused ({str(exc).splitlines()[0][:120]})")
    executed = _executed_precision(compiled)
    expected = {"fp32": ("f32",), "bf16": ("bf16",), "int8": ("u8", "i8")}[precision]
    runtime = f"openvino {ov.__version__.split('-')[0]} CPU"
    if executed not in expected:
        return GemmMeasurement(precision, n, None, (), runtime, executed, "runtime graph runtimePrecision",
                               f"not measured: OpenVINO ran the GEMM as {executed}, not {precision}")
    request = compiled.create_infer_request()
    x = np.random.default_rng(1).random((n, n), dtype=np.float32)
    times = _time_runs(lambda: request.infer({0: x}), budget_s)
    return GemmMeasurement(precision, n, _square_ops(n) / (min(times) / 1e9), tuple(times), runtime,
                           executed, "runtime graph runtimePrecision")


def measure_host_gemm(n: int = 2048, budget_s: float = 2.0,
                      precisions: tuple[str, ...] = ("fp32", "bf16", "int8")) -> list[GemmMeasurement]:
    """fp32 via numpy and OpenVINO (the faster), bf16/int8 via OpenVINO; ``budget_s`` per run (plus one warm-up)."""
    results = []
    for precision in precisions:
        if precision == "fp32":
            # numpy's BLAS may be held back here (OPENBLAS_CORETYPE), so OpenVINO's own fp32 GEMM,
            # the kernels inference uses, is measured too; the faster one is the measured peak.
            candidates = [measure_numpy_fp32(n, budget_s), measure_openvino("fp32", n, budget_s)]
            ran = [c for c in candidates if c.ops_per_s]
            best = max(ran, key=lambda c: c.ops_per_s)
            both = "; ".join(f"{c.runtime}: {c.ops_per_s / 1e9:,.0f} GFLOP/s" for c in ran)
            results.append(replace(best, note=(best.note + " " if best.note else "") + f"fastest of {both}"))
        elif precision in ("bf16", "int8"):
            results.append(measure_openvino(precision, n, budget_s))
    return results


def remember_measurements(info, measurements: list[GemmMeasurement]) -> None:
    """Keep measured peaks for later records' utilization (accelbench.hardware.host.save_measured_peaks)."""
    from accelbench.hardware.host import save_measured_peaks

    save_measured_peaks(info, {
        m.precision: {"ops_per_s": m.ops_per_s,
                      "how": f"{m.n}^3 GEMM on {m.runtime}, best of {len(m.run_times_ns)}, ran as {m.precision_executed}"}
        for m in measurements if m.ops_per_s
    })
