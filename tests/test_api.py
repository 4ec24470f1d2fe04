"""The Python API: `from accelbench import profile, bench, project, rank, run, ...` returning the
typed records, `import accelbench` light, docs/api.md's example run as it is, and the CLI's JSON
written by the same functions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import accelbench
from accelbench.errors import UserError
from accelbench.job.ranking import DeviceRanking
from accelbench.profile.types import ModelProfile
from accelbench.results.records import BenchConfig, BenchRecord
from cli_helpers import cli_exit_code

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_import_accelbench_stays_light():
    out = subprocess.run([sys.executable, "-c", "import json, sys, accelbench; print(json.dumps(sorted(m for m in "
                          "sys.modules if m.startswith('accelbench') or m in ('numpy', 'onnx'))))"],
                         capture_output=True, text=True, timeout=120).stdout
    assert json.loads(out) == ["accelbench"]


def test_the_api_names_that_are_subpackages_call_the_function_and_reach_the_modules():
    code = ("import accelbench.profile.profiler, accelbench.report.html as html, accelbench.results.records\n"
            "from accelbench import profile, report, results\n"
            "import accelbench\n"
            "print(html.__name__, accelbench.results.records.__name__, accelbench.report.html is html)\n"
            "print(profile('resnet50', resolution='64').macs, callable(report), callable(results))\n"
            "print(accelbench.profile.__doc__.split()[1], accelbench.bench.__module__)\n"
            "from accelbench.profile import profile_model\n"
            "print(profile_model.__module__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["accelbench.report.html", "accelbench.results.records", "True",
                                  "335691776", "True", "True", "static", "accelbench.api",
                                  "accelbench.profile.profiler"]
    assert set(accelbench.__all__) <= set(dir(accelbench))


def test_pytest_paths_through_a_shared_name_reach_the_module(monkeypatch):
    import accelbench.report.units as units
    monkeypatch.setattr("accelbench.report.units.MISSING", "n/a")
    assert units.MISSING == "n/a"


def test_docs_example_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    text = DOC.read_text()
    block = re.search(r"<!-- tests/test_api.py runs the next block -->\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(DOC), "exec"), {"__name__": "docs_api_example"})
    out = capsys.readouterr().out
    assert "resnet50: 4.09 GMACs in" in out and "resnet50 @ 64: p50" in out and "best within 75 W and $5,000:" in out
    assert "excluded " in out


def test_functions_return_the_typed_records():
    profile = accelbench.profile("resnet50", resolution="64")
    assert isinstance(profile, ModelProfile) and profile.macs == 335_691_776
    projections = accelbench.project("resnet50", devices="t4,l4", resolution="224")
    assert [d.device for d in projections.devices] == ["t4", "l4"] and projections.profile.model == "resnet50"
    ranking = accelbench.rank("resnet50", resolution="224")
    assert isinstance(ranking.ranking, DeviceRanking) and ranking.ranking.excluded == ()
    assert accelbench.constraints() is None and accelbench.constraints(max_watts=5).max_watts == 5


def test_the_cli_writes_what_the_functions_return(capsys):
    assert cli_exit_code(["project", "resnet50", "-r", "224", "-d", "t4,l4", "-f", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli == json.loads(json.dumps(accelbench.project("resnet50", devices="t4,l4", resolution="224").to_dict(),
                                        default=str))
    assert cli_exit_code(["rank", "resnet50", "-r", "224", "-f", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli == json.loads(json.dumps(accelbench.rank("resnet50", resolution="224").to_dict(), default=str))


def test_bench_takes_the_configs_fields_and_refuses_others(tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(UserError, match="bench: 'time_limit' is not an option; allowed: resolution, batch"):
        accelbench.bench("resnet50", time_limit=1)
    with pytest.raises(UserError, match="bench: give a BenchConfig or options, not both"):
        accelbench.bench(BenchConfig(model="resnet50"), batch=2)
    record = accelbench.bench("resnet50", resolution="32", time_limit_s=0.5, threads=1, isolate=False,
                              input_shapes=None)
    assert isinstance(record, BenchRecord) and record.ok and not (tmp_path / "accelbench.db").exists()


def test_run_refuses_a_plan_and_options_together():
    plan = accelbench.plan_run(objective="throughput", max_latency_ms=50, precisions=("fp32",))
    assert plan.constraints.max_latency_s == 0.05 and plan.objective == "throughput"
    with pytest.raises(UserError, match="run: give a plan or the options of one, not both"):
        accelbench.run(plan=plan, full=True)
