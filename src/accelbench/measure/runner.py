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

The conventions users bring from benchmark_app and trtexec (BenchConfig):

* ``iterations`` / ``min_duration_s``: a fixed count of timed queries and a minimum duration
  (measure/timing.py); under LoadGen (quick mode) they become its minimum query count and minimum
  duration.
* ``streams`` (N, or "auto"): N requests in flight for throughput, in the offline and server
  scenarios. Offline in quick mode runs measure/concurrency.py's loop over the backend's request
  runners (throughput = completed queries / wall time); under LoadGen the system under test serves
  queries with N workers. "auto" first tries 1, 2, 4, ... up to the cores, a short trial each, and
  measures with the count of the highest throughput (the record keeps every trial).
* ``inputs`` / ``calibration_data``: the user's data (precision/user_data.py), checked against the
  model before anything runs; the timed queries cycle through the input sets, the deviation check
  runs on them (its ``inputs_source`` is then "user"), INT8 calibrates on the calibration sets.

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
from typing import Callable, Mapping

import psutil

from accelbench.backends.base import (
    BackendConfig, backend_class, concurrent_backends, get_backend, layer_profiling_backends, physical_cores,
)
from accelbench.errors import ModelError, UserError, one_line
from accelbench.hardware.catalog import match_device_name
from accelbench.hardware.host import MeasuredPeak, host_device_spec, load_measured_peaks
from accelbench.measure.concurrency import best_streams, candidate_streams, time_streams, trial_config
from accelbench.measure.environment import collect_environment
from accelbench.measure.isolation import run_isolated
from accelbench.measure.layers import collect_layer_times, name_unnamed_nodes
from accelbench.measure.loadgen import run_scenario
from accelbench.measure.memory import check_profile_fits
from accelbench.measure.power import PowerMeter
from accelbench.measure.timing import TimingConfig, time_queries
from accelbench.models.loader import load_model
from accelbench.models.registry import find_zoo_model, get_zoo_model
from accelbench.models.torch_export import TORCH_PATH_ENV, parse_torch_spec, torch_search_dirs
from accelbench.precision import peak_precision
from accelbench.precision.calibration import input_specs
from accelbench.precision.deviation import deviation_vs_fp32
from accelbench.precision.user_data import InputSets, load_input_sets
from accelbench.profile import profile_model
from accelbench.results.layers import LayerTimes
from accelbench.results.records import BenchConfig, BenchRecord, Environment, new_run_id
from accelbench.results.unknown_layers import UnknownLayers
from accelbench.results.store import default_log_root, open_store
from accelbench.shapes import parse_resolution

IMAGE_TASKS = ("image-classification", "object-detection", "segmentation")
OWN_LOOP_SCENARIOS = ("single-stream", "offline")
CONCURRENT_SCENARIOS = ("offline", "server")  # where several requests in flight (--streams) apply
DEFAULT_LOG_ROOT = "accelbench-logs"


def default_timeout_s(config: BenchConfig) -> float:
    """Child-process timeout: generous room for model build, INT8 calibration and the run. A fixed
    iteration count has no duration known in advance: it gets mlperf mode's two hours."""
    if config.mode == "mlperf" or config.iterations is not None:
        return 2 * 3600.0
    timed = max(config.time_limit_s, config.min_duration_s or 0.0)
    search = len(candidate_streams(physical_cores(), config.threads)) * 15.0 if config.streams == "auto" else 0.0
    return max(180.0, 3 * timed + 240.0 + search)


SETUP_S = 6.0  # child start, model build and compile, a rough figure for progress displays
INT8_SETUP_S = 12.0  # quantization and calibration on top
STREAMS_TRIAL_S = 3.0  # one candidate of --streams auto: load, warm up, a 1 s trial


def estimated_duration_s(config: BenchConfig, layer_runs: int | None = None) -> float | None:
    """A rough figure of how long a quick-mode measurement takes, for progress displays; None when it
    cannot be known in advance (a fixed iteration count)."""
    if config.iterations is not None:
        return None
    timed = max(config.time_limit_s, config.min_duration_s or 0.0)
    setup = SETUP_S + (INT8_SETUP_S if config.precision == "int8" else 0.0)
    search = (len(candidate_streams(physical_cores(), config.threads)) * STREAMS_TRIAL_S
              if config.streams == "auto" else 0.0)
    deviation = setup / 2 if config.precision != "fp32" else 0.0  # the FP32 reference loads and runs
    layers = SETUP_S if layer_runs else 0.0
    return timed + setup + search + deviation + layers


