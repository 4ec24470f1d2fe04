"""The typed parts of a BenchRecord (RunInfo, Environment, NumericDeviation, LoadGenSummary): records
stored by the previous code (tests/data/stores/accelbench-v1.db, untyped dicts inside) read back into
the parts and write exactly the JSON they were stored as; a LoadGen summary keeps what a record kept
before (the result without its raw lists)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from accelbench.measure.environment import collect_environment
from accelbench.measure.loadgen_logs import RAW_LATENCIES, result_from_logs
from accelbench.precision.deviation import NumericDeviation
from accelbench.results.records import (
    BenchConfig, BenchRecord, CpuClocks, Environment, GpuEnvironment, LoadGenSummary, RunInfo,
)
from accelbench.results.store import record_from_json, record_to_json

DATA = Path(__file__).parent / "data"
V1 = DATA / "stores" / "accelbench-v1.db"


def _v1_rows() -> list[tuple[str, int, str, bytes | None]]:
    con = sqlite3.connect(f"file:{V1}?mode=ro", uri=True)
    try:
        return con.execute("SELECT r.record_id, r.record_schema_version, r.record_json, s.latency_ns FROM records r "
                           "LEFT JOIN samples s ON s.record_id = r.record_id ORDER BY r.timestamp, r.rowid").fetchall()
    finally:
        con.close()


def test_v1_records_read_into_typed_parts_and_write_the_same_json():
    rows = _v1_rows()
    assert len(rows) == 9
    for _, version, record_json, blob in rows:
        record = record_from_json(record_json, version, blob)
        assert isinstance(record.environment, Environment) and record.environment.known
        assert record.run_info is None or isinstance(record.run_info, RunInfo)
        assert record.deviation is None or isinstance(record.deviation, NumericDeviation)
        assert record.loadgen is None
        assert record_to_json(record) == record_json  # key order included


def test_v1_parts_read_as_attributes():
    records = {rid: record_from_json(js, v, blob) for rid, v, js, blob in _v1_rows()}
    int8 = next(r for rid, r in records.items() if rid.startswith("eaa4f1f5"))  # bench mobilenet_v2 int8
    assert int8.run_info.runtime == "onnxruntime" and int8.run_info.precision_source == "graph-inspection"
    assert int8.runtime == "onnxruntime" and int8.runtime_device == "cpu" and int8.precision_executed == "int8"
    assert int8.deviation.reference == "onnxruntime cpu fp32" and int8.deviation.top1_agreement == 1.0
    assert int8.environment.runtime_version("onnxruntime") == "1.32.0"
    assert int8.environment.cpu_clocks.cpuinfo_mhz is not None and int8.environment.gpu is None
    failed = next(r for r in records.values() if not r.ok)
    assert failed.run_info is None and failed.runtime == failed.config.backend == "onnxruntime"
    assert failed.runtime_device == "cpu" and failed.precision_executed is None


def test_environment_writes_only_what_is_known_and_keeps_unknown_keys():
    assert Environment().to_dict() == {} and not Environment().known
    env = collect_environment("cpu")
    data = env.to_dict()
    assert list(data) == ["hostname", "os", "platform", "python", "cpu_model", "cpu_family_model", "cpu_flags",
                          "physical_cores", "logical_cores", "affinity_cores", "memory_bytes", "runtime_versions",
                          "accelbench", "cpu_clocks"]
    assert Environment.from_dict(json.loads(json.dumps(data))) == env
    newer = {**data, "numa_nodes": 2, "gpu": {"error": "NVML unavailable: ImportError"}}
    read = Environment.from_dict(newer)
    assert read.extra == {"numa_nodes": 2} and read.gpu == GpuEnvironment(error="NVML unavailable: ImportError")
    assert read.to_dict() == {**data, "gpu": {"error": "NVML unavailable: ImportError"}, "numa_nodes": 2}
    assert CpuClocks(max_mhz=3000.0).to_dict() == {"max_mhz": 3000.0}


def test_gpu_devices_record_the_gpu_part():
    env = collect_environment("cuda")
    assert isinstance(env.gpu, GpuEnvironment)  # here: NVML's error, on a GPU host: its name and clocks
    assert "gpu" in env.to_dict()


@pytest.mark.parametrize("scenario, batch", [("single-stream", 1), ("multi-stream", 2), ("server", 1), ("offline", 8)])
def test_loadgen_summary_is_the_result_without_its_raw_lists(scenario, batch):
    result = result_from_logs(DATA / "loadgen" / scenario, scenario=scenario, mode="quick", batch=batch)
    summary = result.summary()
    assert type(summary) is LoadGenSummary
    # what records kept before the summary was typed: the result's dict without its raw lists
    expected = {k: v for k, v in result.to_dict().items() if k not in RAW_LATENCIES}
    assert summary.to_dict() == expected and list(summary.to_dict()) == list(expected)
    stored = json.loads(json.dumps(summary.to_dict()))
    assert LoadGenSummary.from_dict(stored) == summary
    assert summary.latency_p90_ns == result.latency_p90_ns


def test_a_record_with_a_loadgen_summary_round_trips():
    result = result_from_logs(DATA / "loadgen" / "server", scenario="server", mode="quick")
    summary = dataclasses.replace(result.summary(), search_trials=((10.0, True), (15.0, False)))
    record = BenchRecord(config=BenchConfig(model="resnet50", scenario="server"), run_id="r",
                         latency_ns=(1_000, 2_000, 3_000), loadgen=summary, loadgen_throughput_per_s=9.5)
    back = BenchRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back.loadgen == summary and back.to_dict() == record.to_dict()
    assert back.provenance["latency_ns"] == "measured: per-query latency in the LoadGen run"


def test_parts_given_as_stored_mappings_are_read_into_their_types():
    info = RunInfo("onnxruntime", "1.20.1", "cpu", "CPUExecutionProvider", 2, "int8", "int8", "graph-inspection",
                   ("QLinearConv x2",), {"model_preparation": "ort-static-qdq"})
    dev = NumericDeviation(0.999, 0.1, 0.01, 0.02, 1.0, 2000, 2, "fp32", "onnxruntime cpu fp32")
    record = BenchRecord(config=BenchConfig(model="resnet50", precision="int8"), run_id="r", latency_ns=(5, 6),
                         run_info=info.to_dict(), deviation=dev.to_dict(), environment={"hostname": "h"})
    assert record.run_info == info and record.deviation == dev and record.environment.hostname == "h"
    assert record.to_dict()["run_info"]["fused_layers"] == ["QLinearConv x2"]
    with pytest.raises(KeyError):
        RunInfo.from_dict({"runtime": "onnxruntime"})  # a stored run_info always has every field
