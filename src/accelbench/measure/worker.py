"""Child-process entry point: ``python -m accelbench.measure.worker TASK IN.json OUT.json``.

Imports ``TASK`` ("module:function"), calls it with the JSON payload read from IN.json, and
writes ``{"ok": true, "result": ...}`` or ``{"ok": false, "kind": ..., "error": ...}`` to OUT.json
(see accelbench.measure.isolation). The output file is written to a temporary name and renamed,
so the parent never reads half a result.

The child dies with its parent (Linux): a sweep killed with -9 and resumed must not find the old
measurement still running beside the new one.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from accelbench.errors import UserError


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


PARENT_ENV = "ACCELBENCH_PARENT_PID"  # set by accelbench.measure.isolation


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit() and os.getppid() != int(parent):
        os._exit(1)  # the parent died before the request took effect


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    task, in_path, out_path = argv[0], Path(argv[1]), Path(argv[2])
    _die_with_parent()
    try:
        _inject_test_fault()
        module_name, _, func_name = task.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(json.loads(in_path.read_text()))
    except MemoryError:
        _write(out_path, {"ok": False, "kind": "oom", "error": "out of memory (MemoryError)"})
        return 1
    except Exception as exc:
        kind = "user-error" if isinstance(exc, UserError) else "exception"
        message = str(exc).splitlines()[0] if str(exc) else ""
        _write(out_path, {"ok": False, "kind": kind, "error": f"{type(exc).__name__}: {message}"[:1000]})
        return 1
    _write(out_path, {"ok": True, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
