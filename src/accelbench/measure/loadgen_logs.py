"""Parsers for the log files MLPerf LoadGen writes (no runtime imported here).

LoadGen writes, in the ``outdir`` of its ``LogOutputSettings``:

- ``mlperf_log_summary.txt``: the human summary ("Result is : VALID", percentiles, early stopping).
- ``mlperf_log_detail.txt``: one ``:::MLLOG {json}`` record per line; the ``result_*``,
  ``effective_*`` and ``early_stopping_*`` keys carry the same figures as the summary, typed.
- ``mlperf_log_trace.json`` (only with ``LogSettings.enable_trace``): a Chrome trace with one
  ``Sample`` begin event per sample whose ``args.complete_ns`` is LoadGen's own latency of that
  sample (completion time minus the query's *scheduled* issue time, in ns). The summary and detail
  logs hold no per-sample latencies, so this is where the raw samples come from.
- ``mlperf_log_accuracy.json``: empty in performance mode.

Every latency here is an integer number of nanoseconds, as LoadGen reports it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from accelbench.results.records import LoadGenSummary

SUMMARY_FILE = "mlperf_log_summary.txt"
DETAIL_FILE = "mlperf_log_detail.txt"
TRACE_FILE = "mlperf_log_trace.json"

_MLLOG_PREFIX = ":::MLLOG "
_KEY_VALUE = re.compile(r"^\s*(?P<key>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")
_PERCENTILE_LINE = re.compile(r"^(?P<p>\d+(?:\.\d+)?)\s*(?:th)?\s*percentile latency \(ns\)$")
_EARLY_ESTIMATE = re.compile(
    r"Early stopping (?P<p>\d+(?:\.\d+)?)th percentile estimate\s*:\s*(?P<ns>\d+)"
)
_DETAIL_PERCENTILE = re.compile(
    r"^result_(?P<p>\d+(?:\.\d+)?)_percentile_(?P<per_query>per_query_)?latency_ns$"
)
# The trace writes one JSON object per line; only sample begin events carry complete_ns.
_TRACE_SAMPLE = re.compile(
    r'"name":"Sample".*?"ph":"b".*?"args":\{[^}]*?"query_seq":(?P<query>\d+)[^}]*?'
    r'"complete_ns":(?P<ns>-?\d+)'
)


def _to_number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _yes_no(text: str | None) -> bool | None:
    if text is None:
        return None
    low = text.strip().lower()
    if low in ("yes", "true"):
        return True
    if low in ("no", "false"):
        return False
    return None


def parse_summary(text: str) -> dict[str, Any]:
    """Parse ``mlperf_log_summary.txt`` into a flat dict.

    Keys are the summary's own labels (e.g. ``"Scenario"``, ``"Samples per second"``,
    ``"Min latency (ns)"``) with numbers converted, plus these normalised keys:
    ``valid`` (bool, from "Result is : VALID"), ``result`` ("VALID"/"INVALID"),
    ``min_duration_met`` / ``min_queries_met`` / ``early_stopping_met`` /
    ``perf_constraints_met`` (bool or None; the last only in Server),
    ``percentiles_ns`` ({percentile: ns} from the "Additional Stats" block, e.g. 99.9),
    ``target_percentile_ns`` ((percentile, ns) of the scenario's headline line such as
    "90.0th percentile latency (ns)", or None), ``early_stopping_ns`` ({percentile: ns}) and
    ``recommendations`` (list of the lines under "Recommendations:").
    """
    out: dict[str, Any] = {"percentiles_ns": {}, "early_stopping_ns": {}, "recommendations": []}
    section = "head"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or set(line) == {"="}:
            continue
        if line == "Additional Stats":
            section = "stats"
            continue
        if line == "Test Parameters Used":
            section = "params"
            continue
        if line.startswith("Recommendations:"):
            section = "recommendations"
            continue
        if line.startswith("Early Stopping Result:"):
            section = "early"
            continue
        early = _EARLY_ESTIMATE.search(line)
        if early:
            out["early_stopping_ns"][float(early["p"])] = int(early["ns"])
            continue
        if section == "recommendations" and line.startswith("*"):
            out["recommendations"].append(line.lstrip("* ").strip())
            continue
        match = _KEY_VALUE.match(line)
        if not match:
            continue
        key, value = match["key"].strip(), match["value"].strip()
        pct = _PERCENTILE_LINE.match(key)
        if pct:
            ns = _to_number(value)
            if isinstance(ns, int):
                if section == "stats":
                    out["percentiles_ns"][float(pct["p"])] = ns
                else:
                    out["target_percentile_ns"] = (float(pct["p"]), ns)
            continue
        if key == "Result is":
            out["result"] = value
            out["valid"] = value.upper() == "VALID"
        elif key == "Min duration satisfied":
            out["min_duration_met"] = _yes_no(value)
        elif key == "Min queries satisfied":
            out["min_queries_met"] = _yes_no(value)
        elif key == "Early stopping satisfied":
            out["early_stopping_met"] = _yes_no(value)
        elif key == "Performance constraints satisfied":
            out["perf_constraints_met"] = _yes_no(value)
        elif section == "params":
            out.setdefault("params", {})[key] = _to_number(value)
        else:
            out[key] = _to_number(value)
    out.setdefault("valid", False)
    out.setdefault("target_percentile_ns", None)
    for key in ("min_duration_met", "min_queries_met", "early_stopping_met", "perf_constraints_met"):
        out.setdefault(key, None)
    return out


def parse_detail(text: str) -> dict[str, Any]:
    """Parse ``mlperf_log_detail.txt`` (``:::MLLOG {json}`` lines) into ``{key: value}``.

    When a key appears more than once the last value wins, except ``error_*`` and
    ``warning_*`` records, which are collected in the lists ``errors`` and ``warnings``.
    ``percentiles_ns`` gathers the ``result_<p>_percentile_latency_ns`` keys as {p: ns} (per
    sample); ``per_query_percentiles_ns`` the ``..._per_query_latency_ns`` ones (MultiStream only).
    Lines that are not MLLOG records, or whose JSON does not parse, are skipped.
    """
    out: dict[str, Any] = {"errors": [], "warnings": [], "percentiles_ns": {},
                           "per_query_percentiles_ns": {}}
    for raw in text.splitlines():
        start = raw.find(_MLLOG_PREFIX)
        if start < 0:
            continue
        try:
            record = json.loads(raw[start + len(_MLLOG_PREFIX):])
        except json.JSONDecodeError:
            continue
        key, value = record.get("key"), record.get("value")
        if not isinstance(key, str):
            continue
        meta = record.get("metadata") or {}
        if meta.get("is_error") or key.startswith("error_"):
            out["errors"].append(f"{key}: {value}")
        elif meta.get("is_warning") or key.startswith("warning_"):
            out["warnings"].append(f"{key}: {value}")
        pct = _DETAIL_PERCENTILE.match(key)
        if pct and isinstance(value, (int, float)):
            table = "per_query_percentiles_ns" if pct["per_query"] else "percentiles_ns"
            out.setdefault(table, {})[float(pct["p"])] = int(value)
        out[key] = value
    return out


def parse_trace_latencies(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-sample and per-query latencies (ns) from ``mlperf_log_trace.json``.

    Returns ``(sample_latencies_ns, query_latencies_ns)``: samples in trace order; one query
    latency per LoadGen query (``query_seq``), the latest-completing of its samples, in query
    order. That is LoadGen's own definition of a query's latency (MultiStream takes the slowest
    sample of the query). The file is read line by line: a long run's trace is large.
    """
    samples: list[int] = []
    per_query: dict[int, int] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if '"Sample"' not in line or '"ph":"b"' not in line:
                continue
            match = _TRACE_SAMPLE.search(line)
            if not match:
                continue
            ns, query = int(match["ns"]), int(match["query"])
            samples.append(ns)
            per_query[query] = max(ns, per_query.get(query, ns))
    return tuple(samples), tuple(per_query[q] for q in sorted(per_query))


