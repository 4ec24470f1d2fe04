"""Finding measurement child processes (tests and benchmarks/kill_resume.py; imported as a plain
module: tests/ is on sys.path)."""

from __future__ import annotations

import psutil


def measurement_children(parent_pid: int) -> list[psutil.Process]:
    """The `accelbench.measure.worker` processes started by ``parent_pid`` (measure/isolation.py
    names the parent in their environment), whether or not that parent still lives."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "accelbench.measure.worker" in " ".join(proc.info["cmdline"] or ()) and \
                    proc.environ().get("ACCELBENCH_PARENT_PID") == str(parent_pid):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
