"""MLPerf Inference scenarios, driven by MLPerf's own LoadGen (``import mlperf_loadgen``).

API::

    run_scenario(run_batch, *, scenario, mode="quick", batch=1, target_qps=None,
                 latency_bound_ns=None, samples_per_query=None, min_duration_s=None,
                 min_query_count=None, log_dir, clock=None, max_duration_s=None,
                 mlperf_model=None) -> LoadGenResult
    find_peak_server_qps(run_batch, latency_bound_ns=None, *, log_dir, mode="quick", ...)
        -> LoadGenResult  (the run at the highest VALID rate; ``search_trials`` lists every try)

``run_batch(n)`` runs one inference on ``n`` samples, ``1 <= n <= batch``: ``n`` is ``batch``
except for the last chunk of an offline or multi-stream query, or a server batch that was not
full. A runner whose model has a fixed batch dimension may ignore ``n`` and run the full batch
(padding, as MLPerf allows); the time counts either way. Its return value is ignored.

Scenarios (MLPerf Inference rules; LoadGen schedules the queries and judges validity):

- ``single-stream``: one sample per query, the next issued when the previous completes;
  headline = 90th percentile latency. ``batch`` must be 1.
- ``multi-stream``: ``samples_per_query`` samples (default 8) per query, back to back;
  headline = 99th percentile query latency. Samples run in chunks of ``batch``.
- ``offline``: one query holding every sample; headline = samples per second. Samples run in
  chunks of ``batch``, each chunk reported complete as soon as it is done.
- ``server``: one-sample queries at Poisson-distributed times at ``target_qps``; VALID only if the
  99th percentile latency is within ``latency_bound_ns``. Queries go onto a queue served by one
  worker thread, so LoadGen's issue thread never waits and a query's latency includes its time
  in the queue; the worker takes up to ``batch`` queued samples at once (dynamic batching).

Several requests in flight (``workers``: one run_batch per request, e.g. one per OpenVINO infer
request or ONNX Runtime session): in the server and offline scenarios the queue is served by one
thread per worker, each taking up to ``batch`` samples at a time; a query's latency still includes
its time in the queue.

Modes:

- ``quick`` (interactive use and CI): LoadGen's built-in mlperf.conf rules (seeds, percentiles,
  latency bounds) with short runs: ``min_duration_s`` (default 2 s), ``min_query_count``
  (default: the fewest queries LoadGen's early stopping accepts, 64 for single-stream's p90 and
  662 for the p99 of multi-stream and server; one batch for offline), capped by
  ``max_duration_s`` (default 60 s). Early stopping is still computed by LoadGen.
- ``mlperf``: LoadGen's full rules, untouched (600 s minimum duration, MultiStream 662 queries,
  early stopping on, per-model values when ``mlperf_model`` names a model of mlperf.conf such as
  ``resnet50``). Setting ``min_duration_s``, ``min_query_count`` or ``max_duration_s`` here is an
  error.

Before the run, ``run_batch(batch)`` is called a few times (warm-up); the median of those calls
sets LoadGen's expected latency / expected QPS, so LoadGen pre-generates enough queries for the
minimum duration (a wrong guess makes a run INVALID). Without ``target_qps`` the server runs at
half the rate one worker could sustain by that estimate. Without ``latency_bound_ns`` the server
bound is mlperf.conf's (10 ms for ``*``, 15 ms for ``resnet50``).

Logs (summary, detail, trace) stay in ``log_dir``; the result keeps their paths. Per-sample
latencies are LoadGen's own, read from its trace (see accelbench.measure.loadgen_logs).
``clock`` (a callable returning integer nanoseconds; default time.perf_counter_ns) times the
warm-up and each run_batch call; LoadGen keeps its own clock for everything it reports.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable

from accelbench.errors import BackendUnavailable, UserError, choice_error
from accelbench.measure.loadgen_logs import (
    MODES,
    SCENARIOS,
    LoadGenResult,
    parse_detail,
    parse_summary,
    parse_trace_latencies,
    result_from_logs,
)

__all__ = [
    "MODES",
    "SCENARIOS",
    "LoadGenResult",
    "bracket_search",
    "build_test_settings",
    "find_peak_server_qps",
    "parse_detail",
    "parse_summary",
    "parse_trace_latencies",
    "result_from_logs",
    "run_scenario",
]

QUICK_MIN_DURATION_S = 2.0
QUICK_MAX_DURATION_S = 60.0
# LoadGen's early stopping needs at least 64 queries to bound a 90th percentile and 662 for a
# 99th: fewer and the run is INVALID whatever the latencies.
QUICK_MIN_QUERY_COUNT = {"single-stream": 64, "multi-stream": 662, "server": 662}
DEFAULT_MULTI_STREAM_SAMPLES = 8
CONCURRENT_SCENARIOS = ("offline", "server")  # where several requests in flight (workers) apply
# Sample library size handed to LoadGen: the runner has no real samples, only indices.
QSL_SAMPLES = 1024
# Model name given to mlperf.conf when none is asked for: matches only the '*' rules.
GENERIC_MODEL = "accelbench"
# Expected latency/QPS is set a bit optimistic so LoadGen pre-generates enough queries.
_EXPECTED_MARGIN = 1.25
_WARMUP_MIN_CALLS = 3
_WARMUP_MAX_CALLS = 20
_WARMUP_MAX_NS = 1_000_000_000
# A quick server run asked for more than this many times what one worker sustains (by the warm-up)
# is refused: its queue would take that many times the run's duration to drain, for a verdict
# (INVALID) known in advance.
SERVER_OVERLOAD_LIMIT = 10.0


def _check_positive(name: str, value: Any, kind: type) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and value > 0
    if ok and kind is int:
        ok = float(value).is_integer()
    if not ok:
        what = "a positive integer" if kind is int else "a positive number"
        raise UserError(f"{name}: {value!r} is not allowed; it must be {what}")


def _validate(scenario: str, mode: str, batch: int, target_qps, latency_bound_ns,
              samples_per_query, min_duration_s, min_query_count, max_duration_s) -> None:
    if scenario not in SCENARIOS:
        raise choice_error("scenario", scenario, SCENARIOS)
    if mode not in MODES:
        raise choice_error("mode", mode, MODES)
    _check_positive("batch", batch, int)
    for name, value, kind in (("target_qps", target_qps, float),
                              ("latency_bound_ns", latency_bound_ns, int),
                              ("samples_per_query", samples_per_query, int),
                              ("min_duration_s", min_duration_s, float),
                              ("min_query_count", min_query_count, int),
                              ("max_duration_s", max_duration_s, float)):
        if value is not None:
            _check_positive(name, value, kind)
    if scenario == "single-stream" and batch != 1:
        raise UserError(f"batch: {batch!r} is not allowed for single-stream; it runs batch 1 "
                        "(use offline, multi-stream or server for larger batches)")
    if samples_per_query is not None and scenario != "multi-stream":
        raise UserError(f"samples_per_query: {samples_per_query!r} only applies to multi-stream, "
                        f"not {scenario}")
    if (target_qps is not None or latency_bound_ns is not None) and scenario != "server":
        raise UserError(f"target_qps/latency_bound_ns only apply to server, not {scenario}")
    if mode == "mlperf":
        for name, value in (("min_duration_s", min_duration_s), ("min_query_count", min_query_count),
                            ("max_duration_s", max_duration_s)):
            if value is not None:
                raise UserError(f"{name}: {value!r} is not allowed in mlperf mode (LoadGen's rules "
                                "fix it); use mode 'quick' to set it")


def check_server_rate(target_qps: float, sustained_qps: float) -> None:
    """UserError when a quick server run's arrival rate is more than SERVER_OVERLOAD_LIMIT times
    what the model sustains here (``sustained_qps``, from the warm-up)."""
    if target_qps > SERVER_OVERLOAD_LIMIT * sustained_qps:
        raise UserError(
            f"target-qps: {target_qps:,.6g} queries/s is more than {SERVER_OVERLOAD_LIMIT:g}x what this model "
            f"sustains here (about {sustained_qps:,.4g}/s by the warm-up): its queue would take far longer than "
            f"the run to drain; use at most {SERVER_OVERLOAD_LIMIT * sustained_qps:,.4g}")


def rules_minimums(scenario: str, mlperf_model: str | None = None) -> tuple[float, int] | None:
    """(minimum duration in s, minimum query count) of LoadGen's full rules (its built-in mlperf.conf,
    ``mlperf_model``'s own lines where it has them) for ``scenario``; None without mlperf_loadgen."""
    if scenario not in SCENARIOS:
        raise choice_error("scenario", scenario, SCENARIOS)
    try:
        import mlperf_loadgen as lg
    except ImportError:
        return None
    settings = lg.TestSettings()
    if settings.FromConfig("", mlperf_model or GENERIC_MODEL, SCENARIOS[scenario], 0) != 0:
        return None
    return settings.min_duration_ms / 1000.0, int(settings.min_query_count)


