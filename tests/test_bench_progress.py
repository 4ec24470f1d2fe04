"""A progress display in `bench` for anything over a few seconds, with the time left (as `run` has):
a live bar on a terminal, plain lines with a heartbeat when piped, nothing on stdout with
--format json; a run whose duration cannot be known (a fixed iteration count) says so."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from rich.console import Console

from accelbench.measure.runner import estimated_duration_s
from accelbench.report.progress import Progress
from accelbench.results.records import BenchConfig


def _bench(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "accelbench", "bench", "resnet50", "-r", "32", "--threads", "1",
                           "--no-save", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)


@pytest.mark.slow
def test_bench_json_keeps_stdout_for_the_json_alone(tmp_path):
    pytest.importorskip("onnxruntime")
    proc = _bench(["--time-limit", "1.5", "-f", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"  # stdout is the JSON alone
    assert "measuring" not in proc.stderr  # and a pipe gets no progress chatter either (a terminal gets the bar)


@pytest.mark.slow
def test_bench_piped_shows_plain_lines_before_the_record(tmp_path):
    pytest.importorskip("onnxruntime")
    proc = _bench(["--time-limit", "1.5"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "  measuring resnet50 on onnxruntime fp32, single-stream ..."
    assert any(line.startswith("model ") for line in lines[1:])
    assert "\x1b[" not in proc.stdout  # no terminal control codes in a pipe


def test_the_live_bar_moves_on_between_steps():
    stream = io.StringIO()
    progress = Progress(20.0, live=True, heartbeat_s=5.0)
    progress.console = Console(file=stream, force_terminal=True, width=100)  # a terminal of our own
    with progress:
        progress.step("measuring resnet50")
        time.sleep(1.2)
        task = progress._progress.tasks[0]
        # no step since the first: the bar and the time left still moved
        assert task.completed >= 0.9 and task.fields["eta"].startswith("about 1") and task.fields["eta"].endswith("s left")
    unknown = Progress(None, live=False)
    assert unknown.eta_text() == "duration not known in advance"


def test_the_estimate_covers_what_a_measurement_does():
    base = estimated_duration_s(BenchConfig(model="resnet50", time_limit_s=10))
    assert base > 10
    assert estimated_duration_s(BenchConfig(model="resnet50", time_limit_s=10, precision="int8")) > base + 10
    assert estimated_duration_s(BenchConfig(model="resnet50", time_limit_s=10, min_duration_s=30)) > 30
    assert estimated_duration_s(BenchConfig(model="resnet50", scenario="offline", streams="auto")) > base
    assert estimated_duration_s(BenchConfig(model="resnet50", iterations=100)) is None
