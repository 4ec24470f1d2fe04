"""MLPerf LoadGen scenarios: log parsing on saved real logs, and real short LoadGen runs.

Saved logs in tests/data/loadgen/ come from real LoadGen 6.0.17 runs of run_scenario with a
time.sleep runner (see tests/data/loadgen/README.md). Timing figures on this shared machine are
noisy, so the live tests check LoadGen's own bookkeeping (counts, validity, percentiles against
the raw trace), not speed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from accelbench.errors import UserError
from accelbench.measure.loadgen_logs import (
    parse_detail,
    parse_summary,
    parse_trace_latencies,
    result_from_logs,
)

DATA = Path(__file__).parent / "data" / "loadgen"


def loadgen_percentile(values, percentile: float) -> int:
    """LoadGen's percentile: the sorted value at index floor(p * n), clipped to the last."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(percentile / 100.0 * len(ordered)))]


# ---------------------------------------------------------------------------------------------
# Parsers on saved logs of real runs


def test_parse_single_stream_saved_logs():
    r = result_from_logs(DATA / "single-stream", scenario="single-stream", mode="quick")
    assert r.valid and r.result == "VALID" and r.invalid_reasons == ()
    assert (r.min_duration_met, r.min_queries_met, r.early_stopping_met) == (True, True, True)
    # Figures as printed in mlperf_log_summary.txt.
    assert r.target_latency_percentile == pytest.approx(90.0)
    assert r.target_latency_ns == 4114778 == r.latency_p90_ns
    assert r.latency_p50_ns == 4104032 and r.latency_p99_ns == 4143141 and r.latency_p999_ns == 4143141
    assert (r.latency_min_ns, r.latency_max_ns) == (4039866, 4143141)
    assert r.early_stopping_ns == ((90.0, 4143141),)
    assert r.qps_with_loadgen_overhead == pytest.approx(243.56, abs=0.01)
    assert r.samples_per_s == pytest.approx(243.56, abs=0.01)  # x 1 sample per query
    assert r.query_count == 75 and r.samples_per_query == 1
    assert (r.min_duration_ms, r.min_query_count) == (300, 64)
    assert r.loadgen_version.startswith("6.0.17")
    # Raw per-query latencies from the trace reproduce LoadGen's own statistics exactly.
    assert len(r.query_latencies_ns) == len(r.sample_latencies_ns) == 75
    for p, ns in r.latency_percentiles_ns:
        assert loadgen_percentile(r.query_latencies_ns, p) == ns, p
    assert min(r.query_latencies_ns) == r.latency_min_ns
    assert max(r.query_latencies_ns) == r.latency_max_ns
    assert int(np.mean(r.query_latencies_ns)) == int(r.latency_mean_ns)
    assert r.summary_path.name == "mlperf_log_summary.txt" and r.trace_path is not None


def test_parse_multi_stream_saved_logs_uses_per_query_figures():
    r = result_from_logs(DATA / "multi-stream", scenario="multi-stream", mode="quick", batch=2)
    assert not r.valid and r.early_stopping_met is False
    assert "early stopping not met" in r.invalid_reasons
    assert r.samples_per_query == 4 and r.query_count == 73
    assert len(r.sample_latencies_ns) == 4 * 73 and len(r.query_latencies_ns) == 73
    # The summary's headline is the per-query p99, not the per-sample one in the detail log.
    assert r.target_latency_ns == 6972820 == r.latency_p99_ns
    for p, ns in r.latency_percentiles_ns:
        assert loadgen_percentile(r.query_latencies_ns, p) == ns, p
    detail = parse_detail((DATA / "multi-stream" / "mlperf_log_detail.txt").read_text())
    per_sample_p50 = detail["percentiles_ns"][50.0]
    assert per_sample_p50 == loadgen_percentile(r.sample_latencies_ns, 50.0)
    assert per_sample_p50 != r.latency_p50_ns