def validate_config(config: BenchConfig) -> None:
    """Cheap checks in the calling process: model name/file, backend installed, device/precision,
    and that the configuration fits in memory (measure/memory.py), all before anything allocates."""
    loaded = None
    if config.source == "zoo":
        zoo = find_zoo_model(config.model)
        if zoo is None:
            get_zoo_model(config.model)  # raises the standard "not a zoo model" UserError
        elif zoo.validate is not None:
            zoo.validate(parse_resolution(config.resolution or zoo.default_resolution))
        loaded = load_model(config.model, resolution=config.resolution, batch=config.batch, with_weights=False)
    elif config.source == "torch":
        pass  # the torch backend resolves package.module:factory when it loads (UserError there)
    elif not os.path.isfile(config.model):
        raise ModelError(f"model: {config.model!r} is not an existing file")
    else:
        # Its shapes fixed or reshaped as asked (a UserError where the graph does not allow it), weightless.
        loaded = load_model(config.model, resolution=config.resolution, batch=config.batch,
                            input_shapes=dict(config.input_shapes) or None, with_weights=False)
    get_backend(config.backend).check_runs(config.device, config.precision, config.source)
    if loaded is not None:  # a torch module is checked in the worker, once exported (measure_config)
        check_profile_fits(profile_model(loaded, "fp32"), config.precision, _what(config), backend=config.backend,
                           streams=config.streams)
    if config.mode == "quick" and config.scenario == "single-stream" and config.batch != 1:
        raise UserError(f"batch: single-stream runs one sample per query (batch 1); got --batch {config.batch}"
                        " (use --scenario offline for batched throughput)")
    check_conventions(config)


def check_conventions(config: BenchConfig) -> None:
    """The options users bring from benchmark_app/trtexec, checked before anything runs: where
    streams, iterations and a minimum duration apply, and the user's data against the model."""
    if config.streams != 1:
        if config.scenario not in CONCURRENT_SCENARIOS:
            raise UserError(f"streams: several requests in flight are for throughput, in the "
                            f"{' or '.join(CONCURRENT_SCENARIOS)} scenario; got --scenario {config.scenario}"
                            f" with --streams {config.streams}")
        if config.backend not in concurrent_backends():
            backend_class(config.backend)  # an unknown name gets the standard message
            raise UserError(f"streams: the {config.backend} backend runs one request at a time; use one of: "
                            f"{', '.join(concurrent_backends())}")
    if config.mode == "mlperf":
        for name, value in (("iterations", config.iterations), ("min-duration", config.min_duration_s)):
            if value is not None:
                raise UserError(f"{name}: not with --mode mlperf (LoadGen's rules fix the query count and the "
                                f"duration); got --{name} {value}")
    if config.calibration_data is not None and config.precision != "int8":
        raise UserError(f"calibration-data: only INT8 calibrates (--precision int8); got --precision {config.precision}")
    if config.inputs is not None or config.calibration_data is not None:
        loaded = load_model(config.model, resolution=config.resolution, batch=config.batch,
                            input_shapes=dict(config.input_shapes) or None, with_weights=False)
        user_input_sets(config, loaded)


def user_input_sets(config: BenchConfig, loaded) -> tuple[InputSets | None, InputSets | None]:
    """(the user's measurement inputs, the user's calibration data), each checked against ``loaded``'s
    inputs (None where the config gives none: seeded random data)."""
    specs = input_specs(loaded.proto)
    inputs = load_input_sets(config.inputs, specs, field="inputs") if config.inputs is not None else None
    calibration = (load_input_sets(config.calibration_data, specs, field="calibration-data")
                   if config.calibration_data is not None else None)
    return inputs, calibration