def _import_loadgen():
    try:
        import mlperf_loadgen as lg
    except ImportError as exc:
        raise BackendUnavailable(
            "MLPerf LoadGen is not installed: pip install 'accelbench[loadgen]' "
            f"(mlcommons-loadgen); import said: {exc}"
        ) from exc
    return lg


def _warm_up(run_batch: Callable[[int], Any], batch: int, clock: Callable[[], int]) -> int:
    """Call run_batch(batch) a few times; return the median of the calls after the first (ns)."""
    times: list[int] = []
    start = clock()
    while len(times) < _WARMUP_MAX_CALLS:
        t0 = clock()
        run_batch(batch)
        times.append(max(0, clock() - t0))
        if len(times) >= _WARMUP_MIN_CALLS and clock() - start >= _WARMUP_MAX_NS:
            break
    # The first call pays one-time costs (allocation, kernel selection).
    steady = times[1:] if len(times) > 1 else times
    return max(1, int(statistics.median(steady)))


class _SystemUnderTest:
    """The SUT LoadGen talks to: runs samples through run_batch and reports completions."""

    def __init__(self, lg, run_batch, batch: int, clock, threaded: bool, workers=None):
        self.lg = lg
        self.run_batch = run_batch
        self.batch = batch
        self.clock = clock
        self.run_batch_ns: list[int] = []
        self.error: BaseException | None = None
        self.threaded = threaded
        self.queue: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.workers: list[threading.Thread] = []
        if threaded:
            for i, run in enumerate(workers or [run_batch]):
                worker = threading.Thread(target=self._serve, args=(run,), name=f"accelbench-loadgen-sut-{i}",
                                          daemon=True)
                worker.start()
                self.workers.append(worker)

    def _run_and_complete(self, samples: list, run_batch=None) -> None:
        # After a failure, samples are still completed (LoadGen would wait forever otherwise).
        if self.error is None:
            t0 = self.clock()
            try:
                (run_batch or self.run_batch)(len(samples))
            except BaseException as exc:  # re-raised by run_scenario once LoadGen has returned
                self.error = exc
            else:
                with self.lock:
                    self.run_batch_ns.append(max(0, int(self.clock() - t0)))
        self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    def issue_queries(self, samples) -> None:
        if self.threaded:
            for sample in samples:
                self.queue.put(sample)
            return
        samples = list(samples)
        for i in range(0, len(samples), self.batch):
            self._run_and_complete(samples[i:i + self.batch])

    def flush_queries(self) -> None:
        pass

    def _serve(self, run_batch) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is None:
                return
            chunk = [first]
            while len(chunk) < self.batch:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.queue.put(None)  # the stop mark is for every worker
                    stop = True
                    break
                chunk.append(item)
            self._run_and_complete(chunk, run_batch)

    def close(self) -> None:
        if self.workers:
            for _ in self.workers:
                self.queue.put(None)
            for worker in self.workers:
                worker.join()
            self.workers = []