def test_parse_server_saved_logs_without_trace():
    r = result_from_logs(DATA / "server", scenario="server", mode="quick")
    assert not r.valid and r.perf_constraints_met is False
    assert r.invalid_reasons[0] == "Reduce target QPS to improve latency."
    assert "latency bound not met" in r.invalid_reasons
    assert r.samples_per_s == pytest.approx(406.31, abs=0.01)
    assert r.scheduled_samples_per_s == pytest.approx(406.87, abs=0.01)
    assert r.target_qps == pytest.approx(400.0)
    assert r.latency_bound_ns == 20_000_000 and r.target_latency_percentile == pytest.approx(99.0)
    assert r.latency_p50_ns == 1368049 and r.query_count == 662
    assert r.overlatency_query_count is not None and r.overlatency_query_count > 0.01 * 662
    assert r.trace_path is None and r.sample_latencies_ns == () and r.latency_source.startswith("none")


def test_parse_offline_saved_logs():
    r = result_from_logs(DATA / "offline", scenario="offline", mode="quick", batch=8)
    assert r.valid and r.query_count == 1
    assert r.samples_per_s == pytest.approx(763.696, abs=1e-3)
    assert len(r.sample_latencies_ns) == r.samples_per_query == 326
    # The last sample completes at the end of the run: samples / that time = samples per second.
    assert 326 / (max(r.sample_latencies_ns) / 1e9) == pytest.approx(r.samples_per_s, rel=0.01)


def test_parse_summary_tolerates_partial_and_garbage_text():
    text = """junk line without colon
Scenario : Server
Result is : INVALID
  Performance constraints satisfied : NO
Completed samples per second    : 12.5
 * Early stopping 99.0th percentile estimate: 777
99.00 percentile latency (ns)   : not-a-number
"""
    s = parse_summary(text)
    assert s["valid"] is False and s["perf_constraints_met"] is False
    assert s["Completed samples per second"] == 12.5 and s["Scenario"] == "Server"
    assert s["early_stopping_ns"] == {99.0: 777}
    assert s["min_duration_met"] is None and s["target_percentile_ns"] is None
    assert parse_summary("")["valid"] is False


def test_parse_detail_skips_bad_records(tmp_path):
    text = (':::MLLOG {"key": "result_validity", "value": "VALID", "metadata": {}}\n'
            ':::MLLOG {not json}\n'
            'plain text\n'
            ':::MLLOG {"key": "error_runtime", "value": "boom", "metadata": {"is_error": true}}\n'
            ':::MLLOG {"key": "result_99.90_percentile_latency_ns", "value": 42, "metadata": {}}\n')
    d = parse_detail(text)
    assert d["result_validity"] == "VALID" and d["errors"] == ["error_runtime: boom"]
    assert d["percentiles_ns"] == {99.9: 42}
    trace = tmp_path / "mlperf_log_trace.json"
    trace.write_text(
        '{"traceEvents":[\n'
        '{"name":"Sample","cat":"default","ph":"b","pid":1,"id":0,"ts":1.0,"args":{"sample_seq":0,'
        '"query_seq":0,"sample_idx":3,"issue_start_ns":0,"complete_ns":500}},\n'
        '{"name":"Sample","cat":"default","ph":"e", "pid":1,"id":0,"ts":2.0},\n'
        '{"name":"Sample","cat":"default","ph":"b","pid":1,"id":1,"ts":1.0,"args":{"sample_seq":1,'
        '"query_seq":0,"sample_idx":4,"issue_start_ns":0,"complete_ns":700}},\n'
        '{"name":"Sample","cat":"default","ph":"b","pid":1,"id":2,"ts":3.0,"args":{"sample_seq":2,'
        '"query_seq":1,"sample_idx":5,"issue_start_ns":0,"complete_ns":300}},\n'
        '{"name":"LastTrace"}\n]}\n')
    assert parse_trace_latencies(trace) == ((500, 700, 300), (700, 300))


# ---------------------------------------------------------------------------------------------
# Argument checks (before LoadGen is touched)


def test_bad_scenario_lists_allowed_names(tmp_path):
    from accelbench.measure.loadgen import run_scenario

    with pytest.raises(UserError) as err:
        run_scenario(lambda n: None, scenario="streaming", log_dir=tmp_path)
    message = str(err.value)
    assert "'streaming'" in message
    for name in ("single-stream", "multi-stream", "offline", "server"):
        assert name in message


