"""Child-process entry point (started by accelbench.measure.isolation): arguments
``TASK IN.json OUT.json PARENT_PID``.

Imports ``TASK`` ("module:function"), calls it with the JSON payload read from IN.json, and
writes ``{"ok": true, "result": ..., "warnings": [...]}`` or ``{"ok": false, "kind": ..., "error": ...}``
to OUT.json (see accelbench.measure.isolation). The output file is written to a temporary name and
renamed, so the parent never reads half a result. ``warnings`` are the messages of the
AccelbenchWarnings the task raised; the parent raises them again.

The worker leads its own process group. A watchdog thread checks that PARENT_PID is still its
parent; when the parent is gone (killed with -9, say), it removes the work folder that holds
IN.json and kills the group (itself and anything it started): a measurement never outlives the
command that asked for it (a sweep killed with -9 and resumed must not find the old measurement
still running beside the new one). The parent pid comes in argv, not from the kernel's
PR_SET_PDEATHSIG: that fires when the *thread* that started the child ends, and it would kill the
child before the folder is removed. A child whose parent died while it was starting finds a
different parent at its first check and goes at once.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from accelbench.errors import AccelbenchWarning, UserError, one_line

PARENT_POLL_S = 0.25


def _inject_test_fault() -> None:
    # Honoured only here in the worker, for the isolation tests.
    fault = os.environ.get("ACCELBENCH_TEST_CRASH", "")
    if fault == "abort":
        os.abort()
    elif fault == "hang":
        while True:
            time.sleep(60)
    elif fault == "raise":
        raise RuntimeError("injected failure (ACCELBENCH_TEST_CRASH=raise)")
    elif fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def watch_parent(parent_pid: int, work_dir: Path, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Start the watchdog: once ``parent_pid`` is no longer this process's parent, remove
    ``work_dir`` and SIGKILL this process's group."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        shutil.rmtree(work_dir, ignore_errors=True)
        try:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        finally:
            os._exit(1)  # the group was not ours to kill: at least this process goes

    thread = threading.Thread(target=watch, name="accelbench-parent-watch", daemon=True)
    thread.start()
    return thread


def main(argv: list[str]) -> int:
    task, in_path, out_path = argv[0], Path(argv[1]), Path(argv[2])
    if len(argv) > 3:
        watch_parent(int(argv[3]), in_path.parent)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AccelbenchWarning)
        try:
            _inject_test_fault()
            module_name, _, func_name = task.partition(":")
            func = getattr(importlib.import_module(module_name), func_name)
            outcome = {"ok": True, "result": func(json.loads(in_path.read_text()))}
        except MemoryError:
            outcome = {"ok": False, "kind": "oom", "error": "out of memory (MemoryError)"}
        except Exception as exc:
            kind = "user-error" if isinstance(exc, UserError) else "exception"
            outcome = {"ok": False, "kind": kind, "error": f"{type(exc).__name__}: {one_line(exc, 1000)}"[:1000]}
    outcome["warnings"] = _forwarded(caught)
    _write(out_path, outcome)
    return 0 if outcome["ok"] else 1


def _forwarded(caught: list) -> list[str]:
    """The AccelbenchWarnings' messages (once each) for the parent; other warnings go to stderr as usual."""
    forwarded = []
    for warning in caught:
        if issubclass(warning.category, AccelbenchWarning):
            forwarded.append(str(warning.message))
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return list(dict.fromkeys(forwarded))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