def build_test_settings(lg, *, scenario: str, mode: str, batch: int, expected_ns: int, target_qps,
                        latency_bound_ns, samples_per_query: int, min_duration_s, min_query_count,
                        max_duration_s, mlperf_model: str | None):
    """LoadGen TestSettings for one run (arguments already validated; see the module doc).

    ``expected_ns`` is the warm-up's median time of one ``run_batch(batch)`` call.
    """
    lg_scenario = SCENARIOS[scenario]
    settings = lg.TestSettings()
    # conf_type 0: LoadGen's built-in mlperf.conf only (seeds, percentiles, minimum durations).
    status = settings.FromConfig("", mlperf_model or GENERIC_MODEL, lg_scenario, 0)
    if status != 0:
        raise RuntimeError(f"LoadGen could not load its built-in mlperf.conf (status {status})")
    settings.scenario = getattr(lg.TestScenario, lg_scenario)
    settings.mode = lg.TestMode.PerformanceOnly

    # The expected figures are "user.conf" values: the SUT states them, LoadGen plans with them.
    if scenario == "single-stream":
        settings.single_stream_expected_latency_ns = max(1, int(expected_ns / _EXPECTED_MARGIN))
    elif scenario == "multi-stream":
        settings.multi_stream_samples_per_query = samples_per_query
        chunks = math.ceil(samples_per_query / batch)
        settings.multi_stream_expected_latency_ns = max(1, int(expected_ns * chunks / _EXPECTED_MARGIN))
    elif scenario == "offline":
        settings.offline_expected_qps = batch * 1e9 / expected_ns * _EXPECTED_MARGIN
    else:
        settings.server_target_qps = float(target_qps)
        if latency_bound_ns is not None:
            settings.server_target_latency_ns = int(latency_bound_ns)

    if mode == "quick":
        settings.min_duration_ms = int(round(1000 * (min_duration_s or QUICK_MIN_DURATION_S)))
        settings.max_duration_ms = int(round(1000 * (max_duration_s or QUICK_MAX_DURATION_S)))
        if min_query_count is not None:
            settings.min_query_count = int(min_query_count)
        elif scenario == "offline":
            # Offline's min_query_count is a minimum sample count.
            settings.min_query_count = batch
        else:
            settings.min_query_count = QUICK_MIN_QUERY_COUNT[scenario]
        settings.max_duration_ms = max(settings.max_duration_ms, settings.min_duration_ms)
    return settings


