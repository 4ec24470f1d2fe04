"""Issue 10, class 1: no code runs that the user did not ask for, and no measurement outlives its
command. The worker is started isolated (a json.py or onnx.py in the working directory is never
imported); a model file's metadata never selects a module to import; a worker whose parent is
killed (-9 or SIGTERM) stops and removes its work folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import psutil
import pytest

from accelbench.backends.base import BackendConfig, get_backend
from accelbench.errors import UserError
from accelbench.measure.isolation import WORK_DIR_PREFIX, remove_stale_work_dirs, run_isolated, worker_command
from accelbench.models.loader import load_model, model_source
from cli_helpers import cli_exit_code
from test_backend_registry import tiny_cnn

MARKER_CODE = "import pathlib; pathlib.Path({marker!r}).write_text('ran')\n"


def _plant(folder: Path, name: str, marker: Path, tail: str = "") -> None:
    (folder / name).write_text(MARKER_CODE.format(marker=str(marker)) + tail)


def test_the_worker_runs_isolated_and_imports_nothing_from_the_working_directory(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    _plant(cwd, "json.py", marker, "raise SystemExit('shadowed json')\n")
    _plant(cwd, "onnx.py", marker, "raise SystemExit('shadowed onnx')\n")
    _plant(cwd, "numpy.py", marker)
    monkeypatch.chdir(cwd)
    out = run_isolated("json:dumps", {"a": 1}, timeout_s=60)
    assert out.ok and out.result == '{"a": 1}', out
    assert not marker.exists()
    command = worker_command("json:dumps", Path("in"), Path("out"))
    assert command[1] == "-I" and "-m" not in command  # isolated mode; no module run from sys.path[0]


@pytest.mark.slow
def test_bench_in_a_directory_with_a_planted_onnx_py(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "marker"
    _plant(tmp_path, "onnx.py", marker, "raise SystemExit('shadowed onnx')\n")
    _plant(tmp_path, "json.py", marker, "raise SystemExit('shadowed json')\n")
    monkeypatch.chdir(tmp_path)
    code = cli_exit_code(["bench", "mobilenet_v2", "-r", "32", "--time-limit", "0.2", "--no-save", "-f", "json"])
    assert code == 0, capsys.readouterr().err
    assert not marker.exists()


def _model_naming_a_module(path: Path, module: str) -> Path:
    proto = tiny_cnn(batch=1, size=8)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "accelbench.torch_spec", f"torch:{module}:build"
    onnx.save(proto, path)
    return path


def test_model_metadata_never_selects_code(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    marker = tmp_path / "marker"
    _plant(tmp_path, "planted_module.py", marker, "def build():\n    raise SystemExit('called')\n")
    monkeypatch.chdir(tmp_path)
    path = _model_naming_a_module(tmp_path / "named.onnx", "planted_module")
    proto = onnx.load(path)
    assert model_source(proto) == "file" and load_model(str(path)).source == "file"
    torch_backend = get_backend("torch")(BackendConfig())
    for handed in (proto, load_model(str(path))):
        with pytest.raises(UserError, match="ONNX files are not supported on torch"):
            torch_backend.load(handed)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend, code", [("auto", 0), ("torch", 2)])
def test_bench_of_a_model_naming_a_module(tmp_path, monkeypatch, capsys, backend, code):
    """`bench FILE --backend auto` runs the file on an ONNX runtime; `--backend torch` refuses it;
    neither imports the module its metadata names."""
    pytest.importorskip("torch")
    marker = tmp_path / "marker"
    _plant(tmp_path, "planted_module.py", marker, "def build():\n    raise SystemExit('called')\n")
    monkeypatch.chdir(tmp_path)
    path = _model_naming_a_module(tmp_path / "named.onnx", "planted_module")
    assert cli_exit_code(["bench", str(path), "--backend", backend, "--time-limit", "0.2", "--no-save"]) == code
    err = capsys.readouterr().err
    assert not marker.exists(), err
    if code:
        assert err.strip().splitlines()[-1].startswith("error: model: ONNX files are not supported on torch")


def _parent_script(tmp: Path) -> list[str]:
    code = ("import sys; from accelbench.measure.isolation import run_isolated; "
            "run_isolated('json:dumps', {}, timeout_s=600)")
    return [sys.executable, "-c", code]


def _worker_of(parent: psutil.Process, timeout_s: float = 60.0) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = parent.children(recursive=True)
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the worker did not start")


def _gone(proc: psutil.Process, timeout_s: float = 15.0) -> bool:
    try:
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_worker_never_outlives_its_parent(tmp_path, sig):
    env = {**os.environ, "TMPDIR": str(tmp_path), "ACCELBENCH_TEST_CRASH": "hang"}
    parent = subprocess.Popen(_parent_script(tmp_path), env=env, stderr=subprocess.DEVNULL)
    try:
        worker = _worker_of(psutil.Process(parent.pid))
        assert worker.pid != parent.pid and os.getpgid(worker.pid) == worker.pid  # its own process group
        assert list(tmp_path.glob(f"{WORK_DIR_PREFIX}{parent.pid}-*"))
        parent.send_signal(sig)
        parent.wait(30)
        assert _gone(worker), "the worker outlived its parent"
        deadline = time.monotonic() + 10
        while list(tmp_path.glob(f"{WORK_DIR_PREFIX}*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list(tmp_path.glob(f"{WORK_DIR_PREFIX}*")), "the work folder was left behind"
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.slow
def test_sigterm_of_the_cli_stops_the_worker_and_exits_143(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "ACCELBENCH_TEST_CRASH": "hang"}
    cli = subprocess.Popen([sys.executable, "-m", "accelbench", "bench", "mobilenet_v2", "-r", "32", "--no-save"],
                           env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        worker = _worker_of(psutil.Process(cli.pid), timeout_s=120)
        cli.send_signal(signal.SIGTERM)
        _, err = cli.communicate(timeout=60)
        assert cli.returncode == 143 and err.strip().splitlines()[-1] == "terminated (SIGTERM)", err
        assert _gone(worker, 5) and not list(tmp_path.glob(f"{WORK_DIR_PREFIX}*"))
    finally:
        if cli.poll() is None:
            cli.kill()


def test_work_folders_of_dead_parents_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{WORK_DIR_PREFIX}{dead.pid}-abc"
    stale.mkdir()
    (stale / "in.json").write_text("{}")
    alive = tmp_path / f"{WORK_DIR_PREFIX}{os.getpid()}-def"
    alive.mkdir()
    assert remove_stale_work_dirs(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and alive.exists()
