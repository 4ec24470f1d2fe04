"""Run one configuration in a child process with a timeout, so crashes and hangs become data.

The parent starts ``python -m accelbench.measure.worker TASK IN.json OUT.json`` (a fresh
interpreter: no state shared with the parent, a runtime that segfaults or aborts takes only the
child down). The child calls ``TASK`` ("module:function") with the JSON payload and writes its
JSON result. The parent turns every way a child can end into an IsolatedResult:

* result written, exit 0            -> ok
* the task raised                    -> kind "exception" (or "user-error" for a UserError), message kept
* killed by a signal (SIGABRT, SIGSEGV, ...) -> kind "crash" with the signal name
* SIGKILL, or MemoryError            -> kind "oom" (the kernel's OOM killer sends SIGKILL)
* still running at the timeout       -> kind "timeout"; the child is killed

Test hook: the environment variable ACCELBENCH_TEST_CRASH = abort | hang | raise | kill makes
the *worker* misbehave before the task runs; the tests use it to exercise each path. The parent
never reads it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from accelbench.measure.worker import PARENT_ENV

CRASH_ENV = "ACCELBENCH_TEST_CRASH"


@dataclass(frozen=True)
class IsolatedResult:
    ok: bool
    result: dict | None
    kind: str | None = None  # crash, oom, timeout, exception, user-error
    error: str | None = None
    returncode: int | None = None
    stderr_tail: str = ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_isolated(task: str, payload: dict, *, timeout_s: float, env: dict | None = None) -> IsolatedResult:
    """Run ``task`` ("package.module:function", called with ``payload``) in a child process."""
    with tempfile.TemporaryDirectory(prefix="accelbench-worker-") as tmp:
        in_path, out_path = Path(tmp, "in.json"), Path(tmp, "out.json")
        in_path.write_text(json.dumps(payload))
        cmd = [sys.executable, "-m", "accelbench.measure.worker", task, str(in_path), str(out_path)]
        child_env = dict(os.environ if env is None else env)
        child_env[PARENT_ENV] = str(os.getpid())  # the child dies with us (measure/worker.py)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=timeout_s, env=child_env)
        except subprocess.TimeoutExpired as exc:
            tail = (exc.stderr or b"").decode(errors="replace")[-2000:]
            return IsolatedResult(False, None, "timeout",
                                  f"timed out after {timeout_s:g} s (the child was killed)", None, tail)
        tail = proc.stderr.decode(errors="replace")[-2000:]
        outcome = json.loads(out_path.read_text()) if out_path.exists() else None
        if proc.returncode == 0 and outcome and outcome.get("ok"):
            return IsolatedResult(True, outcome["result"], returncode=0, stderr_tail=tail)
        if outcome and not outcome.get("ok"):
            return IsolatedResult(False, None, outcome.get("kind", "exception"), outcome.get("error"),
                                  proc.returncode, tail)
        if proc.returncode < 0:
            sig = -proc.returncode
            if sig == signal.SIGKILL:
                return IsolatedResult(False, None, "oom",
                                      "killed by SIGKILL (most likely out of memory: the kernel's OOM killer)",
                                      proc.returncode, tail)
            return IsolatedResult(False, None, "crash", f"the child crashed with {_signal_name(sig)}",
                                  proc.returncode, tail)
        last = tail.strip().splitlines()[-1] if tail.strip() else "no message"
        return IsolatedResult(False, None, "crash", f"the child exited with code {proc.returncode}: {last[:300]}",
                              proc.returncode, tail)