def run_config(config: BenchConfig, *, run_id: str, isolate: bool = True, timeout_s: float | None = None,
               log_root: str | os.PathLike = DEFAULT_LOG_ROOT, layer_runs: int | None = None,
               measured_peaks: Mapping[str, MeasuredPeak] | None = None) -> BenchRecord:
    """Validate, then measure ``config``; failures other than UserErrors come back as failed records.

    ``layer_runs``: also collect per-layer times over that many profiled runs (None: not).
    ``measured_peaks`` (precision -> hardware.host.MeasuredPeak): the GEMM peaks the caller measured
    itself (the four-stage run's stage 1); the record divides by them instead of the remembered ones.
    """
    validate_config(config)
    check_layer_runs(config, layer_runs)
    if not isolate:
        try:
            return measure_config(config, run_id=run_id, log_root=log_root, layer_runs=layer_runs,
                                  measured_peaks=measured_peaks)
        except UserError:
            raise
        except Exception as exc:  # the caller carries on with a failed record
            return BenchRecord.failed(config, run_id, f"{type(exc).__name__}: {one_line(exc, 1000)}"[:1000], "exception")
    timeout = timeout_s if timeout_s is not None else default_timeout_s(config)
    payload = {"config": config.to_dict(), "run_id": run_id, "log_root": str(log_root), "layer_runs": layer_runs,
               "measured_peaks": None if measured_peaks is None else {p: v.to_dict() for p, v in measured_peaks.items()}}
    env = None
    if config.source == "torch":
        # The worker resolves the user's torch: spec where this process did (models/torch_export.py).
        env = {**os.environ, TORCH_PATH_ENV: os.pathsep.join(torch_search_dirs())}
    outcome = run_isolated("accelbench.measure.runner:measure_payload", payload, timeout_s=timeout, env=env)
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
        log_root = default_log_root(db)
    try:
        record = run_config(config, run_id=new_run_id(), isolate=isolate, timeout_s=timeout_s, log_root=log_root,
                            layer_runs=layer_runs)
        if store is not None:
            store.save(record)
    finally:
        if store is not None:
            store.close()
    return record


def _what(config: BenchConfig) -> str:
    """The configuration in the memory check's words: "resnet50 @ 65536, batch 1, fp32"."""
    return f"{config.model} @ {config.resolution or 'its own size'}, batch {config.batch}, {config.precision}"


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
    given = payload.get("measured_peaks")
    peaks = None if given is None else {p: MeasuredPeak.from_dict(v) for p, v in given.items()}
    record = measure_config(config, run_id=payload["run_id"], log_root=payload.get("log_root", DEFAULT_LOG_ROOT),
                            layer_runs=payload.get("layer_runs"),
                            measured_peaks=None if peaks is None else {p: v for p, v in peaks.items() if v})
    return record.to_dict()


def measure_config(config: BenchConfig, *, run_id: str, log_root: str | os.PathLike = DEFAULT_LOG_ROOT,
                   clock: Callable[[], int] = time.perf_counter_ns, layer_runs: int | None = None,
                   measured_peaks: Mapping[str, MeasuredPeak] | None = None) -> BenchRecord:
    """Measure in this process and return an ok (or LoadGen-invalid) record (exceptions propagate).
    ``layer_runs``: then collect per-layer times in a profiling pass of that many runs;
    ``measured_peaks``: as in run_config."""
    environment = collect_environment(config.device)
    loaded = load_model(config.model, resolution=config.resolution, batch=config.batch,
                        input_shapes=dict(config.input_shapes) or None, seed=config.seed)
    profile = profile_model(loaded, "fp32")
    # before the runtime allocates anything
    check_profile_fits(profile, config.precision, _what(config), backend=config.backend, streams=config.streams)
    if layer_runs is not None:
        # Runtime profilers report node names: every node needs one (names do not change what runs).
        loaded = replace(loaded, proto=name_unnamed_nodes(loaded.proto))
    user_inputs, calibration = user_input_sets(config, loaded)
    notes: list[str] = [sets.describe(field) for field, sets in (("inputs", user_inputs),
                                                                  ("calibration-data", calibration)) if sets]
    cls = get_backend(config.backend)
    prepared = None
    if not cls.delegates and (calibration is not None or config.streams == "auto"):
        # prepared (quantized, calibrated) once, whatever the count of requests in flight
        prepared = cls(_backend_config(config, 1)).prepare(loaded.proto, list(calibration.sets) if calibration else None)
    streams, trials = config.streams, ()
    if streams == "auto":
        streams, trials = _auto_streams(config, loaded, prepared, calibration, user_inputs, clock)
        notes.append("streams auto: " + ", ".join(f"{t.streams} in flight {t.throughput_per_s:,.1f} inf/s"
                                                   for t in trials) + f"; measured with the best, {streams}")
    backend = cls(_backend_config(config, streams))
    try:
        _load(backend, loaded, prepared, calibration)
        return _measure_loaded(config, loaded, profile, backend, environment, run_id=run_id, log_root=log_root,
                               clock=clock, layer_runs=layer_runs, measured_peaks=measured_peaks, notes=notes,
                               user_inputs=user_inputs, trials=trials)
    finally:
        backend.close()  # also when loading or the timed run fails: release the session/device memory


def _backend_config(config: BenchConfig, streams: int) -> BackendConfig:
    return BackendConfig(device=config.device, precision=config.precision, threads=config.threads,
                         batch=config.batch, streams=streams)


