"""Which physical devices a sweep measures on, and how a machine advertises them to a cluster.

A device is ``KIND:NAME``: ``cpu:<the CPU model>`` or ``gpu:<the GPU name>``, names slugged
(``cpu:amd-epyc-7763``, ``gpu:nvidia-a100-sxm4-80gb``). Identical devices in different machines
share one id: they are one candidate of the purchase decision, measured on whichever machine is
free. A node advertises each device as a Ray custom resource ``accelbench/<KIND:NAME>`` with one
unit per physical device (one CPU per machine, one per GPU), so that Ray runs one measurement per
device at a time: two benchmarks on one device measure each other.

A plan's ``devices`` axis names ``cpu``, ``gpu`` (every device of that kind the executor has),
``all``, or exact ids. The measurement's BenchConfig.device comes from the kind and the backend
(``gpu`` is ``cuda`` to ONNX Runtime and torch, ``gpu`` to OpenVINO).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from accelbench.errors import UserError
from accelbench.hardware.host import detect_host

RESOURCE_PREFIX = "accelbench/"
DEVICE_KINDS = ("cpu", "gpu")
DEVICE_GROUPS = ("all", *DEVICE_KINDS)  # axis values that stand for several devices
# (backend, kind) -> BenchConfig.device; a backend not listed uses the kind itself.
BACKEND_DEVICE = {("onnxruntime", "gpu"): "cuda", ("torch", "gpu"): "cuda", ("auto", "gpu"): "cuda",
                  ("openvino", "gpu"): "gpu"}
_ID_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_SLUG_NOISE = re.compile(r"\((r|tm)\)|\bcpu\b|@.*$|\bprocessor\b", re.IGNORECASE)


def slug(name: str) -> str:
    """A device name as an id part: lower case, words joined by '-', vendor marks and clocks dropped."""
    text = _SLUG_NOISE.sub(" ", name).lower().replace("+", "plus")
    return re.sub(r"[^a-z0-9.]+", "-", text).strip("-.") or "unknown"


@dataclass(frozen=True, order=True)
class DeviceId:
    kind: str  # cpu | gpu
    name: str  # slug

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_KINDS:
            raise UserError(f"device: kind {self.kind!r} is not allowed; choose one of: {', '.join(DEVICE_KINDS)}"
                            f" (as KIND:NAME, e.g. cpu:amd-epyc-7763)")
        if not _ID_NAME.fullmatch(self.name or ""):
            raise UserError(f"device: name {self.name!r} is not an id; use lower-case words joined by '-',"
                            f" e.g. {self.kind}:{slug(self.name or 'my-device')}")

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def resource(self) -> str:
        """The Ray custom resource a node advertises for this device."""
        return RESOURCE_PREFIX + str(self)

    def bench_device(self, backend: str) -> str:
        """BenchConfig.device for this device under ``backend``."""
        return BACKEND_DEVICE.get((backend, self.kind), self.kind)


def parse_device_id(text: str) -> DeviceId:
    """``cpu:amd-epyc`` -> DeviceId; a UserError naming the form otherwise."""
    kind, sep, name = str(text).strip().partition(":")
    if not sep:
        raise UserError(f"device: {text!r} is not a device id; write KIND:NAME such as cpu:amd-epyc-7763,"
                        f" or one of: {', '.join(DEVICE_GROUPS)}")
    return DeviceId(kind.lower(), name)


def device_from_resource(resource: str) -> DeviceId | None:
    """The device behind a Ray resource name; None for other resources (CPU, memory, ...)."""
    if not resource.startswith(RESOURCE_PREFIX):
        return None
    try:
        return parse_device_id(resource[len(RESOURCE_PREFIX):])
    except UserError:
        return None


def local_devices() -> tuple[DeviceId, ...]:
    """This machine's devices: its CPU, then each NVIDIA GPU NVML sees (identical GPUs share an id)."""
    return tuple(local_device_units())


def device_units(devices: Sequence[DeviceId]) -> dict[DeviceId, int]:
    """How many of each device: one per occurrence (two identical GPUs are 2 units of one id)."""
    units: dict[DeviceId, int] = {}
    for device in devices:
        units[device] = units.get(device, 0) + 1
    return units


def local_device_units() -> dict[DeviceId, int]:
    """This machine's devices with their counts (every GPU counts, identical ones too)."""
    host = detect_host(with_gpus=True)
    return device_units([DeviceId("cpu", slug(host.cpu_model))] + [DeviceId("gpu", slug(g.name)) for g in host.gpus])


def resolve_devices(wanted: Iterable[str], available: Sequence[DeviceId], where: str) -> tuple[DeviceId, ...]:
    """The devices a plan's ``devices`` axis names, among ``available`` (``where``: "this machine" or
    "the cluster", for messages). A group that matches nothing or an id that is not there is a
    UserError naming what is available."""
    shown = ", ".join(str(d) for d in sorted(available)) or "none"
    chosen: list[DeviceId] = []
    for value in wanted:
        key = str(value).strip().lower()
        if key in DEVICE_GROUPS:
            matched = [d for d in available if key == "all" or d.kind == key]
            if not matched:
                raise UserError(f"devices: {value!r} matches no device on {where}; available: {shown}")
            chosen += matched
            continue
        device = parse_device_id(key)
        if device not in available:
            raise UserError(f"devices: {str(device)!r} is not on {where}; available: {shown}")
        chosen.append(device)
    return tuple(dict.fromkeys(chosen))