# Our scenario names (as on the command line) and LoadGen's.
SCENARIOS: dict[str, str] = {
    "single-stream": "SingleStream",
    "multi-stream": "MultiStream",
    "offline": "Offline",
    "server": "Server",
}
MODES = ("quick", "mlperf")
# The raw per-sample / per-query / per-call lists a LoadGenResult holds beyond its summary.
RAW_LATENCIES = ("sample_latencies_ns", "query_latencies_ns", "run_batch_ns")
# What to change when a LoadGen constraint was not met, in accelbench's options.
CONSTRAINT_ADVICE = {
    "latency bound not met": "lower the arrival rate (--target-qps) or loosen the bound (--latency-bound-ms)",
    "min duration not met": "run longer (a larger --time-limit in quick mode)",
    "min query count not met": "run more queries (a larger --time-limit, or a faster configuration)",
    "early stopping not met": ("run more queries so that LoadGen's early stopping can bound the percentile "
                               "(a larger --time-limit)"),
}


def _pairs(mapping: dict[float, int]) -> tuple[tuple[float, int], ...]:
    return tuple(sorted((float(k), int(v)) for k, v in mapping.items()))


@dataclass(frozen=True, kw_only=True)
class LoadGenResult(LoadGenSummary):
    """One LoadGen run, parsed from its logs: the summary a record keeps (LoadGenSummary, in
    results/records.py) plus the raw latencies behind it. Latencies are integer nanoseconds.

    ``valid`` is LoadGen's verdict ("Result is : VALID"); ``invalid_reasons`` says why not and
    ``advice`` what to change (LoadGen's recommendations, then one line per unmet constraint).
    ``latency_percentiles_ns``, ``latency_min/max/mean_ns`` are LoadGen's own statistics
    ((percentile, ns) pairs such as (90.0, ...), (99.9, ...)) over per-query latencies: a query's
    latency runs from its *scheduled* issue time to the completion of its last sample, so in the
    server scenario it includes queueing. In offline, the one query holds every sample and these
    figures describe when samples completed, not a latency anyone waits for.
    ``perf_constraints_met`` (server only): the p99 latency was within ``latency_bound_ns``. ``sample_latencies_ns`` / ``query_latencies_ns`` are the raw figures behind
    them, read from LoadGen's trace; ``run_batch_ns`` is our own perf_counter_ns timing of each
    ``run_batch`` call (inference only, no queueing), in call order.
    ``samples_per_s`` is the headline throughput: LoadGen's "Samples per second" (offline),
    "Completed samples per second" (server), or for single-/multi-stream the derived
    ``QPS with loadgen overhead * samples_per_query``.
    """

    sample_latencies_ns: tuple[int, ...]
    query_latencies_ns: tuple[int, ...]
    run_batch_ns: tuple[int, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in RAW_LATENCIES:
            values = getattr(self, name)
            if any((not isinstance(v, int)) or v < 0 for v in values):
                raise ValueError(f"{name} must hold non-negative integer nanoseconds")

    def summary(self) -> LoadGenSummary:
        """What a record keeps: every figure but the raw latency lists."""
        return LoadGenSummary(**{f.name: getattr(self, f.name) for f in fields(LoadGenSummary)})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the summary's, then the raw lists."""
        return {**super().to_dict(), **{name: list(getattr(self, name)) for name in RAW_LATENCIES}}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def result_from_logs(
    log_dir: Path,
    *,
    scenario: str,
    mode: str,
    batch: int = 1,
    run_batch_ns: tuple[int, ...] = (),
    calibration_latency_ns: int | None = None,
) -> LoadGenResult:
    """Build a LoadGenResult from the logs LoadGen wrote in ``log_dir``.

    The typed detail log is the first source for every figure; the summary fills what the detail
    log lacks (the scenario's headline throughput, early-stopping estimates, Yes/No checks).
    Raw latencies come from the trace when it exists, else they are left empty.
    """
    log_dir = Path(log_dir)
    summary_path, detail_path = log_dir / SUMMARY_FILE, log_dir / DETAIL_FILE
    trace_path = log_dir / TRACE_FILE
    if not summary_path.is_file() or not detail_path.is_file():
        raise FileNotFoundError(f"LoadGen logs missing in {log_dir} (need {SUMMARY_FILE} and {DETAIL_FILE})")
    summary = parse_summary(summary_path.read_text(encoding="utf-8", errors="replace"))
    detail = parse_detail(detail_path.read_text(encoding="utf-8", errors="replace"))
    samples: tuple[int, ...] = ()
    queries: tuple[int, ...] = ()
    if trace_path.is_file():
        samples, queries = parse_trace_latencies(trace_path)
    else:
        trace_path = None

    lg_scenario = SCENARIOS[scenario]
    samples_per_query = _as_int(detail.get("effective_samples_per_query")) or _as_int(
        summary.get("params", {}).get("samples_per_query")) or 1
    qps_with = _as_float(_first(detail.get("result_qps_with_loadgen_overhead"),
                                summary.get("QPS w/ loadgen overhead")))
    qps_without = _as_float(_first(detail.get("result_qps_without_loadgen_overhead"),
                                   summary.get("QPS w/o loadgen overhead")))
    if lg_scenario == "Offline":
        samples_per_s = _as_float(_first(summary.get("Samples per second"),
                                         detail.get("result_samples_per_second")))
    elif lg_scenario == "Server":
        samples_per_s = _as_float(_first(summary.get("Completed samples per second"),
                                         detail.get("result_completed_samples_per_sec")))
    else:
        samples_per_s = qps_with * samples_per_query if qps_with is not None else None
    scheduled = _as_float(_first(detail.get("result_scheduled_samples_per_sec"),
                                 summary.get("Scheduled samples per second")))

    # LoadGen's headline statistics are per query; MultiStream also logs per-sample ones, which
    # the raw sample latencies keep.
    per_query = lg_scenario == "MultiStream"
    percentiles = dict(summary.get("percentiles_ns", {}))
    percentiles.update(detail.get("per_query_percentiles_ns" if per_query else "percentiles_ns", {}))
    q = "_query" if per_query else ""
    early = dict(summary.get("early_stopping_ns", {}))
    target_pct = _as_float(detail.get("effective_target_latency_percentile"))
    target_pct = target_pct * 100.0 if target_pct is not None else None
    headline = summary.get("target_percentile_ns")
    target_latency_ns = headline[1] if headline else None
    if target_pct is None and headline:
        target_pct = headline[0]
    bound = _as_int(detail.get("effective_target_latency_ns"))
    if lg_scenario != "Server" or not bound:
        bound = None

    result_text = str(_first(summary.get("result"), detail.get("result_validity"), "INVALID"))
    valid = result_text.upper() == "VALID"
    reasons: list[str] = []
    advice: list[str] = []
    if not valid:
        reason = detail.get("result_invalid_reason")
        if isinstance(reason, str) and reason.strip():
            reasons.append(reason.strip())
        reasons.extend(r for r in summary.get("recommendations", []) if r not in " ".join(reasons))
        advice.extend(summary.get("recommendations", []))
        for label, ok in (("latency bound not met", summary.get("perf_constraints_met")),
                          ("min duration not met", summary.get("min_duration_met")),
                          ("min query count not met", summary.get("min_queries_met")),
                          ("early stopping not met", summary.get("early_stopping_met"))):
            if ok is False:
                reasons.append(label)
                advice.append(CONSTRAINT_ADVICE[label])

    def met(detail_key: str, summary_key: str) -> bool | None:
        value = detail.get(detail_key)
        return value if isinstance(value, bool) else summary.get(summary_key)

    return LoadGenResult(
        scenario=scenario,
        mode=mode,
        valid=valid,
        result=result_text,
        invalid_reasons=tuple(reasons),
        min_duration_met=met("result_min_duration_met", "min_duration_met"),
        min_queries_met=met("result_min_queries_met", "min_queries_met"),
        early_stopping_met=met("early_stopping_met", "early_stopping_met"),
        perf_constraints_met=met("result_perf_constraints_met", "perf_constraints_met"),
        batch=batch,
        samples_per_query=samples_per_query,
        query_count=_as_int(detail.get("result_query_count")),
        overlatency_query_count=_as_int(detail.get("result_overlatency_query_count")),
        samples_per_s=samples_per_s,
        scheduled_samples_per_s=scheduled if lg_scenario == "Server" else None,
        qps_with_loadgen_overhead=qps_with,
        qps_without_loadgen_overhead=qps_without,
        target_qps=_as_float(detail.get("effective_target_qps")),
        latency_bound_ns=bound,
        target_latency_percentile=target_pct,
        target_latency_ns=target_latency_ns,
        latency_min_ns=_as_int(_first(detail.get(f"result_min{q}_latency_ns"),
                                      summary.get("Min latency (ns)"))),
        latency_max_ns=_as_int(_first(detail.get(f"result_max{q}_latency_ns"),
                                      summary.get("Max latency (ns)"))),
        latency_mean_ns=_as_float(_first(detail.get(f"result_mean{q}_latency_ns"),
                                         summary.get("Mean latency (ns)"))),
        latency_percentiles_ns=_pairs(percentiles),
        early_stopping_ns=_pairs(early),
        min_duration_ms=_as_int(detail.get("effective_min_duration_ms")),
        min_query_count=_as_int(detail.get("effective_min_query_count")),
        sample_latencies_ns=samples,
        query_latencies_ns=queries,
        run_batch_ns=tuple(int(v) for v in run_batch_ns),
        calibration_latency_ns=calibration_latency_ns,
        loadgen_version=detail.get("loadgen_version"),
        errors=tuple(detail.get("errors", ())),
        warnings=tuple(detail.get("warnings", ())),
        log_dir=log_dir,
        summary_path=summary_path,
        detail_path=detail_path,
        trace_path=trace_path,
        latency_source="loadgen trace (Sample.complete_ns)" if trace_path else "none (no trace log)",
        advice=tuple(dict.fromkeys(advice)),
    )
