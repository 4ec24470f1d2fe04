"""`accelbench tops` and `accelbench devices` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from accelbench.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_tops_catalog_json(capsys):
    code, out, _ = run(capsys, "tops", "t4", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert {r["precision"] for r in rows} == {"fp32", "fp16", "int8"}
    int8 = next(r for r in rows if r["precision"] == "int8")
    assert {"device", "precision", "peak_ops_per_s", "source"} <= set(int8)
    assert int8["peak_ops_per_s"] == 130e12 and int8["source"] == "catalog"
    assert "40,960 MACs x 1.59 GHz x 2" in int8["arithmetic"]


def test_tops_inferx_arithmetic_table(capsys):
    code, out, _ = run(capsys, "tops", "inferx_x1", "--precision", "int8")
    assert code == 0 and "4,096 MACs x 0.933 GHz x 2 = 7.64 TOPS" in out


def test_tops_unknown_device_exit_2(capsys):
    code, _, err = run(capsys, "tops", "tpu9000")
    assert code == 2
    assert err.strip().startswith("error: device: 'tpu9000' is not known; choose one of: host")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("precision,pattern", [
    ("fp7", "error: precision: 'fp7' is not allowed; choose one of: fp32, fp16, bf16, int16, int8"),
    ("bf16", "error: precision for t4: 'bf16' is not allowed; choose one of: fp32, fp16, int8"),
])
def test_tops_bad_precision_exit_2(capsys, precision, pattern):
    code, _, err = run(capsys, "tops", "t4", "--precision", precision)
    assert code == 2 and err.strip() == pattern


def test_tops_host_no_measure_json(capsys):
    code, out, _ = run(capsys, "tops", "host", "--no-measure", "-f", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows and all(r["source"] == "theoretical" and r["peak_ops_per_s"] > 0 for r in rows)
    assert rows[0]["precision"] == "fp32"


def test_tops_host_measured_small(capsys):
    code, out, _ = run(capsys, "tops", "host", "-p", "fp32", "--size", "256", "--budget", "0.1", "-f", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["source"] for r in rows] == ["theoretical", "measured"]
    measured = rows[1]
    assert measured["peak_ops_per_s"] > 0 and measured["utilization"] == pytest.approx(
        measured["peak_ops_per_s"] / rows[0]["peak_ops_per_s"])


def test_tops_host_table(capsys):
    code, out, _ = run(capsys, "tops", "host", "--no-measure")
    assert code == 0 and "theoretical" in out and "measured" in out and "clock:" in out


def test_devices_json_and_table(capsys):
    code, out, _ = run(capsys, "devices", "--format", "json")
    assert code == 0
    ids = {d["id"] for d in json.loads(out)}
    assert {"t4", "h200", "inferx_x1", "xeon_8480plus"} <= ids
    code, out, _ = run(capsys, "devices")
    assert code == 0 and "~" in out and "coral_edge_tpu" in out


def test_bad_format_exit_2(capsys):
    code, _, err = run(capsys, "devices", "--format", "csv")
    assert code == 2 and "format" in err
