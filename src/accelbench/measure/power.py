"""Power and energy: measured where a counter is readable, otherwise an estimate labelled as such.

Sources, in order of preference:

1. ``nvml``: NVIDIA's cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ)
   for GPU devices; pynvml (package nvidia-ml-py) is imported only here, only when used.
2. ``rapl``: Linux powercap ``/sys/class/powercap/intel-rapl:N/energy_uj`` for each CPU package,
   summed, with wrap-around at ``max_energy_range_uj``. Needs read access (often root only).
3. ``estimated-tdp``: TDP x the share of the TDP's cores this process kept busy (process CPU
   seconds / wall seconds / cores the TDP covers). An ESTIMATE: never shown as measured.
4. ``unavailable``: no counter and no TDP known.

Measured sources also measure idle power (a short sleep before the run) and report net power =
power - idle. Energy per inference (J) = net power (W) / throughput (inferences/s);
inferences/s per W = throughput / net power. An estimate is already a dynamic share, so its
idle power is None and net = estimated power.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path
from typing import Callable

from accelbench.results.records import PowerRecord

RAPL_ROOT = "/sys/class/powercap"


def rapl_delta_uj(start_uj: int, end_uj: int, max_range_uj: int) -> int:
    """Energy between two readings of a RAPL counter that wraps at ``max_range_uj``."""
    if end_uj >= start_uj:
        return end_uj - start_uj
    return end_uj + max_range_uj - start_uj


class EnergyCounter:
    """A cumulative energy counter: ``read_j()`` returns joules since some fixed origin."""

    source = "unavailable"

    def read_j(self) -> float:
        raise NotImplementedError

    def describe(self) -> str:
        return self.source


class RaplCounter(EnergyCounter):
    """Sum of the package-level RAPL domains (intel-rapl:N, not the sub-domains intel-rapl:N:M)."""

    source = "rapl"

    def __init__(self, root: str = RAPL_ROOT):
        self.domains: list[tuple[Path, int]] = []
        for path in sorted(glob.glob(os.path.join(root, "intel-rapl:*"))):
            name = os.path.basename(path)
            if name.count(":") != 1:  # sub-domains (core, uncore, dram) are inside the package figure
                continue
            energy = Path(path, "energy_uj")
            try:
                int(energy.read_text())
                max_range = int(Path(path, "max_energy_range_uj").read_text())
            except (OSError, ValueError):
                continue
            self.domains.append((energy, max_range))
        if not self.domains:
            raise OSError(f"no readable RAPL package counters under {root}")
        self._last = [int(p.read_text()) for p, _ in self.domains]
        self._total_uj = 0

    def read_j(self) -> float:
        # Accumulate deltas so that a wrap between reads is handled (call at least once per wrap period).
        for i, (path, max_range) in enumerate(self.domains):
            now = int(path.read_text())
            self._total_uj += rapl_delta_uj(self._last[i], now, max_range)
            self._last[i] = now
        return self._total_uj / 1e6

    def describe(self) -> str:
        return "rapl: " + ", ".join(str(p.parent.name) for p, _ in self.domains)


class NvmlCounter(EnergyCounter):
    """NVIDIA total energy consumption since driver load (mJ), Volta and newer."""

    source = "nvml"

    def __init__(self, index: int = 0):
        import pynvml  # nvidia-ml-py; only on GPU hosts

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.name = pynvml.nvmlDeviceGetName(self._handle)
        if isinstance(self.name, bytes):
            self.name = self.name.decode()
        self.index = index
        self.read_j()  # raises NVMLError_NotSupported on GPUs without the counter

    def read_j(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1e3

    def memory_used_bytes(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def describe(self) -> str:
        return f"nvml: {self.name} (gpu {self.index})"


def open_counter(device: str) -> EnergyCounter | None:
    """The best measured counter for ``device`` ("cuda", "cuda:1", "tensorrt", "cpu", ...), or None."""
    key = device.lower()
    if key.startswith(("cuda", "tensorrt", "gpu")):
        index = int(key.split(":", 1)[1]) if ":" in key and key.split(":", 1)[1].isdigit() else 0
        try:
            return NvmlCounter(index)
        except Exception:  # no pynvml, no driver, or counter unsupported: fall through
            return None
    try:
        return RaplCounter()
    except OSError:
        return None


def measure_idle_power_w(counter: EnergyCounter, seconds: float = 0.5,
                         sleep: Callable[[float], None] = time.sleep,
                         clock: Callable[[], int] = time.perf_counter_ns) -> float | None:
    """Average power of the counter while this process sleeps for ``seconds``."""
    t0, e0 = clock(), counter.read_j()
    sleep(seconds)
    t1, e1 = clock(), counter.read_j()
    return (e1 - e0) / ((t1 - t0) / 1e9) if t1 > t0 else None


def estimate_tdp_power_w(tdp_w: float, busy_core_s: float, wall_s: float, tdp_cores: int) -> float:
    """TDP share: tdp_w x (busy core-seconds / wall seconds) / cores the TDP covers, capped at TDP."""
    if tdp_w <= 0 or wall_s <= 0 or tdp_cores < 1:
        raise ValueError("tdp_w, wall_s and tdp_cores must be positive")
    share = busy_core_s / wall_s / tdp_cores
    return tdp_w * min(max(share, 0.0), 1.0)


class PowerMeter:
    """Wraps one measured phase: ``start()`` before, ``stop()`` after, then ``record()``.

    ``tdp_w``/``tdp_cores`` feed the estimate when no counter is readable.
    """

    def __init__(self, device: str, *, tdp_w: float | None = None, tdp_cores: int | None = None,
                 idle_seconds: float = 0.5, counter: EnergyCounter | None = None):
        self.device = device
        self.tdp_w = tdp_w
        self.tdp_cores = tdp_cores
        self.counter = counter if counter is not None else open_counter(device)
        self.idle_seconds = idle_seconds
        self.idle_power_w: float | None = None
        self._t0 = self._e0 = self._cpu0 = None
        self._result: PowerRecord | None = None

    def measure_idle(self) -> None:
        if self.counter is not None and self.idle_seconds > 0:
            self.idle_power_w = measure_idle_power_w(self.counter, self.idle_seconds)

    def start(self) -> None:
        self._cpu0 = _process_cpu_s()
        self._t0 = time.perf_counter_ns()
        self._e0 = self.counter.read_j() if self.counter is not None else None

    def stop(self) -> PowerRecord:
        t1 = time.perf_counter_ns()
        wall_s = (t1 - self._t0) / 1e9
        if self.counter is not None:
            energy_j = self.counter.read_j() - self._e0
            self._result = PowerRecord(energy_j / wall_s if wall_s > 0 else None, self.counter.source,
                                       self.idle_power_w, self.counter.describe())
        elif self.tdp_w and self.tdp_cores:
            busy = _process_cpu_s() - self._cpu0
            watts = estimate_tdp_power_w(self.tdp_w, busy, wall_s, self.tdp_cores)
            self._result = PowerRecord(
                watts, "estimated-tdp", None,
                f"ESTIMATE: TDP {self.tdp_w:g} W x {busy:.2f} busy core-s / {wall_s:.2f} s / {self.tdp_cores} cores",
            )
        else:
            self._result = PowerRecord(None, "unavailable", None, "no energy counter readable and no TDP known")
        return self._result


def _process_cpu_s() -> float:
    # user + system CPU time of this process and its threads (runtime thread pools included)
    times = os.times()
    return times.user + times.system
