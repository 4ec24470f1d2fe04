"""Each configuration runs in a child process: crash, OOM kill, hang and exceptions become data."""

import pytest

from accelbench.measure.isolation import run_isolated


def test_ok_result_comes_back():
    out = run_isolated("json:dumps", {"a": 1}, timeout_s=60)
    assert out.ok and out.result == '{"a": 1}'


@pytest.mark.parametrize("fault, kind, message", [
    ("abort", "crash", "SIGABRT"),
    ("kill", "oom", "SIGKILL"),
    ("raise", "exception", "RuntimeError: injected failure"),
])
def test_faults_become_failed_outcomes(monkeypatch, fault, kind, message):
    monkeypatch.setenv("ACCELBENCH_TEST_CRASH", fault)
    out = run_isolated("json:dumps", {}, timeout_s=60)
    assert not out.ok and out.kind == kind and message in out.error


def test_hang_is_killed_at_the_timeout(monkeypatch):
    monkeypatch.setenv("ACCELBENCH_TEST_CRASH", "hang")
    out = run_isolated("json:dumps", {}, timeout_s=2)
    assert not out.ok and out.kind == "timeout" and "2 s" in out.error