def _load(backend, loaded, prepared, calibration: InputSets | None) -> None:
    """Load ``prepared`` when the model was prepared already, else ``loaded`` (calibrated on the user's
    data when given: a delegating backend hands it to each candidate)."""
    if prepared is not None:
        backend.load(prepared)
    elif calibration is not None:
        backend.load(backend.prepare(loaded.proto, list(calibration.sets)))
    else:
        backend.load(loaded)


def _native_inputs(backend, user_inputs: InputSets | None, seed: int) -> list:
    """The input sets the timed queries cycle through, in the runtime's form: the user's, or one
    seeded random set."""
    if user_inputs is not None:
        return [backend.inputs_from_arrays(arrays) for arrays in user_inputs.sets]
    return [backend.prepare_inputs(seed)]


def _auto_streams(config: BenchConfig, loaded, prepared, calibration: InputSets | None,
                  user_inputs: InputSets | None, clock):
    """--streams auto: (the count of the highest throughput, every trial), a short trial per count."""
    def trial(count: int) -> tuple[float, int]:
        backend = get_backend(config.backend)(_backend_config(config, count))
        try:
            _load(backend, loaded, prepared, calibration)
            runners = backend.request_runners(_native_inputs(backend, user_inputs, config.seed))
            result = time_streams(runners, trial_config(), clock=clock)
            return result.throughput_per_s(config.batch), result.queries
        finally:
            backend.close()

    return best_streams(trial, candidate_streams(physical_cores(), config.threads))


def _measure_loaded(config: BenchConfig, loaded, profile, backend, environment: Environment, *, run_id: str,
                    log_root: str | os.PathLike, clock: Callable[[], int], layer_runs: int | None,
                    measured_peaks: Mapping[str, MeasuredPeak] | None, notes: list[str],
                    user_inputs: InputSets | None, trials: tuple) -> BenchRecord:
    native = _native_inputs(backend, user_inputs, config.seed)
    inputs = native[0]
    runners = backend.request_runners(native)
    info = backend.describe()
    if trials:
        info = replace(info, extra={**info.extra, "streams_auto": [t.to_dict() for t in trials]})

    tdp_w, tdp_cores, host_spec = _host_tdp(config.device)
    if config.tdp_w is not None:
        tdp_w, tdp_cores = config.tdp_w, config.tdp_cores or psutil.cpu_count(logical=False)
    meter = PowerMeter(config.device, tdp_w=tdp_w, tdp_cores=tdp_cores)
    meter.measure_idle()

    loadgen_summary = None
    loadgen_tput = None
    invalid_error = None
    samples_per_query = config.batch
    record_id = os.urandom(16).hex()
    if config.mode == "quick" and config.scenario in OWN_LOOP_SCENARIOS:
        timing_cfg = TimingConfig(mode="quick", time_limit_s=config.time_limit_s, target_rel_ci=config.target_rel_ci,
                                  iterations=config.iterations, min_duration_s=config.min_duration_s)
        meter.start()
        if len(runners) > 1:
            timing = time_streams(runners, timing_cfg, clock=clock)
        else:
            timing = time_queries(runners[0], timing_cfg, clock=clock)
        power = meter.stop()
        latency_ns, warmup, wall_ns = timing.latency_ns, len(timing.warmup_latency_ns), timing.measure_wall_ns
        target_met, stop_reason = timing.target_met, timing.stop_reason
        if not timing.warmup_converged:
            notes.append("warm-up did not converge within its cap: latency was still drifting")
    else:
        log_dir = Path(log_root, run_id, record_id)
        meter.start()
        workers = [lambda n, run=run: run() for run in runners]
        result = run_scenario(workers[0], scenario=config.scenario, mode=config.mode,
                              batch=config.batch, target_qps=config.target_qps,
                              latency_bound_ns=config.latency_bound_ns, log_dir=log_dir,
                              max_duration_s=config.time_limit_s if config.mode == "quick" else None,
                              min_duration_s=config.min_duration_s, min_query_count=config.iterations,
                              mlperf_model=loaded.name if config.mode == "mlperf" else None,
                              workers=workers if len(workers) > 1 else None)
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
            # Measured, but not by the rules: the record says invalid, why, and what to change.
            invalid_error = ("LoadGen result INVALID: " + ("; ".join(result.invalid_reasons) or "no reason given")
                             + (". Advice: " + "; ".join(result.advice) if result.advice else ""))

    # Read before the profiling pass, whose second session would add to the peak.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    layer_times = None
    if layer_runs is not None:
        layer_times = _layer_times(backend, loaded, inputs, layer_runs, notes)
    device_memory = None
    if hasattr(meter.counter, "memory_used_bytes"):
        device_memory = meter.counter.memory_used_bytes()
        notes.append("device_memory_bytes: GPU memory in use (whole device, NVML) after the run")

    macs, macs_source, unknown_layers = _macs_per_inference(loaded, profile, notes)
    executed = info.precision_executed or config.precision
    peak, peak_source, measured, device_spec = _peaks(config.device, executed, host_spec, measured_peaks)
    price, price_hour, price_source = _prices(config, device_spec)

    # The user's inputs when given (--inputs): then the deviation is on real data
    deviation = deviation_vs_fp32(backend, loaded, loaded.task, weights_source=weights_source(loaded),
                                  inputs_source=config.inputs_source,
                                  input_sets=user_inputs.sets if user_inputs else None
                                  ) if config.precision != "fp32" else None

    return BenchRecord(
        config=config,
        run_id=run_id,
        status="invalid" if invalid_error else "ok",
        error=invalid_error,
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
        unknown_layers=unknown_layers,
        peak_macs_per_s=peak,
        peak_source=peak_source,
        measured_peak_macs_per_s=measured.ops_per_s / 2.0 if measured else None,
        measured_peak_source=(measured.describe() + (", measured by this run" if measured_peaks is not None
                                                     else ", remembered from an earlier measurement")
                              if measured else None),
        measured_peak_at=measured.measured_at if measured else None,
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
        streams=len(runners) if config.streams != 1 else None,
    )


