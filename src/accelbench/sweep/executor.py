"""Executors: where a sweep's configurations are measured. One interface, two implementations:
LocalExecutor (this machine, one configuration at a time) and RayExecutor (sweep/ray_executor.py,
every device of a Ray cluster). Both measure with ``measure_item``: the same path as
`accelbench bench` (measure.runner.run_config, a child process per configuration), so a crash, an
OOM kill, a hang or an unsupported precision comes back as a failed record, never as an
exception that stops the sweep.

Executors never write to the store: the driver (sweep/runner.py) does, as results arrive.
"""

from __future__ import annotations

import socket
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

from accelbench.errors import UserError
from accelbench.measure.environment import collect_environment
from accelbench.measure.runner import DEFAULT_LOG_ROOT, run_config
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.sweep.devices import DeviceId, local_device_units
from accelbench.sweep.plan import SweepItem


@dataclass(frozen=True)
class Finished:
    """A configuration an executor is done with: its record (ok or failed) and where it ran."""

    item: SweepItem
    record: BenchRecord
    node: str  # the host (and Ray node) that measured it
    seconds: float  # wall time of the measurement on that node (child process included)


def measure_item(config: BenchConfig, run_id: str, *, timeout_s: float | None, log_root: str,
                 layer_runs: int | None = None) -> BenchRecord:
    """Measure one configuration like `accelbench bench` (``layer_runs``: also per-layer times, as
    `bench --layers`); a configuration that cannot run here (a backend not installed, a precision
    the device lacks) is a failed record of kind user-error."""
    try:
        return run_config(config, run_id=run_id, timeout_s=timeout_s, log_root=log_root, layer_runs=layer_runs)
    except UserError as exc:
        return BenchRecord.failed(config, run_id, str(exc), "user-error", environment=collect_environment(config.device))


class Executor(ABC):
    """Measures submitted configurations and hands them back as they finish."""

    where: str  # for messages: "this machine", "the cluster at ray://..."

    @abstractmethod
    def device_units(self) -> dict[DeviceId, int]:
        """The devices it can measure on, and how many of each can measure at once."""

    @abstractmethod
    def submit(self, item: SweepItem, run_id: str) -> None:
        """Queue ``item``; its record will carry ``run_id``."""

    @abstractmethod
    def wait(self, timeout_s: float) -> list[Finished]:
        """What finished within ``timeout_s`` (possibly nothing)."""

    @abstractmethod
    def in_flight(self) -> int:
        """Submitted and not yet handed back."""

    def close(self) -> None:
        """Give back what it holds; anything still in flight is abandoned (a resume measures it)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """This machine, one configuration at a time (one measurement per device, and the CPU feeds any
    GPU: measuring two devices of one machine at once would disturb both)."""

    where = "this machine"

    def __init__(self, *, timeout_s: float | None = None, log_root: str = DEFAULT_LOG_ROOT):
        self._units = local_device_units()
        self._queue: deque[tuple[SweepItem, str]] = deque()
        self._timeout_s = timeout_s
        self._log_root = log_root
        self.node = socket.gethostname()

    def device_units(self) -> dict[DeviceId, int]:
        return dict(self._units)

    def submit(self, item: SweepItem, run_id: str) -> None:
        self._queue.append((item, run_id))

    def wait(self, timeout_s: float) -> list[Finished]:
        if not self._queue:
            return []
        item, run_id = self._queue[0]
        started = time.monotonic()
        record = measure_item(item.config, run_id, timeout_s=self._timeout_s, log_root=self._log_root,
                              layer_runs=item.layer_runs)
        self._queue.popleft()  # only once measured: an interrupted measurement stays in flight
        return [Finished(item, record, self.node, time.monotonic() - started)]

    def in_flight(self) -> int:
        return len(self._queue)
