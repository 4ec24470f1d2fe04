"""Any device by its id: a catalog id ("t4"), "host" (this machine's CPU, detected) or "gpu0",
"gpu1"... (NVIDIA GPUs found through NVML, matched to the catalog by name where possible).

The resolver sits above the catalog (data files + loader), host detection and NVML, which know
nothing of each other's ids.
"""

from __future__ import annotations

import dataclasses
import re

from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog, match_device_name
from accelbench.hardware.host import host_device_spec
from accelbench.hardware.nvml import GpuInfo, detect_nvidia_gpus
from accelbench.hardware.spec import DeviceSpec


def get_device(device_id: str, catalog: dict[str, DeviceSpec] | None = None) -> DeviceSpec:
    """One device: a catalog id, "host" (this machine, detected), or "gpuN" (NVIDIA GPU N via NVML)."""
    key = str(device_id).strip().lower()
    if key == "host":
        return host_device_spec()
    catalog = load_catalog() if catalog is None else catalog
    if key in catalog:
        return catalog[key]
    if re.fullmatch(r"gpu\d+", key):
        gpus = detect_nvidia_gpus()
        for gpu in gpus:
            if f"gpu{gpu.index}" == key:
                return gpu_device_spec(gpu, catalog)
        found = ", ".join(f"gpu{g.index}" for g in gpus) or "none (no NVIDIA GPU or NVML not installed)"
        raise UserError(f"device: {device_id!r} not found; NVIDIA GPUs detected: {found}")
    known = ", ".join(["host", *catalog])
    raise UserError(f"device: {device_id!r} is not known; choose one of: {known}")


def gpu_device_spec(gpu: GpuInfo, catalog: dict[str, DeviceSpec] | None = None) -> DeviceSpec:
    """DeviceSpec "gpuN": the matching catalog entry re-labelled, or NVML's figures alone."""
    catalog = load_catalog() if catalog is None else catalog
    seen = (f"NVML: {gpu.name}, {gpu.memory_bytes or 0:,} bytes, max SM clock "
            f"{(gpu.max_sm_clock_hz or 0) / 1e6:.0f} MHz, power limit {gpu.power_limit_w or 0:.0f} W")
    match = match_device_name(gpu.name, catalog)
    if match is not None:
        return dataclasses.replace(match, id=f"gpu{gpu.index}",
                                   notes=f"matched catalog '{match.id}'. {seen}. {match.notes}".strip())
    kwargs, sources = {}, {}
    for name, value in (("dram_capacity_bytes", gpu.memory_bytes), ("clock_hz", gpu.max_sm_clock_hz),
                        ("tdp_w", gpu.power_limit_w)):
        if value:
            kwargs[name] = value
            sources[name] = "NVML"
    return DeviceSpec(id=f"gpu{gpu.index}", name=gpu.name, vendor="NVIDIA", kind="GPU", peak_ops_per_s={},
                      sources=sources, notes=f"not in the catalog; peaks unknown. {seen}", **kwargs)
