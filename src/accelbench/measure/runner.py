"""Measure one configuration: model -> backend -> timing (or LoadGen) -> power -> a BenchRecord.

``run_config`` is what callers use: it validates the config in this process (cheap checks,
UserError before anything runs), then measures it in a child process (accelbench.measure.isolation)
so that a crash, an out-of-memory kill or a hang becomes a failed record and the caller carries
on. ``measure_config`` is the in-process measurement the child runs.

Which loop runs:

* ``--mode quick`` with ``single-stream`` or ``offline``: accelbench's own timing loop
  (accelbench.measure.timing) on the model built at ``batch``; offline's throughput is then
  batch x queries / sum of query latencies.
* ``--mode mlperf``, or the ``multi-stream`` / ``server`` scenarios: MLPerf LoadGen
  (accelbench.measure.loadgen), its logs kept under ``log_root/<run_id>/<record_id>``.

With ``layer_runs`` (``bench --layers``), a profiling pass follows the timed measurement
(accelbench.measure.layers): per-layer times from the runtime's own profiler, kept in the record's
``layer_times``. It never replaces the timed runs: the record's latencies are the timed ones.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import psutil

from accelbench.backends.base import BackendConfig, backend_class, get_backend, layer_profiling_backends
from accelbench.errors import ModelError, UserError
from accelbench.hardware.catalog import match_device_name
from accelbench.hardware.host import host_device_spec, load_measured_peaks
from accelbench.measure.environment import collect_environment
from accelbench.measure.isolation import run_isolated
from accelbench.measure.layers import collect_layer_times, name_unnamed_nodes
from accelbench.measure.loadgen import run_scenario
from accelbench.measure.power import PowerMeter
from accelbench.measure.timing import TimingConfig, time_queries
from accelbench.models.loader import load_model
from accelbench.models.registry import find_zoo_model, get_zoo_model
from accelbench.precision.deviation import deviation_vs_fp32
from accelbench.profile import profile_model
from accelbench.results.layers import LayerTimes
from accelbench.results.records import BenchConfig, BenchRecord, Environment, new_run_id
from accelbench.results.store import open_store, split_store_url
from accelbench.shapes import parse_resolution

IMAGE_TASKS = ("image-classification", "object-detection", "segmentation")
OWN_LOOP_SCENARIOS = ("single-stream", "offline")
DEFAULT_LOG_ROOT = "accelbench-logs"


def default_timeout_s(config: BenchConfig) -> float:
    """Child-process timeout: generous room for model build, INT8 calibration and the run."""
    if config.mode == "mlperf":
        return 2 * 3600.0
    return max(180.0, 3 * config.time_limit_s + 240.0)


def validate_config(config: BenchConfig) -> None:
    """Cheap checks in the calling process: model name/file, backend installed, device/precision."""
    if config.source == "zoo":
        zoo = find_zoo_model(config.model)
        if zoo is None:
            get_zoo_model(config.model)  # raises the standard "not a zoo model" UserError
        elif zoo.validate is not None:
            zoo.validate(parse_resolution(config.resolution or zoo.default_resolution))
    elif config.source == "torch":
        pass  # the torch backend resolves package.module:factory when it loads (UserError there)
    elif not os.path.isfile(config.model):
        raise ModelError(f"model: {config.model!r} is not an existing file")
    get_backend(config.backend).check_runs(config.device, config.precision, config.source)
    if config.mode == "quick" and config.scenario == "single-stream" and config.batch != 1:
        raise UserError(f"batch: single-stream runs one sample per query (batch 1); got --batch {config.batch}"
                        " (use --scenario offline for batched throughput)")


def run_config(config: BenchConfig, *, run_id: str, isolate: bool = True, timeout_s: float | None = None,
               log_root: str | os.PathLike = DEFAULT_LOG_ROOT, layer_runs: int | None = None) -> BenchRecord:
    """Validate, then measure ``config``; failures other than UserErrors come back as failed records.
    ``layer_runs``: also collect per-layer times over that many profiled runs (None: not)."""
    validate_config(config)
    check_layer_runs(config, layer_runs)
    if not isolate:
        try:
            return measure_config(config, run_id=run_id, log_root=log_root, layer_runs=layer_runs)
        except UserError:
            raise
        except Exception as exc:  # the caller carries on with a failed record
            message = str(exc).splitlines()[0] if str(exc) else ""
            return BenchRecord.failed(config, run_id, f"{type(exc).__name__}: {message}"[:1000], "exception")
    timeout = timeout_s if timeout_s is not None else default_timeout_s(config)
    payload = {"config": config.to_dict(), "run_id": run_id, "log_root": str(log_root), "layer_runs": layer_runs}
    outcome = run_isolated("accelbench.measure.runner:measure_payload", payload, timeout_s=timeout)
    if outcome.ok:
        return BenchRecord.from_dict(outcome.result)
    if outcome.kind == "user-error":
        raise UserError(_strip_type(outcome.error or "invalid configuration"))
    return BenchRecord.failed(config, run_id, outcome.error or "unknown failure", outcome.kind or "crash",
                              environment=collect_environment(config.device),
                              notes=(f"stderr tail: {outcome.stderr_tail[-500:]}",) if outcome.stderr_tail else ())


def bench(config: BenchConfig, *, db: str, save: bool = True, isolate: bool = True, timeout_s: float | None = None,
          log_root: str | os.PathLike | None = None, layer_runs: int | None = None) -> BenchRecord:
    """`accelbench bench`: measure ``config`` as a run of its own and, with ``save``, store the record
    in the results store ``db`` (opened first: a bad location fails before anything is measured).
    LoadGen logs go to ``log_root``, by default accelbench-logs beside the store. ``layer_runs``:
    also collect per-layer times over that many profiled runs (``bench --layers``)."""
    store = open_store(db) if save else None
    if log_root is None:
        log_root = Path(split_store_url(db)[1]).resolve().parent / DEFAULT_LOG_ROOT
    try:
        record = run_config(config, run_id=new_run_id(), isolate=isolate, timeout_s=timeout_s, log_root=log_root,
                            layer_runs=layer_runs)
        if store is not None:
            store.save(record)
    finally:
        if store is not None:
            store.close()
    return record


def check_layer_runs(config: BenchConfig, layer_runs: int | None) -> None:
    """UserError before anything runs when per-layer times are asked of a backend without a profiler."""
    if layer_runs is None:
        return
    if isinstance(layer_runs, bool) or not isinstance(layer_runs, int) or layer_runs < 1:
        raise UserError(f"layer-runs: must be a positive whole number such as 10; got {layer_runs!r}")
    if config.backend not in layer_profiling_backends():
        backend_class(config.backend)  # an unknown name gets the standard message
        raise UserError(f"layers: the {config.backend} backend has no per-layer profiler; use one of: "
                        f"{', '.join(layer_profiling_backends())}")


def _strip_type(message: str) -> str:
    for prefix in ("UserError: ", "ModelError: ", "BackendUnavailable: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def measure_payload(payload: dict) -> dict:
    """Worker entry point (JSON in, JSON out)."""
    config = BenchConfig.from_dict(payload["config"])
    record = measure_config(config, run_id=payload["run_id"], log_root=payload.get("log_root", DEFAULT_LOG_ROOT),
                            layer_runs=payload.get("layer_runs"))
    return record.to_dict()


def measure_config(config: BenchConfig, *, run_id: str, log_root: str | os.PathLike = DEFAULT_LOG_ROOT,
                   clock: Callable[[], int] = time.perf_counter_ns, layer_runs: int | None = None) -> BenchRecord:
    """Measure in this process and return an ok record (exceptions propagate). ``layer_runs``: then
    collect per-layer times in a profiling pass of that many runs."""
    environment = collect_environment(config.device)
    loaded = load_model(config.model, resolution=config.resolution, batch=config.batch,
                        input_shapes=dict(config.input_shapes) or None, seed=config.seed)
    if layer_runs is not None:
        # Runtime profilers report node names: every node needs one (names do not change what runs).
        loaded = replace(loaded, proto=name_unnamed_nodes(loaded.proto))
    backend = get_backend(config.backend)(BackendConfig(device=config.device, precision=config.precision,
                                                        threads=config.threads, batch=config.batch))
    try:
        return _measure_loaded(config, loaded, backend, environment, run_id=run_id, log_root=log_root, clock=clock,
                               layer_runs=layer_runs)
    finally:
        backend.close()  # also when loading or the timed run fails: release the session/device memory


def _measure_loaded(config: BenchConfig, loaded, backend, environment: Environment, *, run_id: str,
                    log_root: str | os.PathLike, clock: Callable[[], int], layer_runs: int | None) -> BenchRecord:
    notes: list[str] = []
    backend.load(loaded)
    inputs = backend.prepare_inputs(config.seed)
    info = backend.describe()

    tdp_w, tdp_cores, host_spec = _host_tdp(config.device)
    if config.tdp_w is not None:
        tdp_w, tdp_cores = config.tdp_w, config.tdp_cores or psutil.cpu_count(logical=False)
    meter = PowerMeter(config.device, tdp_w=tdp_w, tdp_cores=tdp_cores)
    meter.measure_idle()

    loadgen_summary = None
    loadgen_tput = None
    samples_per_query = config.batch
    record_id = os.urandom(16).hex()
    if config.mode == "quick" and config.scenario in OWN_LOOP_SCENARIOS:
        timing_cfg = TimingConfig(mode="quick", time_limit_s=config.time_limit_s, target_rel_ci=config.target_rel_ci)
        meter.start()
        timing = time_queries(lambda: backend.run(inputs), timing_cfg, clock=clock)
        power = meter.stop()
        latency_ns, warmup, wall_ns = timing.latency_ns, len(timing.warmup_latency_ns), timing.measure_wall_ns
        target_met, stop_reason = timing.target_met, timing.stop_reason
        if not timing.warmup_converged:
            notes.append("warm-up did not converge within its cap: latency was still drifting")
    else:
        log_dir = Path(log_root, run_id, record_id)
        meter.start()
        result = run_scenario(lambda n: backend.run(inputs), scenario=config.scenario, mode=config.mode,
                              batch=config.batch, target_qps=config.target_qps,
                              latency_bound_ns=config.latency_bound_ns, log_dir=log_dir,
                              max_duration_s=config.time_limit_s if config.mode == "quick" else None,
                              mlperf_model=loaded.name if config.mode == "mlperf" else None)
        power = meter.stop()
        loadgen_summary = result.summary()
        loadgen_tput = result.samples_per_s
        if config.scenario == "offline":
            # The single offline query spans the whole run: per-batch inference times are the latencies.
            latency_ns, samples_per_query = result.run_batch_ns, config.batch
        else:
            latency_ns = result.query_latencies_ns or result.run_batch_ns
            samples_per_query = result.samples_per_query
        warmup, wall_ns = 0, None
        target_met, stop_reason = result.valid, "loadgen-" + ("valid" if result.valid else "invalid")
        if not result.valid:
            notes.append("LoadGen result INVALID: " + "; ".join(result.invalid_reasons))

    # Read before the profiling pass, whose second session would add to the peak.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    layer_times = None
    if layer_runs is not None:
        layer_times = _layer_times(backend, loaded, inputs, layer_runs, notes)
    device_memory = None
    if hasattr(meter.counter, "memory_used_bytes"):
        device_memory = meter.counter.memory_used_bytes()
        notes.append("device_memory_bytes: GPU memory in use (whole device, NVML) after the run")

    macs, macs_source = _macs_per_inference(loaded)
    executed = info.precision_executed or config.precision
    peak, peak_source, measured_peak, measured_source, device_spec = _peaks(config.device, executed, host_spec)
    price, price_hour, price_source = _prices(config, device_spec)

    deviation = deviation_vs_fp32(backend, loaded.proto, loaded.task) if config.precision != "fp32" else None

    return BenchRecord(
        config=config,
        run_id=run_id,
        record_id=record_id,
        run_info=info,
        latency_ns=tuple(int(x) for x in latency_ns),
        samples_per_query=samples_per_query,
        warmup_queries=warmup,
        measure_wall_ns=wall_ns,
        target_met=target_met,
        stop_reason=stop_reason,
        loadgen_throughput_per_s=loadgen_tput,
        pixels_per_inference=_pixels(loaded),
        macs_per_inference=macs,
        macs_source=macs_source,
        peak_macs_per_s=peak,
        peak_source=peak_source,
        measured_peak_macs_per_s=measured_peak,
        measured_peak_source=measured_source,
        peak_rss_bytes=peak_rss,
        device_memory_bytes=device_memory,
        power=power,
        price_usd=price,
        price_per_hour_usd=price_hour,
        price_source=price_source,
        deviation=deviation,
        environment=environment,
        loadgen=loadgen_summary,
        notes=tuple(notes + list(loaded.notes)),
        layer_times=layer_times,
    )


def _layer_times(backend, loaded, inputs, runs: int, notes: list[str]) -> LayerTimes | None:
    """The profiling pass; a failure there costs the layers, never the timed measurement."""
    try:
        return collect_layer_times(backend, loaded, inputs, runs=runs)
    except Exception as exc:  # noqa: BLE001 - the record keeps the timed figures and says why
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        notes.append(f"per-layer times not collected: {first[:300]}")
        return None


def _pixels(loaded) -> int | None:
    if loaded.task not in IMAGE_TASKS and loaded.source == "zoo":
        return None
    if loaded.resolution is not None and loaded.task in IMAGE_TASKS:
        return loaded.resolution.width * loaded.resolution.height
    # A user file: the first rank-4 input with 1 or 3 channels is an image (NCHW).
    for shape in loaded.input_shapes.values():
        if len(shape) == 4 and shape[1] in (1, 3):
            return shape[2] * shape[3]
    return None


def _macs_per_inference(loaded) -> tuple[int, str]:
    profile = profile_model(loaded, "fp32")
    # The profile covers the whole batch; records count per inference (one sample).
    return int(round(profile.macs / max(loaded.batch, 1))), "static profile (accelbench.profile), per sample"


def _peak_precision(executed: str) -> str:
    # Mixed int8+fp32 graphs are judged against the int8 peak (the lower utilization, not the flattering one).
    return "int8" if executed.startswith("int8") else executed


def _host_tdp(device: str):
    """(tdp_w, cores the TDP covers, host spec) for the TDP-share estimate on CPUs, where known."""
    if device != "cpu":
        return None, None, None
    try:
        spec = host_device_spec()
    except Exception:  # detection failed: no estimate
        return None, None, None
    cores = getattr(spec, "cores", None) or psutil.cpu_count(logical=False)
    return spec.tdp_w, cores, spec


def _peaks(device: str, executed: str, host_spec):
    """(peak MAC/s, source, measured peak MAC/s, source, device spec) for the precision that ran."""
    precision = _peak_precision(executed)
    spec = host_spec
    source_kind = "host theoretical (accelbench.hardware.host)"
    if device != "cpu":
        spec, source_kind = _gpu_catalog_spec(), "catalog"
    if spec is None:
        return None, None, None, None, None
    peak = spec.peak_macs_per_s(precision)
    source = f"{source_kind}: {spec.name} {precision}" if peak else None
    measured, measured_source = None, None
    if device == "cpu":
        remembered = load_measured_peaks().get(precision)
        if remembered and remembered.get("ops_per_s"):
            measured = remembered["ops_per_s"] / 2.0
            measured_source = f"measured GEMM peak ({remembered.get('how', 'accelbench tops host')})"
    return peak, source, measured, measured_source, spec


def _gpu_catalog_spec():
    """The catalog entry of GPU 0 by its NVML name; None without NVML or a matching entry."""
    try:
        import pynvml

        pynvml.nvmlInit()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        return gpu_catalog_spec(name.decode() if isinstance(name, bytes) else name)
    except Exception:
        return None


def gpu_catalog_spec(gpu_name: str):
    """The catalog entry for a GPU name as NVML gives it, matched as whole words ("NVIDIA L4" is not
    the catalog's L4 inside "NVIDIA L40S"); None when no entry matches."""
    return match_device_name(gpu_name)


def _prices(config: BenchConfig, spec) -> tuple[float | None, float | None, str | None]:
    price = config.price_usd
    hour = config.price_per_hour_usd
    sources = []
    if price is not None or hour is not None:
        sources.append("user (--price/--price-per-hour)")
    if spec is not None:
        if price is None and getattr(spec, "price_usd", None):
            price = spec.price_usd
            sources.append(f"catalog price of {spec.name}")
        if hour is None and getattr(spec, "price_per_hour_usd", None):
            hour = spec.price_per_hour_usd
            sources.append(f"catalog $/hour of {spec.name}")
    return price, hour, "; ".join(sources) or None
