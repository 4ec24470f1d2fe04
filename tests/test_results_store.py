"""Records round-trip; the SQLite store writes each record in one transaction."""

import json
import sqlite3
import subprocess
import sys

import pytest

from accelbench.errors import UserError
from accelbench.results.records import SCHEMA_VERSION, BenchConfig, BenchRecord, PowerRecord, RunInfo
from accelbench.results.store import open_store


def _record(run_id="run-1", model="resnet50", latency=(1_000_000, 2_000_000, 3_000_000, 2_000_000), **kw):
    cfg = BenchConfig(model=model, resolution="64", batch=kw.pop("batch", 1), precision=kw.pop("precision", "fp32"),
                      price_usd=2000.0, price_per_hour_usd=0.5)
    defaults = dict(run_info=RunInfo("onnxruntime", "1.20.1", "cpu", "CPUExecutionProvider", 1, "fp32", "fp32",
                                     "provider-implied"),
                    pixels_per_inference=64 * 64, macs_per_inference=335_691_776, peak_macs_per_s=1e12,
                    peak_source="test", power=PowerRecord(30.0, "rapl", idle_power_w=10.0),
                    environment={"cpu_model": "x"})
    defaults.update(kw)
    return BenchRecord(config=cfg, run_id=run_id, latency_ns=latency, **defaults)


def test_derived_figures_by_hand():
    r = _record()
    assert r.throughput_per_s == pytest.approx(500.0)  # 4 queries over 8 ms
    assert r.megapixels_per_s == pytest.approx(500 * 4096 / 1e6)
    assert r.macs_per_s == pytest.approx(500 * 335_691_776)
    assert r.mac_utilization == pytest.approx(500 * 335_691_776 / 1e12)
    assert r.energy_per_inference_j == pytest.approx(20.0 / 500)  # net 20 W / 500 inf/s
    assert r.inferences_per_s_per_w == pytest.approx(25.0)
    assert r.inferences_per_s_per_usd == pytest.approx(0.25)
    assert r.usd_per_million_inferences == pytest.approx(0.5 / (500 * 3600) * 1e6)
    d = r.to_dict()
    assert d["latency_p50_ns"] == 2_000_000 and d["precision_executed"] == "fp32"
    assert d["provenance"]["power_w"].startswith("measured")
    json.dumps(d, allow_nan=False)  # strict JSON


def test_round_trip_and_query(tmp_path):
    db = tmp_path / "r.db"
    a, b = _record("run-1"), _record("run-2", model="mobilenet_v2", precision="int8")
    with open_store(db) as store:
        store.save(a)
        store.save(b)
        assert store.count() == 2
        (back,) = store.query(run_id="run-1")
        assert store.query(model="mobilenet_v2", precision="int8")[0].record_id == b.record_id
        assert store.run_ids() == ["run-1", "run-2"]
    assert back.to_dict() == a.to_dict()
    assert back.latency_ns == a.latency_ns and back.config == a.config
    assert BenchRecord.from_dict(a.to_dict()).to_dict() == a.to_dict()


def test_failed_mid_insert_leaves_no_half_record(tmp_path):
    db = tmp_path / "r.db"
    with open_store(db) as store:
        store.save(_record("good"))
        # A sample beyond int64 fails while the samples row is written, after the records row.
        bad = _record("bad", latency=(1, 2**70))
        with pytest.raises(OverflowError):
            store.save(bad)
        assert [r.run_id for r in store.query()] == ["good"]
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM records WHERE run_id = 'bad'").fetchone()[0] == 0


def test_writer_killed_mid_transaction(tmp_path):
    # A writer that inserts the records row, then dies (SIGKILL) before COMMIT: no row survives.
    db = tmp_path / "r.db"
    open_store(db).close()
    code = f"""
import os, signal, sqlite3
con = sqlite3.connect({str(db)!r})
con.execute("BEGIN")
con.execute("INSERT INTO records (record_id, run_id, timestamp, record_schema_version, status, model, resolution,"
            " batch, backend, device, precision_requested, precision_executed, scenario, mode, record_json, seq)"
            " VALUES ('x','r','t',1,'ok','m',NULL,1,'b','cpu','fp32',NULL,'single-stream','quick','{{}}',1)")
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    with open_store(db) as store:
        assert store.count() == 0
        store.save(_record("after"))
        assert store.count() == 1


def test_failed_record_stored_beside_others(tmp_path):
    cfg = BenchConfig(model="resnet50")
    failed = BenchRecord.failed(cfg, "run-1", "the child crashed with SIGABRT", "crash")
    with open_store(tmp_path / "r.db") as store:
        store.save(_record("run-1"))
        store.save(failed)
        got = store.query(run_id="run-1", status="failed")
    assert len(got) == 1 and got[0].error == "the child crashed with SIGABRT" and got[0].latency_ns == ()
    assert got[0].to_dict()["throughput_per_s"] is None


def test_validation_and_schema_version():
    with pytest.raises(UserError, match="scenario"):
        BenchConfig(model="resnet50", scenario="burst")
    with pytest.raises(UserError, match="precision"):
        BenchConfig(model="resnet50", precision="fp8")
    with pytest.raises(ValueError, match="non-negative integers"):
        _record(latency=(1.5,))
    data = _record().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(UserError, match="schema version"):
        BenchRecord.from_dict(data)
