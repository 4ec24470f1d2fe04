"""--config FILE.toml on every command: keys are the long option names, global or per command,
validated (an unknown key or section is a one-line error naming what is allowed), and the command
line wins over the file."""

from __future__ import annotations

import json

import click
import pytest

from accelbench import cli
from cli_helpers import cli_exit_code


def _write(tmp_path, text: str):
    path = tmp_path / "accelbench.toml"
    path.write_text(text)
    return str(path)


def test_a_commands_section_sets_its_options_and_the_command_line_wins(tmp_path, capsys):
    config = _write(tmp_path, '[profile]\nmodel = "resnet50"\nresolution = 64\nformat = "json"\nprecision = "int8"\n')
    assert cli_exit_code(["profile", "--config", config]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "resnet50" and data["precision"] == "int8"
    assert data["input_shapes"]["input"] == [1, 3, 64, 64]
    assert cli_exit_code(["profile", "--config", config, "-r", "96", "-p", "fp32"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shapes"]["input"] == [1, 3, 96, 96] and data["precision"] == "fp32"


def test_global_keys_apply_where_the_command_has_them_and_sections_win(tmp_path, capsys):
    # db is an option of bench, results, run ...: not of profile, which simply does not take it
    config = _write(tmp_path, f'format = "json"\ndb = "{tmp_path / "x.db"}"\n[profile]\nformat = "csv"\n')
    assert cli_exit_code(["profile", "resnet50", "-r", "64", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("index,name,op,")  # the section's csv over the global json
    assert cli_exit_code(["devices", "--config", config]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)  # the global json


def test_repeatable_options_take_lists_and_flags_take_booleans(tmp_path, capsys):
    config = _write(tmp_path, '[rank]\nmodel = "resnet50"\nresolution = "224"\nno-calibration = true\n'
                              'format = "json"\nmax-watts = 100\n[models.save]\nresolution = 64\n')
    assert cli_exit_code(["rank", "--config", config]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["constraints"] == {"max_watts": 100.0} and all(d["calibrated"] is False for d in data["devices"])
    out = tmp_path / "r.onnx"
    assert cli_exit_code(["models", "save", "resnet50", "-o", str(out), "--config", config]) == 0
    import onnx

    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 64]


@pytest.mark.parametrize("text, message", [
    ('[bench]\ntime_limit = 3\n', "config: {path}: [bench] 'time_limit' is not an option of bench; allowed: backend, "
                                  "batch, calibration-data, db, device, format, input-shape, inputs, iterations,"),
    ('[benchmark]\nbackend = "openvino"\n', "config: {path}: [benchmark] is not a command; commands: bench, calibrate,"),
    ('colour = "blue"\n', "config: {path}: global key 'colour' is not an option of any command; allowed: "),
    ('[models.keep]\nx = 1\n', "config: {path}: [models.keep] is not a command; commands: models closest, models save"),
    ('[profile]\nresolution = [64, 96]\n', "config: [profile] resolution: one value, not a list; got [64, 96]"),
    ('[rank]\nno-calibration = "yes"\n', "config: [rank] no-calibration: true or false; got 'yes'"),
    ('[profile\n', "config: {path!r} is not valid TOML: "),
    ('[profile]\ntop = 0\n', "top: must be a positive integer, at most 1,000,000; got '0'"),
])
def test_a_bad_file_is_a_one_line_error(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    assert cli_exit_code(["profile", "resnet50", "--config", path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: " + message.format(path=path)), err
    assert len(err.splitlines()) == 1


def test_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert cli_exit_code(["profile", "resnet50", "--config", str(tmp_path / "none.toml")]) == 2
    assert "config: cannot read" in capsys.readouterr().err


def test_every_command_takes_config():
    ctx = click.Context(cli.app)
    for name in cli.COMMANDS:
        command = cli.app.get_command(ctx, name)
        commands = [command] + (list(command.commands.values()) if isinstance(command, click.Group) else [])
        for c in commands:
            assert any(p.name == "config" and "--config" in p.opts for p in c.params), c.name


def test_sweep_export_and_merge_take_their_options_from_the_file(tmp_path, capsys, monkeypatch):
    """Issue 9's commands got --config too: PLAN and FILE... are keys (``plan``, ``files``), a list for FILE...."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.toml").write_text('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32", "40"]\n')
    config = _write(tmp_path, 'db = "sweep.db"\nformat = "json"\n[sweep]\nplan = "plan.toml"\ndry-run = true\n')
    assert cli_exit_code(["sweep", "--config", config]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["counts"]["measure"] == 2 and len(shown["configurations"]) == 2
    assert cli_exit_code(["sweep", "--config", config, "--format", "table"]) == 0  # the command line wins
    assert "2 to measure" in capsys.readouterr().out

    from accelbench.results.records import BenchConfig, BenchRecord
    from accelbench.results.store import open_store

    with open_store(tmp_path / "edge.db") as store:
        for run in ("r1", "r2"):
            store.save(BenchRecord(config=BenchConfig(model="resnet50"), run_id=run, latency_ns=(1000, 1100)))
    for run in ("r1", "r2"):
        exported = _write(tmp_path, f'db = "edge.db"\n[export]\nrun = "{run}"\noutput = "{run}.json"\n')
        assert cli_exit_code(["export", "--config", exported]) == 0
    merged = _write(tmp_path, '[merge]\nfiles = ["r1.json", "r2.json"]\ndb = "central.db"\n')
    assert cli_exit_code(["merge", "--config", merged]) == 0
    assert "merged 2 records of 2 runs from 2 files into central.db" in capsys.readouterr().out
    bad = _write(tmp_path, '[sweep]\nplan = "plan.toml"\nretry_failed = true\n')
    assert cli_exit_code(["sweep", "--config", bad]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: config: {bad}: [sweep] 'retry_failed' is not an option of sweep; allowed: cluster, db, dry-run, "
        "format, log-dir, plan, quiet, rerun, retry-failed")
