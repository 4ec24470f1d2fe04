"""Writer processes racing on one store, for the store tests and benchmarks/sweep_scaling.py
(imported as a plain module: tests/ is on sys.path).

Each writer saves ``count`` records of its own run (the first sample is n + 1, to check none is
lost), and races the others for the same ``count`` configurations of one shared sweep run: the
store must keep exactly one record per configuration and refuse the rest (DuplicateRecord).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WRITER = """
import sys, time
from pathlib import Path
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.results.store import DuplicateRecord, open_store
url, writer, count, samples, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
while not go.exists():
    time.sleep(0.002)
refused = 0
with open_store(url) as store:
    for n in range(count):
        latency = (n + 1,) + tuple(1_000_000 + i for i in range(samples - 1))
        store.save(BenchRecord(config=BenchConfig(model="resnet50"), run_id=writer, latency_ns=latency))
        try:
            store.save(BenchRecord(config=BenchConfig(model="resnet50"), run_id="shared", latency_ns=latency),
                       config_hash=f"cfg{n}")
        except DuplicateRecord:
            refused += 1
print(refused)
"""


@dataclass(frozen=True)
class RaceResult:
    wall_s: float  # from the start signal to the last writer's exit
    refused: int  # shared configurations refused as already stored, over all writers
    returncodes: tuple[int, ...]
    stderr: tuple[str, ...]


def race_writers(url: str, writers: int, count: int, go: Path, *, samples: int = 2) -> RaceResult:
    """Start ``writers`` processes, release them together, wait for them all."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"w{i}", str(count), str(samples), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(writers)]
    time.sleep(1.0)  # let the interpreters start, then release them together
    started = time.monotonic()
    go.touch()
    outputs = [proc.communicate(timeout=1800) for proc in procs]
    wall = time.monotonic() - started
    refused = sum(int(out.strip() or 0) for (out, _), proc in zip(outputs, procs) if proc.returncode == 0)
    return RaceResult(wall, refused, tuple(p.returncode for p in procs), tuple(err for _, err in outputs))