@pytest.mark.parametrize("kwargs, needle", [
    (dict(scenario="offline", mode="fast"), "quick, mlperf"),
    (dict(scenario="single-stream", batch=4), "batch 1"),
    (dict(scenario="offline", batch=0), "positive integer"),
    (dict(scenario="server", target_qps=-3.0), "positive number"),
    (dict(scenario="offline", target_qps=10.0), "only apply to server"),
    (dict(scenario="offline", samples_per_query=4), "multi-stream"),
    (dict(scenario="offline", mode="mlperf", min_duration_s=1.0), "mlperf mode"),
])
def test_bad_arguments_are_user_errors(tmp_path, kwargs, needle):
    from accelbench.measure.loadgen import run_scenario

    with pytest.raises(UserError, match=needle):
        run_scenario(lambda n: None, log_dir=tmp_path, **kwargs)


def test_mlperf_mode_keeps_loadgen_rules():
    lg = pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import build_test_settings

    common = dict(batch=1, expected_ns=1_000_000, target_qps=None, latency_bound_ns=None,
                  samples_per_query=8, min_duration_s=None, min_query_count=None,
                  max_duration_s=None, mlperf_model=None)
    ms = build_test_settings(lg, scenario="multi-stream", mode="mlperf", **common)
    assert ms.min_duration_ms == 600_000 and ms.min_query_count == 662
    assert ms.multi_stream_target_latency_percentile == pytest.approx(0.99)
    ss = build_test_settings(lg, scenario="single-stream", mode="mlperf", **common)
    assert ss.min_duration_ms == 600_000 and ss.single_stream_target_latency_percentile == pytest.approx(0.9)
    server = build_test_settings(lg, scenario="server", mode="mlperf",
                                 **{**common, "target_qps": 50.0, "mlperf_model": "resnet50"})
    assert server.server_target_latency_ns == 15_000_000 and server.server_target_qps == 50.0
    quick = build_test_settings(lg, scenario="server", mode="quick", **{**common, "target_qps": 50.0})
    assert quick.min_duration_ms == 2000 and quick.min_query_count == 662
    assert quick.server_target_latency_ns == 10_000_000  # mlperf.conf's '*' bound


def test_bracket_search_converges_on_threshold():
    from accelbench.measure.loadgen import bracket_search

    tried = bracket_search(lambda qps: qps <= 300.0, 100.0, max_trials=20, rel_tolerance=0.05)
    assert [q for q, _ in tried[:4]] == pytest.approx([100.0, 150.0, 225.0, 337.5])
    best = max(q for q, ok in tried if ok)
    worst_bad = min(q for q, ok in tried if not ok)
    assert best <= 300.0 < worst_bad and worst_bad / best <= 1.05
    down = bracket_search(lambda qps: qps <= 10.0, 100.0, max_trials=3, rel_tolerance=0.05)
    assert down == [(100.0, False), (50.0, False), (25.0, False)]


# ---------------------------------------------------------------------------------------------
# Real LoadGen runs (seconds each)


def _matmul_runner(size: int = 96, repeat: int = 4):
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)

    def run(n: int) -> None:
        for _ in range(n * repeat):
            a @ a
    return run