def run_scenario(
    run_batch: Callable[[int], Any],
    *,
    scenario: str,
    mode: str = "quick",
    batch: int = 1,
    target_qps: float | None = None,
    latency_bound_ns: int | None = None,
    samples_per_query: int | None = None,
    min_duration_s: float | None = None,
    min_query_count: int | None = None,
    log_dir: Path,
    clock: Callable[[], int] | None = None,
    max_duration_s: float | None = None,
    mlperf_model: str | None = None,
    workers: list[Callable[[int], Any]] | None = None,
    _expected_latency_ns: int | None = None,
) -> LoadGenResult:
    """Run one MLPerf scenario through LoadGen and return its parsed result (see module doc).
    ``workers``: one run_batch per request in flight (server and offline; None: ``run_batch`` alone).

    Raises UserError for a bad argument (before anything runs), BackendUnavailable when
    mlperf_loadgen is missing, and re-raises whatever ``run_batch`` raised (after LoadGen has
    finished its run with the remaining samples completed without running).
    """
    _validate(scenario, mode, batch, target_qps, latency_bound_ns, samples_per_query,
              min_duration_s, min_query_count, max_duration_s)
    if workers is not None and len(workers) > 1 and scenario not in CONCURRENT_SCENARIOS:
        raise UserError(f"streams: several requests in flight serve the {' or '.join(CONCURRENT_SCENARIOS)} "
                        f"scenario, not {scenario}")
    lg = _import_loadgen()
    clock = clock or time.perf_counter_ns
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    spq = int(samples_per_query or DEFAULT_MULTI_STREAM_SAMPLES) if scenario == "multi-stream" else 1

    expected_ns = int(_expected_latency_ns) if _expected_latency_ns else _warm_up(run_batch, batch, clock)
    concurrent = len(workers) if workers else 1
    if scenario == "server" and target_qps is None:
        # Half of what the workers sustain by the warm-up estimate: loaded, not saturated.
        target_qps = 0.5 * concurrent * batch * 1e9 / expected_ns
    elif scenario == "server" and mode == "quick":
        check_server_rate(target_qps, concurrent * batch * 1e9 / expected_ns)
    settings = build_test_settings(
        # n workers complete about n times as many queries per second as the warm-up's one
        lg, scenario=scenario, mode=mode, batch=batch, expected_ns=max(1, expected_ns // concurrent),
        target_qps=target_qps, latency_bound_ns=latency_bound_ns, samples_per_query=spq,
        min_duration_s=min_duration_s, min_query_count=min_query_count,
        max_duration_s=max_duration_s, mlperf_model=mlperf_model)

    output = lg.LogOutputSettings()
    output.outdir = str(log_dir)
    output.copy_summary_to_stdout = False
    output.copy_detail_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = output
    # The trace is the only LoadGen log with per-sample latencies.
    log_settings.enable_trace = True

    sut_impl = _SystemUnderTest(lg, run_batch, batch, clock, threaded=(scenario == "server" or concurrent > 1),
                                workers=workers if concurrent > 1 else None)
    sut = qsl = None
    try:
        sut = lg.ConstructSUT(sut_impl.issue_queries, sut_impl.flush_queries)
        qsl = lg.ConstructQSL(QSL_SAMPLES, QSL_SAMPLES, lambda indices: None, lambda indices: None)
        # An audit.config in the working directory would change the run: point at none.
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, "")
    finally:
        sut_impl.close()
        if qsl is not None:
            lg.DestroyQSL(qsl)
        if sut is not None:
            lg.DestroySUT(sut)
    if sut_impl.error is not None:
        raise sut_impl.error
    return result_from_logs(log_dir, scenario=scenario, mode=mode, batch=batch,
                            run_batch_ns=tuple(sut_impl.run_batch_ns),
                            calibration_latency_ns=expected_ns)


