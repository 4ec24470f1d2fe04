"""`accelbench worker`: a machine joins the measurement cluster (a thin wrapper of ``ray start``).

It detects this machine's devices (sweep/devices.py) and starts a Ray node that advertises each as
a custom resource, one unit per physical device, so that sweeps run configurations only where
their device is and one at a time per device. ``--head`` starts the cluster's head instead
(its GCS port and the Ray Client port that `--cluster ray://HOST:PORT` connects to).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from accelbench.errors import UserError
from accelbench.sweep.devices import DeviceId, device_units, local_device_units, parse_device_id

DEFAULT_HEAD_PORT = 6379
DEFAULT_CLIENT_PORT = 10001


@dataclass(frozen=True)
class WorkerSettings:
    devices: dict[DeviceId, int]  # what this node advertises (unit counts)
    head: bool = False
    address: str | None = None  # the head's HOST:PORT (joining nodes)
    port: int = DEFAULT_HEAD_PORT  # head only
    client_port: int = DEFAULT_CLIENT_PORT  # head only: Ray Client (ray://)
    node_ip_address: str | None = None
    temp_dir: str | None = None  # head only (workers use the head's)
    num_cpus: int | None = None
    block: bool = False

    def __post_init__(self) -> None:
        if self.head == (self.address is not None):
            raise UserError("worker: give --address HOST:PORT to join a cluster, or --head to start one (not both)")
        if self.temp_dir is not None and not self.head:
            raise UserError("worker: --temp-dir applies to the head only (the other nodes use the head's)")


def ray_executable() -> str:
    beside = Path(sys.executable).parent / "ray"  # the ray of this environment first
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise UserError("worker: the `ray` command is missing; pip install 'accelbench[cluster]'")
    return found


def ray_start_command(settings: WorkerSettings) -> list[str]:
    """The ``ray start`` command line for ``settings``."""
    resources = {device.resource: units for device, units in settings.devices.items()}
    gpus = sum(units for device, units in settings.devices.items() if device.kind == "gpu")
    cmd = [ray_executable(), "start", "--disable-usage-stats", "--resources", json.dumps(resources, sort_keys=True),
           "--num-gpus", str(gpus)]
    if settings.head:
        cmd += ["--head", "--port", str(settings.port), "--ray-client-server-port", str(settings.client_port),
                "--include-dashboard", "false"]
        if settings.temp_dir:
            cmd += ["--temp-dir", settings.temp_dir]
    else:
        cmd += ["--address", settings.address]
    if settings.node_ip_address:
        cmd += ["--node-ip-address", settings.node_ip_address]
    if settings.num_cpus is not None:
        cmd += ["--num-cpus", str(settings.num_cpus)]
    if settings.block:
        cmd.append("--block")
    return cmd


def advertised_devices(given: Sequence[str], none: bool) -> dict[DeviceId, int]:
    """``--device`` ids (repeat one for several units), nothing with ``--no-devices``, else this machine's."""
    if none:
        if given:
            raise UserError("worker: --no-devices and --device contradict each other; give one of them")
        return {}
    if given:
        return device_units([parse_device_id(text) for text in given])
    return local_device_units()
