"""The environment a measurement ran in: host, CPU, OS, Python, runtime versions, driver, clocks,
as the typed ``Environment`` of a record (results/records.py).

Only stdlib + psutil; runtime versions come from package metadata, so nothing heavy is imported.
Which packages: each registered backend's ``packages``, then MEASUREMENT_PACKAGES.
"""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path

import psutil

from accelbench import __version__
from accelbench.backends.base import registered_backends
from accelbench.results.records import CpuClocks, Environment, GpuEnvironment

# ISA flags that decide which precisions are fast on a CPU.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
                  "amx_bf16", "amx_int8", "amx_tile", "avx_vnni_int8")
# Packages every measurement depends on, whichever backend runs (LoadGen, the core, NVML counters).
MEASUREMENT_PACKAGES = ("mlcommons-loadgen", "numpy", "onnx", "nvidia-ml-py")


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor is enough
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def recorded_packages() -> tuple[str, ...]:
    """The pip distributions whose versions a record keeps: the backends' runtimes, then the core."""
    names = [p for backend in registered_backends() for p in backend.packages]
    names += MEASUREMENT_PACKAGES
    return tuple(dict.fromkeys(names))


def runtime_versions() -> dict[str, str]:
    versions = {}
    for name in recorded_packages():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def collect_environment(device: str = "cpu") -> Environment:
    """This machine, now. Clock figures in MHz, as the kernel gives them."""
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    clocks = {}
    if cpu.get("cpu MHz"):
        clocks["cpuinfo_mhz"] = float(cpu["cpu MHz"])
    for key, path in (("scaling_cur_mhz", "scaling_cur_freq"), ("max_mhz", "cpuinfo_max_freq")):
        value = _read(f"/sys/devices/system/cpu/cpu0/cpufreq/{path}")
        if value and value.isdigit():
            clocks[key] = int(value) / 1e3  # kHz -> MHz
    return Environment(
        hostname=socket.gethostname(),
        os=f"{platform.system()} {platform.release()}",
        platform=platform.platform(),
        python=platform.python_version(),
        cpu_model=cpu.get("model name") or platform.processor() or "unknown",
        cpu_family_model=f"{cpu.get('cpu family', '?')}/{cpu.get('model', '?')}",
        cpu_flags=tuple(sorted(f for f in RELEVANT_FLAGS if f in flags)),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        affinity_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        memory_bytes=psutil.virtual_memory().total,
        runtime_versions=runtime_versions(),
        accelbench=__version__,
        cpu_clocks=CpuClocks(**clocks, governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or None),
        gpu=_gpu_environment() if device.lower().startswith(("cuda", "tensorrt", "gpu")) else None,
    )


def _gpu_environment() -> GpuEnvironment:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)

        def text(v):
            return v.decode() if isinstance(v, bytes) else v

        info = {
            "name": text(pynvml.nvmlDeviceGetName(handle)),
            "driver": text(pynvml.nvmlSystemGetDriverVersion()),
            "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
        }
        try:
            info["sm_clock_mhz"] = pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)
            info["max_sm_clock_mhz"] = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM)
            info["power_limit_w"] = pynvml.nvmlDeviceGetPowerManagementLimit(handle) / 1e3
        except Exception:
            pass
        return GpuEnvironment(**info)
    except Exception as exc:  # pynvml missing or no driver
        return GpuEnvironment(error=f"NVML unavailable: {type(exc).__name__}")
