"""Finding measurement child processes (tests and benchmarks/kill_resume.py; imported as a plain
module: tests/ is on sys.path)."""

from __future__ import annotations

import psutil


def measurement_children(parent_pid: int) -> list[psutil.Process]:
    """The `accelbench.measure.worker` processes started by ``parent_pid`` (measure/isolation.py's
    worker_command passes the parent's pid as the last argument), whether or not that parent still lives."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or ()
        if "accelbench.measure.worker" in " ".join(cmdline) and cmdline[-1] == str(parent_pid):
            found.append(proc)
    return found
