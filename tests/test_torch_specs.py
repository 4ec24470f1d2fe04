"""torch: specs resolve the same way in every command (issue 13, point 9): a package in the working
directory the user typed the spec in is found by profile, project, models closest and bench (whose
measurement runs in a child process); $ACCELBENCH_TORCH_PATH names other directories; a relative
@weights file is found there too. Before, only bench found it (its worker ran `python -m`, which puts
the working directory on sys.path) and profile/project said "cannot import"."""

import json
import sys
import uuid

import pytest

torch = pytest.importorskip("torch")

from accelbench.cli import main  # noqa: E402
from accelbench.models.torch_export import TORCH_PATH_ENV, torch_search_dirs  # noqa: E402

NET = '''
import torch


def build():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
'''


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """A package only the user's directory holds (a fresh name: nothing cached in sys.modules)."""
    name = f"userpkg_{uuid.uuid4().hex[:8]}"
    work = tmp_path / "work"
    (work / name).mkdir(parents=True)
    (work / name / "__init__.py").write_text("")
    (work / name / "nets.py").write_text(NET)
    monkeypatch.delenv(TORCH_PATH_ENV, raising=False)
    yield work, f"torch:{name}.nets:build"
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_every_command_finds_the_package_in_the_working_directory(user_package, monkeypatch, capsys):
    work, spec = user_package
    monkeypatch.chdir(work)
    assert torch_search_dirs() == [str(work)]
    expected_macs = 16 * 16 * 4 * 27 + 4 * 2
    code, out, err = run(["profile", spec, "-r", "16", "-f", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["macs"] == expected_macs
    code, out, err = run(["project", spec, "-r", "16", "-d", "t4", "-p", "fp32", "--no-calibration", "-f", "json"],
                         capsys)
    assert code == 0, err and json.loads(out)["macs"] == expected_macs
    code, out, err = run(["models", "closest", spec, "-r", "16", "--limit", "1", "-f", "json"], capsys)
    assert code == 0, err
    pytest.importorskip("onnxruntime")
    code, out, err = run(["bench", spec, "-r", "16", "--no-save", "--time-limit", "0.2", "--threads", "1",
                          "-f", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["macs_per_inference"] == expected_macs


def test_the_search_path_can_be_named_and_the_worker_gets_it(user_package, monkeypatch, tmp_path, capsys):
    work, spec = user_package
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, err = run(["profile", spec, "-r", "16"], capsys)
    assert code == 2 and "cannot import" in err and str(elsewhere) in err and TORCH_PATH_ENV in err
    monkeypatch.setenv(TORCH_PATH_ENV, str(work))
    code, _, err = run(["profile", spec, "-r", "16"], capsys)
    assert code == 0, err
    # The isolated worker starts in this directory (elsewhere) and still finds the module.
    pytest.importorskip("onnxruntime")
    code, out, err = run(["bench", spec, "-r", "16", "--no-save", "--time-limit", "0.2", "--threads", "1",
                          "-f", "json"], capsys)
    assert code == 0, err and json.loads(out)["status"] == "ok"


def test_a_relative_weights_file_is_found_beside_the_package(user_package, monkeypatch, tmp_path, capsys):
    work, spec = user_package
    monkeypatch.chdir(work)
    from accelbench.models.torch_export import build_module

    module = build_module(spec)
    torch.save(module.state_dict(), work / "trained.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(TORCH_PATH_ENV, str(work))
    code, _, err = run(["profile", f"{spec}@trained.pt", "-r", "16"], capsys)
    assert code == 0, err
