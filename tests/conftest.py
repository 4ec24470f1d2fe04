"""Test-wide isolation: nothing a test does may touch the user's files (home cache, calibration,
./accelbench.db). Every path accelbench writes by default is pointed into a session temp dir."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("accelbench-home")
    wanted = {
        "ACCELBENCH_CACHE_DIR": str(root / "cache"),
        "ACCELBENCH_CALIBRATION": str(root / "calibration.toml"),
        "ACCELBENCH_DB": str(root / "accelbench.db"),
    }
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
