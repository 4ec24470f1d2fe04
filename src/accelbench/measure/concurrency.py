"""Several inference requests in flight (``bench --streams N``, as ``benchmark_app -nstreams/-nireq``
and ``trtexec --streams``): the loop that keeps them busy, and ``auto``, the search for the count
with the highest throughput.

Each backend turns ``BackendConfig.streams`` into its runtime's own mechanism when it loads (OpenVINO
streams and one infer request per stream, one ONNX Runtime session per stream, torch intra-op threads
split between the streams) and hands back one runner per request (``Backend.request_runners``);
nothing here names a backend. A runner runs one query; runners run in threads of their own (the
runtimes release the GIL while they compute).

The loop, in quick mode: every runner starts at once and keeps running queries back to back.
Warm-up ends when the medians of the last ``warmup_stable_windows`` windows of completed queries
(``streams`` x ``warmup_window`` each) agree within ``warmup_tolerance``, or at the warm-up cap;
then a query counts when it *starts* after the warm-up ended. The measured phase stops by
timing.StopRule (CI target of the median latency per request, time limit, ``iterations``: exactly N
queries are started, ``min_duration_s``); the queries in flight then complete and count. Every
request's latency is kept raw; throughput = completed queries x batch / wall time of the measured
phase (its first start to its last completion), not batch / mean latency.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from accelbench.errors import UserError
from accelbench.measure.timing import Clock, StopRule, TimingConfig, TimingResult

POLL_S = 0.01  # how often the controlling thread looks at the completed queries
AUTO_TRIAL_S = 1.0  # seconds per candidate count in the ``auto`` search (after a short warm-up)
AUTO_WARMUP_S = 0.3


@dataclass(frozen=True)
class StreamsTrial:
    """One candidate count of the ``auto`` search: requests in flight and the throughput it reached."""

    streams: int
    throughput_per_s: float
    queries: int

    def to_dict(self) -> dict:
        return {"streams": self.streams, "throughput_per_s": self.throughput_per_s, "queries": self.queries}


def candidate_streams(cores: int, limit: int | None = None) -> tuple[int, ...]:
    """The counts ``auto`` tries: 1, 2, 4, ... up to ``cores`` (and ``cores`` itself), at most ``limit``."""
    top = max(1, min(cores, limit or cores))
    counts, n = [], 1
    while n < top:
        counts.append(n)
        n *= 2
    counts.append(top)
    return tuple(counts)


class _Lanes:
    """The runner threads and what they completed: (start ns, end ns, measured) per query."""

    def __init__(self, runners: Sequence[Callable[[], Any]], clock: Clock, rule_holder: dict):
        self.runners = list(runners)
        self.clock = clock
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.done: list[tuple[int, int, bool]] = []
        self.measure_start: int | None = None  # set by the controlling thread when the warm-up ends
        self.started_measured = 0
        self.rule_holder = rule_holder  # {"rule": StopRule} once measuring
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._serve, args=(runner,), daemon=True,
                                         name=f"accelbench-stream-{i}") for i, runner in enumerate(self.runners)]

    def _serve(self, runner: Callable[[], Any]) -> None:
        while not self.stop.is_set():
            with self.lock:
                now = self.clock()
                measured = self.measure_start is not None
                rule = self.rule_holder.get("rule")
                if measured and rule is not None and rule.enough_iterations(self.started_measured, now):
                    return
                if measured:
                    self.started_measured += 1
            t0 = self.clock()
            try:
                runner()
            except BaseException as exc:  # re-raised in the calling thread
                self.error = exc
                self.stop.set()
                return
            t1 = self.clock()
            with self.lock:
                self.done.append((t0, t1, measured))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def snapshot(self) -> list[tuple[int, int, bool]]:
        with self.lock:
            return list(self.done)


def time_streams(runners: Sequence[Callable[[], Any]], config: TimingConfig, clock: Clock = time.perf_counter_ns,
                 poll_s: float = POLL_S) -> TimingResult:
    """Run every runner in a thread of its own, back to back, under ``config`` (module docstring):
    raw per-request latencies, and throughput from completed queries over wall time
    (``TimingResult.streams`` = len(runners))."""
    if config.mode != "quick":
        raise UserError("streams: several requests in flight run in quick mode only")
    if not runners:
        raise UserError("streams: no runner to keep in flight")
    streams = len(runners)
    holder: dict = {}
    lanes = _Lanes(runners, clock, holder)
    start = clock()
    warm_cap_ns = int(min(config.warmup_max_s, config.time_limit_s / 3.0) * 1e9)
    window = streams * config.warmup_window
    converged = False
    stop_reason = "time-limit"
    lanes.start()
    try:
        while True:  # warm-up
            time.sleep(poll_s)
            if lanes.error is not None:
                raise lanes.error
            done = lanes.snapshot()
            latencies = [t1 - t0 for t0, t1, _ in done]
            windows = [latencies[i:i + window] for i in range(0, len(latencies) - window + 1, window)]
            medians = [statistics.median(w) for w in windows][-config.warmup_stable_windows:]
            if (len(medians) == config.warmup_stable_windows and min(medians) > 0
                    and max(medians) / min(medians) - 1.0 <= config.warmup_tolerance):
                converged = True
                break
            if clock() - start >= warm_cap_ns and len(latencies) >= streams:
                break
        with lanes.lock:
            warm_end = clock()
            lanes.measure_start = warm_end
            holder["rule"] = rule = StopRule(config, start, warm_end)
        while True:  # measured phase
            time.sleep(poll_s)
            if lanes.error is not None:
                raise lanes.error
            measured = [t1 - t0 for t0, t1, m in lanes.snapshot() if m]
            reason = rule.stop_reason(measured, clock())
            if reason is not None:
                stop_reason = reason
                break
            if config.iterations is not None and not any(t.is_alive() for t in lanes.threads):
                stop_reason = "iterations"
                break
    finally:
        lanes.join()  # the queries in flight complete (and count, when they started after the warm-up)
    if lanes.error is not None:
        raise lanes.error
    done = lanes.snapshot()
    measured = sorted((q for q in done if q[2]), key=lambda q: q[0])
    warm = [t1 - t0 for t0, t1, m in done if not m]
    if not measured:
        raise UserError("streams: no query completed after the warm-up; raise --time-limit")
    latencies = [t1 - t0 for t0, t1, _ in measured]
    first_start, last_end = measured[0][0], max(t1 for _, t1, _ in measured)
    med_rel, mean_rel = rule.final_widths(latencies)
    return TimingResult(
        latency_ns=tuple(int(x) for x in latencies),
        warmup_latency_ns=tuple(int(x) for x in warm),
        measure_wall_ns=int(last_end - first_start),
        warmup_wall_ns=int(warm_end - start),
        target_met=rule.target_met if stop_reason in ("ci-target", "iterations", "min-duration") else False,
        stop_reason=stop_reason,
        warmup_converged=converged,
        median_ci_rel=med_rel,
        mean_ci_rel=mean_rel,
        streams=streams,
    )


def best_streams(trial: Callable[[int], tuple[float, int]], candidates: Sequence[int]) -> tuple[int, tuple[StreamsTrial, ...]]:
    """``auto``: (the count with the highest throughput, every trial in order). ``trial(n)`` loads
    the model for ``n`` requests in flight, runs it briefly and returns (inferences/s, queries).
    The search stops early when a count does worse than the best by more than 5 % (more requests
    than that only divide the cores further)."""
    if not candidates:
        raise UserError("streams: no candidate count to try")
    trials: list[StreamsTrial] = []
    for n in candidates:
        throughput, queries = trial(n)
        trials.append(StreamsTrial(n, throughput, queries))
        best = max(trials, key=lambda t: t.throughput_per_s)
        if throughput < 0.95 * best.throughput_per_s:
            break
    best = max(trials, key=lambda t: t.throughput_per_s)
    return best.streams, tuple(trials)


def trial_config(trial_s: float = AUTO_TRIAL_S) -> TimingConfig:
    """The short timing of one ``auto`` candidate: a brief warm-up, then ``trial_s`` seconds."""
    return TimingConfig(time_limit_s=trial_s + AUTO_WARMUP_S, warmup_max_s=AUTO_WARMUP_S,
                        min_duration_s=trial_s, target_rel_ci=0.5, min_queries=10**9)
