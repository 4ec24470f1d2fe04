"""Run one configuration in a child process with a timeout, so crashes and hangs become data.

The parent starts a fresh interpreter (no state shared with the parent; a runtime that segfaults
or aborts takes only the child down) that runs ``accelbench.measure.worker`` with ``TASK IN.json
OUT.json PARENT_PID``. The child calls ``TASK`` ("module:function") with the JSON payload and writes
its JSON result. The parent turns every way a child can end into an IsolatedResult:

* result written, exit 0            -> ok
* the task raised                    -> kind "exception" (or "user-error" for a UserError), message kept
* killed by a signal (SIGABRT, SIGSEGV, ...) -> kind "crash" with the signal name
* SIGKILL, or MemoryError            -> kind "oom" (the kernel's OOM killer sends SIGKILL)
* still running at the timeout       -> kind "timeout"; the child is killed

No code the user did not ask for: the child runs with ``python -I`` (isolated mode: neither the
working directory nor ``PYTHON*`` variables nor the user's site-packages reach its import path, so
a ``json.py`` or ``onnx.py`` in the directory accelbench runs from is never imported), and the
directory holding this accelbench package is put on its path explicitly, so the child runs the
same accelbench as the parent. It keeps the parent's working directory (relative paths of the
configuration mean the same).

Nothing left behind: the child leads its own process group (``start_new_session``); the parent
kills that whole group on a timeout and on every way out of ``run_isolated`` (an exception, Ctrl-C,
SIGTERM raised as an exception by the CLI). When the parent dies without a chance to clean up
(kill -9), the child notices (measure/worker.py watches its parent), removes its work folder
(``accelbench-worker-<parent pid>-*`` in the temp dir) and kills its group. A folder whose parent
pid is gone (both killed at once) is removed by the next run_isolated.

Warnings of accelbench (``errors.AccelbenchWarning``) raised in the child come back with its result
and are raised again in the parent, so the user sees them.

Test hook: the environment variable ACCELBENCH_TEST_CRASH = abort | hang | raise | kill makes
the *worker* misbehave before the task runs; the tests use it to exercise each path. The parent
never reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import accelbench
from accelbench.errors import AccelbenchWarning

CRASH_ENV = "ACCELBENCH_TEST_CRASH"
WORK_DIR_PREFIX = "accelbench-worker-"
# The child's bootstrap: the package's directory first on the path, then the worker (argv: the
# package directory, then the worker's own arguments).
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from accelbench.measure.worker import main; "
         "sys.exit(main(sys.argv[2:]))")
_STDERR_TAIL = 2000


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


def package_dir() -> str:
    """The directory that holds the ``accelbench`` package the parent runs (site-packages or src/)."""
    return str(Path(accelbench.__file__).resolve().parent.parent)


def worker_command(task: str, in_path: Path, out_path: Path) -> list[str]:
    """The child's command line: isolated mode, this accelbench's directory on its path, the parent's pid."""
    return [sys.executable, "-I", "-c", _BOOT, package_dir(), task, str(in_path), str(out_path), str(os.getpid())]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_work_dirs(tmp_root: str | None = None) -> list[str]:
    """Remove this user's worker folders whose parent process is gone (both were killed at once);
    returns the folders removed."""
    root = Path(tmp_root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{WORK_DIR_PREFIX}*"):
        pid_text = folder.name[len(WORK_DIR_PREFIX):].split("-", 1)[0]
        try:
            if not pid_text.isdigit() or folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        if not _pid_alive(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (the child and anything it started), then reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_isolated(task: str, payload: dict, *, timeout_s: float, env: dict | None = None) -> IsolatedResult:
    """Run ``task`` ("package.module:function", called with ``payload``) in a child process."""
    remove_stale_work_dirs()
    with tempfile.TemporaryDirectory(prefix=f"{WORK_DIR_PREFIX}{os.getpid()}-") as tmp:
        in_path, out_path = Path(tmp, "in.json"), Path(tmp, "out.json")
        in_path.write_text(json.dumps(payload))
        proc = subprocess.Popen(worker_command(task, in_path, out_path), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=dict(os.environ if env is None else env), start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            tail = proc.communicate()[1].decode(errors="replace")[-_STDERR_TAIL:]
            return IsolatedResult(False, None, "timeout",
                                  f"timed out after {timeout_s:g} s (the child was killed)", None, tail)
        finally:
            # Every way out (an exception, Ctrl-C, SIGTERM raised by the CLI) stops the whole group.
            if proc.returncode is None:
                _kill_group(proc)
        tail = stderr.decode(errors="replace")[-_STDERR_TAIL:]
        outcome = json.loads(out_path.read_text()) if out_path.exists() else None
    for text in (outcome or {}).get("warnings", ()):
        warnings.warn(text, AccelbenchWarning, stacklevel=2)
    return _result_of(proc.returncode, outcome, tail)


def _result_of(returncode: int, outcome: dict | None, tail: str) -> IsolatedResult:
    if returncode == 0 and outcome and outcome.get("ok"):
        return IsolatedResult(True, outcome["result"], returncode=0, stderr_tail=tail)
    if outcome and not outcome.get("ok"):
        return IsolatedResult(False, None, outcome.get("kind", "exception"), outcome.get("error"), returncode, tail)
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGKILL:
            return IsolatedResult(False, None, "oom",
                                  "killed by SIGKILL (most likely out of memory: the kernel's OOM killer)",
                                  returncode, tail)
        return IsolatedResult(False, None, "crash", f"the child crashed with {_signal_name(sig)}", returncode, tail)
    last = tail.strip().splitlines()[-1] if tail.strip() else "no message"
    return IsolatedResult(False, None, "crash", f"the child exited with code {returncode}: {last[:300]}",
                          returncode, tail)
