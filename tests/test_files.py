"""Issue 10: how accelbench writes files (all at once, never through a symlink) and where it reads
from (never outside a model's folder), and the paths it and its runtimes write (docs/files.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from accelbench.files import TEMP_INFIX, escapes_folder, write_atomically
from cli_helpers import cli_exit_code


def test_write_atomically_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old" * 1000)
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new" and oct(target.stat().st_mode & 0o777) != "0o600"

    def killed_mid_write(src, dst):  # the rename never happens: as a kill before it would leave things
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, b"x" * 10**6)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary left either


def test_a_symlink_at_the_output_is_replaced_never_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me")
    link = tmp_path / "out.html"
    link.symlink_to(elsewhere)
    write_atomically(link, "report")
    assert not link.is_symlink() and link.read_text() == "report" and elsewhere.read_text() == "keep me"


@pytest.mark.parametrize("location, why", [
    ("/etc/passwd", "an absolute path"), ("../secret", "'..' climbs out"), ("a/../../secret", "'..' climbs out"),
    ("", "an absolute path"),
])
def test_escapes_folder(tmp_path, location, why):
    assert why in escapes_folder(tmp_path, location)


def test_escapes_folder_through_links(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret").write_text("s")
    (model_dir / "weights.bin").write_text("w")
    assert escapes_folder(model_dir, "weights.bin") is None and escapes_folder(model_dir, "./sub/../weights.bin") is None
    (model_dir / "link.bin").symlink_to(tmp_path / "secret")
    (model_dir / "dir").symlink_to(tmp_path)
    os.link(tmp_path / "secret", model_dir / "hard.bin")
    assert "'link.bin' is a symlink" in escapes_folder(model_dir, "link.bin")
    assert "'dir' is a symlink" in escapes_folder(model_dir, "dir/secret")
    assert "hard link" in escapes_folder(model_dir, "hard.bin")


def test_models_save_force_is_atomic_and_refuses_a_dangling_symlink_without_force(tmp_path, capsys, monkeypatch):
    out = tmp_path / "m.onnx"
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere.onnx")
    assert cli_exit_code(["models", "save", "mobilenet_v2", "-r", "32", "-o", str(tmp_path / "gone")]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert not (tmp_path / "nowhere.onnx").exists()  # the dangling link was not followed
    assert cli_exit_code(["models", "save", "mobilenet_v2", "-r", "32", "-o", str(out)]) == 0
    before = out.read_bytes()
    import accelbench.files as files

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", killed)
    assert cli_exit_code(["models", "save", "resnet18", "-r", "32", "-o", str(out), "--force"]) == 130
    assert out.read_bytes() == before and onnx.load(str(out)).graph.node  # the old model, whole
    assert not [p for p in tmp_path.iterdir() if TEMP_INFIX in p.name]
    monkeypatch.undo()
    assert cli_exit_code(["models", "save", "mobilenet_v2", "-r", "32", "-o", str(tmp_path / "gone"), "--force"]) == 0
    assert not (tmp_path / "gone").is_symlink() and not (tmp_path / "nowhere.onnx").exists()


@pytest.mark.slow
def test_runtimes_write_nothing_to_home_or_tmp(tmp_path):
    """ONNX Runtime's telemetry (~/.cache/Microsoft, $TMPDIR/.ses) and OpenVINO's (~/intel) are off: a bench on
    each, INT8 on OpenVINO (NNCF), writes only what docs/files.md lists."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ACCELBENCH_", "ORT_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp))
    for backend, precision in (("onnxruntime", "fp32"), ("openvino", "int8")):
        done = subprocess.run([sys.executable, "-m", "accelbench", "bench", "mobilenet_v2", "-r", "32", "--backend",
                               backend, "-p", precision, "--time-limit", "0.2", "--no-save"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(str(path.relative_to(tmp_path)) for folder in (home, tmp) for path in folder.rglob("*"))
    assert written == [], written  # measured peaks are written by `tops host` and `run` only