def _onnxruntime_runner(batch: int):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((32, 16, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "one_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16, 48, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32, 48, 48])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    inputs = rng.standard_normal((batch, 16, 48, 48)).astype(np.float32)

    def run(n: int) -> None:
        session.run(None, {"x": inputs[:n]})
    return run


@pytest.mark.slow
def test_single_stream_real_run(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import run_scenario

    r = run_scenario(_matmul_runner(), scenario="single-stream", min_duration_s=0.5, log_dir=tmp_path)
    assert r.valid, r.invalid_reasons
    assert r.query_count >= 64 and len(r.query_latencies_ns) == r.query_count
    assert len(r.run_batch_ns) == r.query_count
    # LoadGen's latency of each query contains our timing of its inference.
    assert all(q >= run for q, run in zip(r.query_latencies_ns, r.run_batch_ns))
    assert r.latency_p90_ns == loadgen_percentile(r.query_latencies_ns, 90.0)
    assert r.early_stopping_ns and r.early_stopping_ns[0][0] == 90.0
    assert r.calibration_latency_ns > 0 and (tmp_path / "mlperf_log_summary.txt").is_file()


@pytest.mark.slow
def test_offline_real_run_onnxruntime(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import run_scenario

    batch = 4
    r = run_scenario(_onnxruntime_runner(batch), scenario="offline", batch=batch, min_duration_s=0.5,
                     log_dir=tmp_path)
    assert r.valid, r.invalid_reasons
    samples = r.samples_per_query
    assert r.query_count == 1 and len(r.sample_latencies_ns) == samples
    assert len(r.run_batch_ns) == -(-samples // batch)  # ceil: the last chunk may be partial
    # Throughput cannot beat the inference time alone.
    assert r.samples_per_s <= samples / (sum(r.run_batch_ns) / 1e9) * 1.001
    assert samples / (max(r.sample_latencies_ns) / 1e9) == pytest.approx(r.samples_per_s, rel=0.01)


@pytest.mark.slow
def test_server_low_rate_loose_bound_is_valid(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import run_scenario

    r = run_scenario(_matmul_runner(size=32, repeat=1), scenario="server", target_qps=400.0,
                     latency_bound_ns=500_000_000, min_duration_s=0.5, log_dir=tmp_path)
    assert r.valid, r.invalid_reasons
    assert r.perf_constraints_met is True and r.latency_bound_ns == 500_000_000
    assert r.query_count >= 662 and len(r.query_latencies_ns) == r.query_count
    assert r.latency_p99_ns <= 500_000_000
    # Poisson arrivals at 400/s: over >= 662 queries the scheduled rate is within ~4 sigma.
    assert r.scheduled_samples_per_s == pytest.approx(400.0, rel=0.16)


@pytest.mark.slow
def test_multi_stream_real_run_batches_each_query(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import run_scenario

    r = run_scenario(_matmul_runner(size=32, repeat=1), scenario="multi-stream", batch=2,
                     samples_per_query=4, min_duration_s=0.3, log_dir=tmp_path)
    assert r.samples_per_query == 4 and r.query_count >= 662
    assert len(r.run_batch_ns) == 2 * r.query_count  # 4 samples in 2 batches of 2
    assert len(r.sample_latencies_ns) == 4 * r.query_count
    assert r.latency_p99_ns == loadgen_percentile(r.query_latencies_ns, 99.0)


@pytest.mark.slow
def test_runner_failure_is_raised_after_loadgen_finishes(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import run_scenario

    calls = {"n": 0}

    def flaky(n: int) -> None:
        calls["n"] += 1
        time.sleep(0.001)
        if calls["n"] == 30:  # after the warm-up's 20 calls, inside the LoadGen run
            raise RuntimeError("device lost")

    with pytest.raises(RuntimeError, match="device lost"):
        run_scenario(flaky, scenario="server", target_qps=200.0, latency_bound_ns=10**9,
                     min_duration_s=0.2, min_query_count=20, log_dir=tmp_path)


@pytest.mark.slow
def test_find_peak_server_qps_real_runs(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import find_peak_server_qps

    def two_ms(n: int) -> None:  # a server that sustains about 500 queries/s
        time.sleep(0.002)

    r = find_peak_server_qps(two_ms, 200_000_000, log_dir=tmp_path, min_duration_s=0.3, max_trials=2)
    assert len(r.search_trials) == 2
    first, second = r.search_trials
    # Second trial follows the bracketing rule from the first.
    assert first[0] == pytest.approx(1e9 / r.calibration_latency_ns, rel=1e-6)
    assert second[0] == pytest.approx(first[0] * (1.5 if first[1] else 0.5))
    valid_rates = [q for q, ok in r.search_trials if ok]
    if valid_rates:
        assert r.valid and r.target_qps == pytest.approx(max(valid_rates), rel=1e-3)
    assert (tmp_path / "trial_00" / "mlperf_log_summary.txt").is_file()
    assert (tmp_path / "trial_01" / "mlperf_log_summary.txt").is_file()