def _layer_times(backend, loaded, inputs, runs: int, notes: list[str]) -> LayerTimes | None:
    """The profiling pass; a failure there costs the layers, never the timed measurement."""
    try:
        return collect_layer_times(backend, loaded, inputs, runs=runs)
    except Exception as exc:  # noqa: BLE001 - the record keeps the timed figures and says why
        notes.append(f"per-layer times not collected: {one_line(exc, 300)}")
        return None


def weights_source(loaded) -> str:
    """"user" for weights the user brought (an ONNX file they made, a torch checkpoint); "random" for
    zoo models, files `accelbench models save` wrote, and torch factories without @weights."""
    if loaded.source == "zoo":
        return "random"
    if loaded.source == "torch":
        return "user" if loaded.torch_spec and parse_torch_spec(loaded.torch_spec).weights else "random"
    return "random" if loaded.proto.producer_name == "accelbench" else "user"


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


def _macs_per_inference(loaded, profile, notes: list[str]) -> tuple[int | None, str, UnknownLayers]:
    """(MACs per sample, their source, the profile's unknown layers) from ``loaded``'s FP32 profile. No
    MAC counted: None (no MAC/s, no utilization), and the source says why; MAC layers left unknown: the
    source says INCOMPLETE."""
    unknown = profile.unknown_layers
    if not unknown.macs_counted:
        notes.append("MACs unknown: the static profile counted 0 MACs, so no MAC/s or MAC utilization is recorded")
        return None, "unknown: the static profile counted 0 MACs (unknown shapes or ops)", unknown
    source = "static profile (accelbench.profile), per sample"
    if not unknown.macs_complete:
        source += (f"; INCOMPLETE: {unknown.mac_layers} of {unknown.total_mac_layers} MAC layers unknown"
                   + (f", unknown ops {', '.join(unknown.unknown_ops)}" if unknown.unknown_ops else "")
                   + " (MAC/s and utilization too low)")
    # The profile covers the whole batch; records count per inference (one sample).
    return int(round(profile.macs / max(loaded.batch, 1))), source, unknown


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


def _peaks(device: str, executed: str, host_spec, measured_peaks: Mapping[str, MeasuredPeak] | None):
    """(theoretical peak MAC/s, its source, the measured GEMM peak (hardware.host.MeasuredPeak) or None,
    device spec) for the precision that ran. The measured peak is the caller's own (``measured_peaks``)
    when it gave them, else the one remembered for this host."""
    precision = peak_precision(executed)
    spec = host_spec
    source_kind = "host theoretical (accelbench.hardware.host)"
    if device != "cpu":
        spec, source_kind = _gpu_catalog_spec(), "catalog"
    if spec is None:
        return None, None, None, None
    peak = spec.peak_macs_per_s(precision)
    source = f"{source_kind}: {spec.name} {precision}" if peak else None
    measured = None
    if device == "cpu":
        measured = (measured_peaks if measured_peaks is not None else load_measured_peaks()).get(precision)
    return peak, source, measured, spec


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
