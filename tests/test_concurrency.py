"""Several inference requests in flight (--streams N|auto, as benchmark_app -nstreams/-nireq and
trtexec --streams): the loop that keeps them busy, throughput = completed queries / wall time, the
per-backend mechanisms (ONNX Runtime sessions, OpenVINO streams and infer requests, torch threads),
LoadGen's system under test with several workers, the auto search, and the record."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from accelbench.backends.base import BackendConfig, concurrent_backends, cycling, get_backend
from accelbench.errors import UserError
from accelbench.measure.concurrency import best_streams, candidate_streams, time_streams
from accelbench.measure.timing import TimingConfig
from accelbench.results.records import BenchConfig, BenchRecord
from cli_helpers import cli_exit_code

SLEEP_S = 0.02


def _sleeper(counts: list, i: int):
    def run():
        time.sleep(SLEEP_S)  # releases the GIL, as the runtimes do while they compute
        counts[i] += 1
    return run


def test_four_requests_in_flight_complete_four_times_as_many_queries():
    config = TimingConfig(time_limit_s=1.2, warmup_max_s=0.1)
    counts = [0] * 4
    result = time_streams([_sleeper(counts, i) for i in range(4)], config)
    one = time_streams([_sleeper([0], 0)], config)
    # throughput is completed queries over wall time, not 1 / mean latency (that would say 50/s for both)
    assert result.streams == 4 and result.throughput_per_s() == pytest.approx(
        result.queries * 1e9 / result.measure_wall_ns)
    assert result.throughput_per_s() == pytest.approx(4 / SLEEP_S, rel=0.3)
    assert one.throughput_per_s() == pytest.approx(1 / SLEEP_S, rel=0.3)
    assert result.throughput_per_s() > 2.5 * one.throughput_per_s()
    # each request's latency is kept raw: about the sleep, whatever the number in flight
    assert np.median(result.latency_ns) == pytest.approx(SLEEP_S * 1e9, rel=0.5)
    assert all(c > 0 for c in counts)  # every request ran


def test_iterations_count_queries_across_the_requests_in_flight():
    result = time_streams([_sleeper([0], 0) for _ in range(3)], TimingConfig(time_limit_s=30, iterations=40,
                                                                           warmup_max_s=0.05))
    assert result.queries == 40 and result.stop_reason == "iterations"


def test_min_duration_holds_the_requests_in_flight():
    result = time_streams([_sleeper([0], 0) for _ in range(2)], TimingConfig(time_limit_s=0.2, min_duration_s=0.6,
                                                                           warmup_max_s=0.05))
    assert result.measure_wall_ns >= 0.6e9


def test_a_failing_request_fails_the_measurement():
    def broken():
        raise RuntimeError("device lost")

    with pytest.raises(RuntimeError, match="device lost"):
        time_streams([_sleeper([0], 0), broken], TimingConfig(time_limit_s=1))


def test_auto_keeps_the_count_with_the_best_throughput_and_stops_when_it_falls():
    measured = {1: 100.0, 2: 180.0, 4: 150.0, 8: 400.0}
    tried = []

    def trial(n):
        tried.append(n)
        return measured[n], 10

    best, trials = best_streams(trial, (1, 2, 4, 8))
    assert best == 2 and tried == [1, 2, 4]  # 4 fell more than 5 % below 2: more would split the cores further
    assert [t.streams for t in trials] == [1, 2, 4] and trials[1].throughput_per_s == 180.0
    assert candidate_streams(8) == (1, 2, 4, 8) and candidate_streams(6) == (1, 2, 4, 6)
    assert candidate_streams(16, limit=3) == (1, 2, 3) and candidate_streams(1) == (1,)


def test_each_request_cycles_through_the_input_sets_from_its_own():
    seen = []
    runner = cycling(seen.append, ["a", "b", "c"], 1)
    for _ in range(4):
        runner()
    assert seen == ["b", "c", "a", "b"]
    with pytest.raises(UserError, match="streams: must be a positive integer"):
        BenchConfig(model="resnet50", streams=0)
    with pytest.raises(UserError, match="streams"):
        BackendConfig(streams=0)


def _tiny_matmul(tmp_path):
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [64, 10], np.random.default_rng(0).standard_normal(640).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_give_one_request_per_stream_with_the_same_outputs(backend, tmp_path):
    pytest.importorskip(backend)
    model = _tiny_matmul(tmp_path)
    cls = get_backend(backend)
    many = cls(BackendConfig(streams=3, threads=2))
    one = cls(BackendConfig())
    many.load(model)
    one.load(model)
    try:
        sets = [one.prepare_inputs(seed) for seed in range(3)]
        runners = many.request_runners([many.inputs_from_arrays(s) for s in sets])
        assert len(runners) == 3
        # request i starts at set i: same outputs as one request on that set
        for i, runner in enumerate(runners):
            np.testing.assert_allclose(many.outputs_as_numpy(runner())[0], one.outputs_as_numpy(one.run(sets[i]))[0],
                                       rtol=1e-5)
        # runners are safe to call at once (their own session / infer request each)
        errors = []

        def hammer(runner):
            try:
                for _ in range(50):
                    runner()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=hammer, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        info = many.describe()
        if backend == "openvino":
            # OpenVINO caps its streams at the threads it may use; the requests stay three
            assert info.extra["infer_requests"] == 3 and 2 <= info.extra["num_streams"] <= 3
        else:
            assert info.extra["streams"]["sessions"] == 3 and info.extra["streams"]["intra_op_threads_per_session"] == 1
    finally:
        many.close()
        one.close()


def test_every_runtime_backend_keeps_several_requests_in_flight():
    assert {"onnxruntime", "openvino", "torch", "auto"} <= set(concurrent_backends())


def test_loadgen_offline_serves_queries_with_every_worker(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    from accelbench.measure.loadgen import run_scenario

    calls = [0, 0]

    def worker(i):
        def run(n):
            time.sleep(0.004)
            calls[i] += 1
        return run

    result = run_scenario(worker(0), scenario="offline", batch=1, log_dir=tmp_path, min_duration_s=0.3,
                          workers=[worker(0), worker(1)])
    assert result.valid and calls[0] > 0 and calls[1] > 0
    with pytest.raises(UserError, match="streams: several requests in flight serve the offline or server scenario"):
        run_scenario(worker(0), scenario="single-stream", log_dir=tmp_path, workers=[worker(0), worker(1)])


def test_a_record_with_requests_in_flight_derives_throughput_from_wall_time():
    cfg = BenchConfig(model="resnet50", scenario="offline", batch=2, streams=2)
    record = BenchRecord(config=cfg, run_id="r", latency_ns=(10_000_000,) * 10, measure_wall_ns=50_000_000, streams=2)
    # 10 queries of 2 inferences in 50 ms of wall time: 400/s (1 / mean latency would say 200/s)
    assert record.throughput_per_s == pytest.approx(400.0)
    assert record.throughput_ci_per_s is None
    assert "wall time" in record.provenance["throughput_per_s"]
    back = BenchRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back.streams == 2 and back.throughput_per_s == pytest.approx(400.0) and back.config.streams == 2
    # one request at a time: the keys of earlier records, unchanged
    plain = BenchRecord(config=BenchConfig(model="resnet50"), run_id="r", latency_ns=(10_000_000,) * 10)
    assert "streams" not in plain.to_dict() and "streams" not in plain.to_dict()["config"]


@pytest.mark.slow
def test_bench_streams_through_the_cli(tmp_path):
    pytest.importorskip("onnxruntime")
    proc = subprocess.run([sys.executable, "-m", "accelbench", "bench", "resnet50", "-r", "32", "--scenario", "offline",
                           "--batch", "2", "--streams", "2", "--time-limit", "1", "--no-save", "-f", "json"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["streams"] == 2 and record["config"]["streams"] == 2
    assert record["throughput_per_s"] == pytest.approx(record["queries"] * 2 * 1e9 / record["measure_wall_ns"])
    assert record["run_info"]["extra"]["streams"]["sessions"] == 2


@pytest.mark.slow
def test_bench_streams_auto_reports_the_best_setting(tmp_path):
    pytest.importorskip("onnxruntime")
    proc = subprocess.run([sys.executable, "-m", "accelbench", "bench", "resnet50", "-r", "32", "--scenario", "offline",
                           "--streams", "auto", "--threads", "2", "--time-limit", "1", "--no-save"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("requests in flight"))
    assert "auto tried 1:" in line and "2:" in line


@pytest.mark.parametrize("args, message", [
    (["--streams", "2"], "streams: several requests in flight are for throughput, in the offline or server scenario;"
                         " got --scenario single-stream with --streams 2"),
    (["--streams", "0", "--scenario", "offline"], "streams: must be a positive integer, at most 1,024, or auto; got '0'"),
    (["--streams", "many"], "streams: must be a positive integer, at most 1,024, or auto; got 'many'"),
    (["--iterations", "0"], "iterations: must be a positive integer, at most 1,000,000,000; got '0'"),
    (["--min-duration", "-1"], "min-duration: must be a positive number of seconds, at most 86,400; got '-1'"),
    (["--mode", "mlperf", "--iterations", "10"], "iterations: not with --mode mlperf"),
])
def test_bad_conventions_exit_2_with_one_line(tmp_path, capsys, args, message):
    code = cli_exit_code(["bench", "resnet50", "-r", "32", "--no-save", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