def bracket_search(is_valid: Callable[[float], bool], start_qps: float, *, max_trials: int,
                   rel_tolerance: float) -> list[tuple[float, bool]]:
    """The rate search behind find_peak_server_qps; returns every (qps, valid) tried, in order.

    ``is_valid(qps)`` runs one trial. From ``start_qps``: x1.5 while VALID, /2 while INVALID,
    until both a VALID and an INVALID rate are known; then the geometric mean of the highest
    VALID and lowest INVALID rate, until they are within ``rel_tolerance`` or the trials run out.
    """
    tried: list[tuple[float, bool]] = []
    low: float | None = None  # highest VALID rate so far
    high: float | None = None  # lowest INVALID rate so far
    qps = float(start_qps)
    while len(tried) < max_trials:
        ok = bool(is_valid(qps))
        tried.append((qps, ok))
        if ok:
            low = qps if low is None else max(low, qps)
        else:
            high = qps if high is None else min(high, qps)
        if low is None:
            qps = high / 2
        elif high is None:
            qps = low * 1.5
        elif high / low <= 1 + rel_tolerance:
            break
        else:
            qps = math.sqrt(low * high)
    return tried


def find_peak_server_qps(
    run_batch: Callable[[int], Any],
    latency_bound_ns: int | None = None,
    *,
    log_dir: Path,
    mode: str = "quick",
    batch: int = 1,
    min_duration_s: float | None = None,
    min_query_count: int | None = None,
    max_trials: int | None = None,
    rel_tolerance: float = 0.1,
    clock: Callable[[], int] | None = None,
    mlperf_model: str | None = None,
) -> LoadGenResult:
    """Highest server rate (queries/s) whose LoadGen run is VALID under ``latency_bound_ns``.

    Bracketing then bisection on a log scale: start at the rate one worker sustains by the
    warm-up estimate (batch / latency); multiply by 1.5 while VALID or halve while INVALID until
    the peak is bracketed, then try the geometric mean of the bracket until the upper bound is
    within ``rel_tolerance`` of the lower or ``max_trials`` runs are spent (quick: 6; mlperf: 8;
    each trial is a full run of its mode). Returns the VALID run at the highest rate, with
    ``search_trials`` = every (target_qps, valid) tried in order; when no rate was VALID, the run
    at the lowest rate tried. Each trial's logs go to ``log_dir/trial_NN``.
    """
    _validate("server", mode, batch, None, latency_bound_ns, None, min_duration_s, min_query_count, None)
    if not (isinstance(rel_tolerance, (int, float)) and 0 < rel_tolerance < 1):
        raise UserError(f"rel_tolerance: {rel_tolerance!r} is not allowed; it must be between 0 and 1")
    if max_trials is not None:
        _check_positive("max_trials", max_trials, int)
    _import_loadgen()
    clock = clock or time.perf_counter_ns
    trials = int(max_trials or (6 if mode == "quick" else 8))
    expected_ns = _warm_up(run_batch, batch, clock)
    log_dir = Path(log_dir)

    runs: list[LoadGenResult] = []

    def trial(qps: float) -> bool:
        result = run_scenario(run_batch, scenario="server", mode=mode, batch=batch, target_qps=qps,
                              latency_bound_ns=latency_bound_ns, min_duration_s=min_duration_s,
                              min_query_count=min_query_count,
                              log_dir=log_dir / f"trial_{len(runs):02d}", clock=clock,
                              mlperf_model=mlperf_model, _expected_latency_ns=expected_ns)
        runs.append(result)
        return result.valid

    tried = bracket_search(trial, batch * 1e9 / expected_ns, max_trials=trials,
                           rel_tolerance=rel_tolerance)
    valid_runs = [(qps, run) for (qps, ok), run in zip(tried, runs) if ok]
    if valid_runs:
        best = max(valid_runs, key=lambda pair: pair[0])[1]
    else:
        best = min(zip((q for q, _ in tried), runs), key=lambda pair: pair[0])[1]
    return dataclasses.replace(best, search_trials=tuple(tried))
