"""NVIDIA GPUs through NVML (pynvml from the nvidia-ml-py package, imported lazily).

No pynvml, no driver or no GPU -> an empty tuple, silently. accelbench.hardware.devices turns
detected GPUs into devices "gpu0", "gpu1"... matched to the catalog by name where possible.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML reports it. Clock in Hz, memory in bytes, power limit in W."""

    index: int
    name: str
    memory_bytes: int | None = None
    max_sm_clock_hz: float | None = None
    power_limit_w: float | None = None
    driver_version: str = ""


def detect_nvidia_gpus() -> tuple[GpuInfo, ...]:
    """All NVIDIA GPUs NVML sees; () when pynvml, the driver or a GPU is missing."""
    try:
        import pynvml
    except Exception:  # not installed (or broken install): no GPUs as far as we can tell
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver / no GPU
        return ()
    gpus = []
    try:
        driver = _text(_try(pynvml.nvmlSystemGetDriverVersion)) or ""
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = _try(pynvml.nvmlDeviceGetMemoryInfo, handle)
            clock_mhz = _try(pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM)
            power_mw = _try(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
            gpus.append(GpuInfo(
                index=index,
                name=_text(pynvml.nvmlDeviceGetName(handle)),
                memory_bytes=int(memory.total) if memory is not None else None,
                max_sm_clock_hz=clock_mhz * 1e6 if clock_mhz else None,
                power_limit_w=power_mw / 1000.0 if power_mw else None,
                driver_version=driver,
            ))
    except Exception:
        return tuple(gpus)
    finally:
        _try(pynvml.nvmlShutdown)
    return tuple(gpus)


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception:  # one unsupported NVML query must not hide the GPU
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
