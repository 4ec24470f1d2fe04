"""LoadGen INVALID is a failure (issue 13, point 4): the record's status is "invalid" with LoadGen's
reasons and what to change, it is stored as such, and `bench` exits 3 (it used to say "ok" and
exit 0). `--mode mlperf` states how long LoadGen's full rules take before it starts and keeps a
progress line going while it runs (it used to run 18 minutes without a word)."""

import json
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from accelbench.cli import main
from accelbench.errors import EXIT_RESULT_INVALID
from accelbench.measure.loadgen_logs import CONSTRAINT_ADVICE, result_from_logs
from accelbench.results.store import open_store

DATA = Path(__file__).parent / "data" / "loadgen"


def test_an_invalid_run_carries_loadgens_reasons_and_advice():
    server = result_from_logs(DATA / "server", scenario="server", mode="quick")
    assert server.advice == ("Reduce target QPS to improve latency.", CONSTRAINT_ADVICE["latency bound not met"],
                             CONSTRAINT_ADVICE["early stopping not met"])
    multi = result_from_logs(DATA / "multi-stream", scenario="multi-stream", mode="quick", batch=2)
    assert multi.advice == (CONSTRAINT_ADVICE["early stopping not met"],)
    assert result_from_logs(DATA / "single-stream", scenario="single-stream", mode="quick").advice == ()


def tiny_relu(path) -> str:
    """A model that takes microseconds: LoadGen's quick server run is over in about two seconds."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_bench_stores_an_invalid_record_and_exits_nonzero(tmp_path, capsys):
    pytest.importorskip("mlperf_loadgen")
    pytest.importorskip("onnxruntime")
    db = tmp_path / "r.db"
    # A 1 us p99 bound no run can meet: LoadGen says INVALID.
    argv = ["bench", tiny_relu(tmp_path / "relu.onnx"), "--scenario", "server", "--target-qps", "500",
            "--latency-bound-ms", "0.001", "--time-limit", "1", "--threads", "1", "--no-isolation",
            "--db", str(db), "--log-dir", str(tmp_path / "logs"), "--format", "json"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    assert exc.value.code == EXIT_RESULT_INVALID == 3
    record = json.loads(out)
    assert record["status"] == "invalid" and record["stop_reason"] == "loadgen-invalid"
    assert record["error"].startswith("LoadGen result INVALID: ") and "latency bound not met" in record["error"]
    assert CONSTRAINT_ADVICE["latency bound not met"] in record["error"]
    assert record["loadgen"]["advice"] and record["latency_p50_ns"] is not None  # still measured
    assert err.strip().startswith("error: LoadGen result INVALID")
    with open_store(db, read_only=True) as store:
        assert [r.status for r in store.query()] == ["invalid"] and store.query(status="ok") == []
    argv[argv.index("--format") + 1] = "table"
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, _ = capsys.readouterr()
    assert exc.value.code == 3 and "status             INVALID: LoadGen result INVALID" in out


def test_mlperf_mode_states_loadgens_minimum_duration_first():
    pytest.importorskip("mlperf_loadgen")
    from accelbench.cli.bench import mlperf_notice
    from accelbench.results.records import BenchConfig

    text, seconds = mlperf_notice(BenchConfig(model="resnet50", scenario="offline", mode="mlperf"))
    assert seconds == 600.0
    assert text.startswith("mlperf mode: LoadGen's full rules for offline run at least 10 min and 24,576 samples")
    _, seconds = mlperf_notice(BenchConfig(model="resnet50", scenario="single-stream", mode="mlperf"))
    assert seconds == 600.0


def test_progress_on_stderr_keeps_a_heartbeat_while_a_long_run_goes_on(capsys):
    from accelbench.report.progress import Progress

    progress = Progress(600, stderr=True, live=False, heartbeat_s=0.2)
    with progress:
        progress.step("LoadGen offline run, mlperf mode (resnet50)")
        time.sleep(1.5)
        progress.done("LoadGen run finished")
    out, err = capsys.readouterr()
    assert out == ""
    beats = [line for line in err.splitlines() if line.strip().startswith("... LoadGen offline run")]
    assert len(beats) >= 2 and "s elapsed, about" in beats[0] and "left" in beats[0]
    assert np.all([b.endswith("left)") for b in beats])
