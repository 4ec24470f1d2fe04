"""`accelbench compare`: ratios B/A, the noise verdict from 95 % CIs, pairing of runs, and the
refusal to compare different environments (exit 2, one line) unless --force."""

from __future__ import annotations

import json

import pytest

from accelbench.errors import UserError
from accelbench.report.compare import compare
from accelbench.results.store import open_store
from cli_helpers import cli_exit_code
from test_report_data import ENV, make_record

R50 = 4_089_184_256


def _cli(argv):
    return cli_exit_code(argv)


@pytest.fixture()
def db(tmp_path):
    path = str(tmp_path / "c.db")
    recs = {
        # run A: fp32 37 ms and bf16 17 ms; run B: fp32 37.1 ms (same within noise), bf16 12 ms (clearly faster)
        "a32": make_record("resnet50", "224", 50176, R50, 0.0370, run_id="runA", seed=1, n=60),
        "a16": make_record("resnet50", "224", 50176, R50, 0.0170, precision="bf16", run_id="runA", seed=2, n=60),
        "a_only": make_record("yolov3", "1mp", 921600, 97 * 10**9, 1.9, run_id="runA", seed=3),
        "b32": make_record("resnet50", "224", 50176, R50, 0.0371, run_id="runB", seed=4, n=60),
        "b16": make_record("resnet50", "224", 50176, R50, 0.0120, precision="bf16", run_id="runB", seed=5, n=60),
        "other_host": make_record("resnet50", "224", 50176, R50, 0.030, run_id="runC", seed=6,
                                  env={**ENV, "hostname": "laptop"}),
        "other_ort": make_record("resnet50", "224", 50176, R50, 0.030, run_id="runD", seed=7,
                                 runtime_version="1.17.0"),
    }
    with open_store(path) as store:
        for r in recs.values():
            store.save(r)
    return path, recs


def test_two_runs_pair_ratio_and_noise(db):
    path, recs = db
    comp = compare(path, "runA", "run:runB")
    assert comp.a.kind == comp.b.kind == "run"
    assert [p.key["precision"] for p in comp.pairs] == ["fp32", "bf16"]
    assert comp.only_a == ("yolov3 · 1mp · 1 · fp32 · onnxruntime",) and comp.only_b == ()
    fp32, bf16 = ({m.name: m for m in p.metrics} for p in comp.pairs)
    # Ratios from the stored samples: B/A of medians.
    assert fp32["latency p50"].ratio == pytest.approx(recs["b32"].stats.p50_ns / recs["a32"].stats.p50_ns)
    assert bf16["latency p50"].ratio == pytest.approx(12 / 17, rel=0.02)
    assert bf16["throughput"].ratio == pytest.approx(17 / 12, rel=0.02)
    # 37.0 vs 37.1 ms with 1 % spread and 60 samples: CIs overlap; 17 vs 12 ms do not.
    assert fp32["latency p50"].verdict == "within noise"
    assert bf16["latency p50"].verdict == "B better" and bf16["throughput"].verdict == "B better"
    assert bf16["MAC utilization"].verdict == "B better"
    assert bf16["latency p99"].verdict == "no CI" and bf16["energy/inference"].verdict == "no CI"


def test_two_records_by_prefix(db):
    path, recs = db
    comp = compare(path, recs["a16"].record_id[:10], f"record:{recs['a32'].record_id}")
    assert comp.a.kind == "record" and len(comp.pairs) == 1
    m = {x.name: x for x in comp.pairs[0].metrics}
    assert m["latency p50"].ratio == pytest.approx(37 / 17, rel=0.02) and m["latency p50"].verdict == "B worse"


def test_environment_mismatch_refused_unless_forced(db, capsys):
    path, recs = db
    with pytest.raises(UserError, match=r"host 'bench-host' vs 'laptop'"):
        compare(path, "runA", "runC")
    with pytest.raises(UserError, match=r"onnxruntime version '1.20.1' vs '1.17.0'"):
        compare(path, "runA", "runD")
    assert _cli(["compare", "runA", "runC", "--db", path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: compare: environments differ (host 'bench-host' vs 'laptop')") and "--force" in err
    assert len(err.splitlines()) == 1
    assert _cli(["compare", "runA", "runC", "--db", path, "--force", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["environment"] == {"matches": False, "mismatches": ["host 'bench-host' vs 'laptop'"], "forced": True}
    assert doc["pairs"][0]["metrics"][0]["ratio_b_over_a"] == pytest.approx(30 / 37, rel=0.03)


def test_cli_table_and_errors(db, capsys):
    path, _ = db
    assert _cli(["compare", "runA", "runB", "--db", path]) == 0
    out = capsys.readouterr().out
    assert "within noise" in out and "B better" in out and "only in A: yolov3" in out
    assert _cli(["compare", "runA", "nope", "--db", path]) == 2
    assert "'nope' is neither a record id nor a run id" in capsys.readouterr().err
    assert _cli(["compare", "runA", "runB", "--db", path, "--format", "csv"]) == 2
    assert "format: 'csv' is not allowed; choose one of: table, json" in capsys.readouterr().err
