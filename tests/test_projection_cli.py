"""CLI of projection (project, rank, calibrate) and rejection of bad device-parameter files."""

from __future__ import annotations

import json
import textwrap

import pytest

from accelbench.cli import main
from accelbench.errors import UserError
from accelbench.projection.params import load_params_file


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_project_json_keys_and_skipped_device(capsys):
    code, out, err = run(["project", "resnet50", "-r", "64", "-d", "t4,myriad_x", "--format", "json",
                          "--no-calibration"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "projected"
    t4, myriad = data["devices"]
    for key in ("device", "latency_s", "throughput_per_s", "mac_utilization", "bound", "layers", "assumptions"):
        assert key in t4
    assert t4["device"] == "t4" and t4["latency_s"] > 0 and 0 < t4["mac_utilization"] <= 1
    assert {"name", "time_s", "bound"} <= set(t4["layers"][0])
    assert myriad["skipped"] and "int8" in myriad["reason"]


def test_project_table_labels_projected_and_single_stream(capsys):
    code, out, _ = run(["project", "resnet50", "-r", "64", "-d", "l4", "--scenario", "single-stream",
                        "--batch", "2", "--no-calibration"], capsys)
    assert code == 0
    assert "PROJECTED" in out and "proj." in out and "@b2" in out


@pytest.mark.parametrize("argv,needle", [
    (["project", "resnet50", "-d", "myriad_x"], "myriad_x has no int8 peak"),
    (["project", "resnet50", "-d", "nosuch"], "device: 'nosuch' is not known"),
    (["project", "resnet50", "--scenario", "server"], "scenario: 'server' is not allowed"),
    (["project", "resnet50", "--precision", "int4"], "precision: 'int4' is not allowed"),
    (["project", "resnet50", "--format", "csv"], "format: 'csv' is not allowed"),
])
def test_project_user_errors(capsys, argv, needle):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and needle in err and len(err.strip().splitlines()) == 1


def test_rank_json_has_spearman(capsys):
    code, out, err = run(["rank", "resnet50", "-r", "64", "--batch", "1", "--format", "json", "--no-calibration"],
                         capsys)
    assert code == 0, err
    data = json.loads(out)
    thr = [d["throughput_per_s"] for d in data["devices"]]
    assert thr == sorted(thr, reverse=True) and len(thr) >= 10
    assert -1 <= data["spearman_throughput_vs_peak"] <= 1
    assert {"peak_rank", "per_w_rank", "per_usd_rank"} <= set(data["devices"][0])


def test_rank_keeps_its_json_keys_and_table(capsys):
    code, out, err = run(["rank", "resnet50", "-r", "64", "--format", "json", "--no-calibration"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["model", "precision", "kind", "input_shapes", "spearman_throughput_vs_peak", "devices",
                          "skipped", "macs", "unknown_layers"]
    assert list(data["devices"][0]) == ["rank", "device", "throughput_per_s", "batch", "mac_utilization",
                                        "peak_ops_per_s", "peak_rank", "throughput_per_w", "per_w_rank",
                                        "throughput_per_usd", "per_usd_rank", "calibrated", "bound",
                                        # issue 11 phase 2 appends the band and the overlap mark
                                        "throughput_per_s_low", "throughput_per_s_high", "interval_level",
                                        "provenance", "indistinguishable_from",
                                        # issue 13 appends the figures the constraints look at
                                        "latency_s", "power_w", "price_usd"]
    assert [d["rank"] for d in data["devices"]] == list(range(1, len(data["devices"]) + 1))
    code, out, err = run(["rank", "resnet50", "-r", "64", "--no-calibration"], capsys)
    assert code == 0, err
    rho = data["spearman_throughput_vs_peak"]
    assert f"projected throughput vs peak TOPS: {rho:+.2f} (1 = peak TOPS orders" in out


# -- device parameter files ---------------------------------------------------------------------

GOOD = """
[toy]
units = 4
tile_shapes = [[64, 64]]
compute_efficiency = 0.5
dram_efficiency = 0.8
layer_overhead_s = 1e-6
dram_bw_bytes_per_s = 1e9
[toy.assumptions]
units = "a"
tile_shapes = "b"
compute_efficiency = "c"
dram_efficiency = "d"
layer_overhead_s = "e"
dram_bw_bytes_per_s = "f"
"""


def params_from(tmp_path, text):
    path = tmp_path / "params.toml"
    path.write_text(textwrap.dedent(text))
    return load_params_file(path).params_for("toy", "NPU")


def test_good_params_file(tmp_path):
    p = params_from(tmp_path, GOOD)
    assert p.units == 4 and p.tile_shapes == ((64, 64),) and p.dram_bw_bytes_per_s == 1e9


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.replace("units = 4\n", "", 1), "missing required field(s) units"),
    (lambda t: t.replace("dram_bw_bytes_per_s = 1e9", "dram_bw_bytes_per_s = -5e9"),
     "dram_bw_bytes_per_s must be a positive number"),
    (lambda t: t.replace("compute_efficiency = 0.5", "compute_efficiency = 1.5"), "compute_efficiency must be a fraction"),
    (lambda t: t.replace('units = "a"\n', ""), "units need a sources.<field> or assumptions.<field>"),
    (lambda t: t.replace("units = 4", "units = 4\nbogus = 1"), "unknown field 'bogus'"),
    (lambda t: t.replace("[[64, 64]]", "[[64]]"), "tile_shapes entries must be"),
    (lambda t: t + "\n[[[", "is not valid TOML"),
])
def test_bad_params_files_rejected_with_one_line(tmp_path, edit, needle):
    with pytest.raises(UserError) as exc:
        params_from(tmp_path, edit(GOOD))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_shipped_params_cover_the_catalog():
    from accelbench.hardware.catalog import load_catalog

    catalog = load_catalog()
    params = load_params_file().validate_all({k: v.kind for k, v in catalog.items()})
    for device in catalog.values():
        load_params_file().params_for(device.id, device.kind)  # every device resolves (own table or defaults)
    assert params["a100"].units == 108 and params["t4"].units == 40


# -- calibrate through the real results store -------------------------------------------------

def test_calibrate_fits_host_from_store_and_project_uses_it(tmp_path, monkeypatch, capsys):
    from accelbench.results.records import BenchConfig, BenchRecord, RunInfo, new_run_id
    from accelbench.results.store import open_store

    cal = tmp_path / "calibration.toml"
    monkeypatch.setenv("ACCELBENCH_CALIBRATION", str(cal))
    db = tmp_path / "r.db"
    run_id = new_run_id()
    # two "measurements" on this host, made by projecting with known figures (compute efficiency
    # 0.3, overhead 30 us): the fit must find figures that reproduce them
    from dataclasses import replace

    from accelbench.hardware.devices import get_device
    from accelbench.projection.api import device_params, load_profile
    from accelbench.projection.model import project_batch

    host = get_device("host")
    true = replace(device_params(host, use_calibration=False)[0], compute_efficiency=0.3, layer_overhead_s=3e-5)
    measured = {res: project_batch(load_profile("resnet50", resolution=res, precision="fp32"), host, true, 1).time_s
                for res in ("64", "128")}
    with open_store(db) as store:
        for res, seconds in measured.items():
            ms = seconds * 1e3
            cfg = BenchConfig(model="resnet50", resolution=res, batch=1, device="cpu", precision="fp32")
            store.save(BenchRecord(config=cfg, run_id=run_id,
                                   latency_ns=tuple(int(ms * 1e6) + i for i in range(20)),
                                   run_info=RunInfo("onnxruntime", "1.20.1", "cpu", "CPUExecutionProvider", 1,
                                                    "fp32", "fp32", "provider-implied")))
    code, out, err = run(["calibrate", "--db", str(db), "--device", "host", "--format", "json"], capsys)
    assert code == 0, err
    fit = json.loads(out)
    assert fit["fitted_fields"] == ["compute_efficiency", "layer_overhead_s"]
    assert fit["median_abs_error_after"] < 0.05
    assert fit["saved_to"] == str(cal) and cal.exists()
    # --db: the store holds resnet50's records only, which a projection of resnet50 leaves out, so the
    # saved calibration is what calibrates the host here
    code, out, err = run(["project", "resnet50", "-r", "64", "-d", "host", "-p", "fp32",
                          "--scenario", "single-stream", "--db", str(db), "--format", "json"], capsys)
    host = json.loads(out)["devices"][0]
    assert host["calibrated"] and host["params_origin"].startswith("calibrated")
    assert host["latency_s"] == pytest.approx(measured["64"], rel=0.05)


def test_calibrate_without_records_is_a_user_error(tmp_path, capsys):
    from accelbench.results.store import open_store

    db = tmp_path / "empty.db"
    open_store(db).close()
    code, _, err = run(["calibrate", "--db", str(db)], capsys)
    assert code == 2 and "no ok `bench` records" in err
    code, _, err = run(["calibrate", "--db", str(tmp_path / "missing.db")], capsys)
    assert code == 2 and "does not exist" in err


def test_package_entry_points_used_by_the_four_stage_run():
    from accelbench.projection import project_all, project_on_device
    from accelbench.projection.api import load_profile

    profile = load_profile("resnet50", resolution="64", precision="int8")
    rows = project_all(profile, precision="int8", use_calibration=False)
    assert {"t4", "l4", "h100"} <= {r["device"] for r in rows}
    assert all(r["kind"] == "projected" and r["throughput_per_s"] > 0 for r in rows)
    one = project_on_device(profile, "t4", batch=1, use_calibration=False)
    assert one.scenario == "single-stream" and one.latency_batch == 1 and one.layers
