"""The Ray executor: every device of a Ray cluster measures, each on the node that has it.

Machines join the cluster with `accelbench worker` (a wrapper of ``ray start``) and advertise
their devices as custom resources (``accelbench/cpu:<model>``, ``accelbench/gpu:<name>``: one unit
per physical device, sweep/devices.py). Each configuration is one Ray task that asks for one unit
of its device's resource (and one GPU for a GPU device, so that Ray sets CUDA_VISIBLE_DEVICES):
Ray runs it only on a node that has the device, and never two on one device at once. The task runs
``measure_item``, the same measurement as `accelbench bench`, and returns the record; the driver
stores it (sweep/runner.py), so results reach the central store as they finish.

A node that dies mid-measurement: Ray retries the task (``NODE_RETRIES``) on another node with
that device. When no node with the device is left, the driver cancels it and hands back a failed
record of kind "killed" with the reason; when the retries are used up, the same with Ray's error.
Never lost, never duplicated (the store's (run, configuration) constraint).

An ONNX file travels with its task through Ray's object store (the nodes need not share a file
system), and so does the user's data (``inputs``, ``calibration_data``: a file, or a folder's
.npz/.npy files), each put once per sweep and kept on the node under its SHA-256; torch: specs must
be importable on the nodes. Ray is imported only here (extra
``cluster``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
from dataclasses import replace
from pathlib import Path

from accelbench.errors import UserError
from accelbench.files import write_atomically
from accelbench.hardware.host import measured_peaks_path
from accelbench.job.plan import best_reduced_precision
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.sweep.devices import DeviceId, device_from_resource
from accelbench.sweep.executor import Executor, Finished, measure_item
from accelbench.sweep.identity import data_digest, data_files, file_digest
from accelbench.sweep.plan import SweepItem

NODE_RETRIES = 2  # a configuration runs at most 1 + NODE_RETRIES times when nodes die under it
DEVICE_CHECK_S = 2.0  # how often the driver looks for devices that left the cluster
LOST_DEVICE_GRACE_S = 3.0
CONNECT_ATTEMPTS = 3  # a device absent this long is gone (not a node restarting its raylet)
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("cluster: --cluster needs Ray on this machine and on every node;"
                        " pip install 'accelbench[cluster]'") from None
    return ray


def check_cluster_address(address: str) -> str:
    """``ray://HOST:PORT`` (Ray Client, from anywhere), ``HOST:PORT`` (a driver on a cluster node)
    or ``auto`` (inside a Ray job); UserError otherwise."""
    text = address.strip()
    if text == "auto" or _ADDRESS.match(text):
        return text
    raise UserError(f"cluster: {address!r} is not a cluster address; give ray://HOST:PORT (Ray Client,"
                    " port 10001 by default), HOST:PORT (the head's GCS port, from a cluster node) or auto")


def connect(address: str):
    """Connect this process to the cluster (once); UserError when it cannot."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    checked = check_cluster_address(address)
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            ray.init(address=checked, log_to_driver=False, logging_level=logging.ERROR, namespace="accelbench")
            return ray
        except Exception as exc:  # ConnectionError, grpc errors, timeouts: all one line for the user
            ray.shutdown()
            if attempt == CONNECT_ATTEMPTS:
                text = " ".join(str(exc).split())[:300] or type(exc).__name__
                raise UserError(f"cluster: cannot connect to {address} ({text}); start the head with"
                                " `accelbench worker --head` and check the address") from None
            # A busy head sometimes fails to start the Ray Client server of a new driver: try again.
            time.sleep(2.0 * attempt)
    return ray


def alive_device_units(ray) -> dict[DeviceId, int]:
    """Devices advertised by the cluster's alive nodes, with their unit counts."""
    units: dict[DeviceId, int] = {}
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        for name, amount in (node.get("Resources") or {}).items():
            device = device_from_resource(name)
            if device is not None and amount >= 1:
                units[device] = units.get(device, 0) + int(amount)
    return dict(sorted(units.items()))


def node_cache_dir() -> Path:
    """Where a node keeps shipped model files and LoadGen logs (``$ACCELBENCH_CACHE_DIR`` or ~/.cache/accelbench)."""
    return measured_peaks_path().parent


USER_DATA_FIELDS = ("inputs", "calibration_data")  # BenchConfig's paths of the user's data, shipped like models


def data_payload(path: str) -> dict:
    """The user's data at ``path`` as it travels to a node: its digest, whether it is a folder, and
    its files' bytes by name."""
    return {"digest": data_digest(path), "folder": Path(path).is_dir(),
            "files": {p.name: p.read_bytes() for p in data_files(path)}}


def unpack_data(shipped: dict) -> str:
    """Where the shipped user data lies on this node (written once per digest): the folder, or the file."""
    root = node_cache_dir() / "data"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / shipped["digest"]
    if not folder.exists():
        tmp = root / f"{shipped['digest']}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name, data in shipped["files"].items():
            (tmp / Path(name).name).write_bytes(data)
        try:
            os.replace(tmp, folder)  # whole or absent, if two tasks of one node ship the same data
        except OSError:  # another task of this node got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(folder) if shipped["folder"] else str(folder / next(iter(shipped["files"])))


def measure_on_node(payload: dict, model_bytes: bytes | None, *shipped_data: dict | None) -> dict:
    """The Ray task: measure one configuration on this node and return its record (JSON-ready).
    ``shipped_data``: per USER_DATA_FIELDS, the user's data (data_payload) or None."""
    config = BenchConfig.from_dict(payload["config"])
    if model_bytes is not None:
        models = node_cache_dir() / "models"
        models.mkdir(parents=True, exist_ok=True)
        path = models / f"{payload['model_digest']}.onnx"
        if not path.exists():
            write_atomically(path, model_bytes)  # whole or absent, if two tasks of one node ship the same file
        config = replace(config, model=str(path))
    config = replace(config, **{name: unpack_data(data) for name, data in zip(USER_DATA_FIELDS, shipped_data)
                                if data is not None})
    started = time.monotonic()
    record = measure_item(config, payload["run_id"], timeout_s=payload.get("timeout_s"),
                          log_root=str(node_cache_dir() / "logs"), layer_runs=payload.get("layer_runs"))
    import ray

    # Outside a Ray task (tests call it directly) there is no node, and asking would start Ray.
    node_id = ray.get_runtime_context().get_node_id()[:8] if ray.is_initialized() else "local"
    return {"record": record.to_dict(), "node": f"{socket.gethostname()}/{node_id}",
            "seconds": time.monotonic() - started}


def probe_on_node(backend: str) -> str | None:
    """The Ray task of `run --cluster`: this node CPU's best reduced precision (job/plan.py's choice)."""
    try:
        return best_reduced_precision(backend)
    except UserError:  # the backend is not installed there: its records will say so
        return None


def warm_up_on_node() -> None:
    """Start a Ray worker process on a node and import what a measurement task needs, while the
    driver is still expanding the plan (a task's first run on a node pays for both otherwise).
    Running it is the work: Ray imports this module on the node to call it, and with it the
    measurement path (sweep.executor, measure.runner)."""


def _failure_kind(ray, exc: Exception) -> str:
    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return "oom"
    if isinstance(exc, ray.exceptions.RayTaskError):
        return "exception"
    return "killed"  # the worker or its node died (and the retries did too), or it was cancelled


class RayExecutor(Executor):
    def __init__(self, address: str, *, timeout_s: float | None = None):
        self.address = address
        self.where = f"the cluster at {address}"
        self._ray = connect(address)
        self._remote = self._ray.remote(measure_on_node)
        self._timeout_s = timeout_s
        self._in_flight: dict = {}  # ObjectRef -> (item, run_id)
        self._shipped: dict[str, object] = {}  # model or data path -> ObjectRef of its bytes
        self._absent_since: dict[DeviceId, float] = {}
        self._checked = 0.0
        self._gpus = self._ray.cluster_resources().get("GPU", 0) > 0
        warm = self._ray.remote(warm_up_on_node)
        for device, units in self.device_units().items():  # fire and forget: nobody waits for these
            for _ in range(units):
                warm.options(resources={device.resource: 1}, num_cpus=0).remote()

    def device_units(self) -> dict[DeviceId, int]:
        return alive_device_units(self._ray)

    def call_on_devices(self, function, devices, *args) -> dict[DeviceId, object]:
        """``function(*args)`` once on a node of each device (holding one unit of it); the answers."""
        remote = self._ray.remote(function)
        refs = {d: remote.options(resources={d.resource: 1}, num_cpus=0).remote(*args) for d in devices}
        return dict(zip(refs, self._ray.get(list(refs.values())))) if refs else {}

    def submit(self, item: SweepItem, run_id: str) -> None:
        config = item.config
        payload = {"config": config.to_dict(), "run_id": run_id, "timeout_s": self._timeout_s,
                   "layer_runs": item.layer_runs}
        model_bytes = None
        if config.source == "file":
            if config.model not in self._shipped:
                self._shipped[config.model] = self._ray.put(Path(config.model).read_bytes())
            model_bytes = self._shipped[config.model]
            payload["model_digest"] = file_digest(config.model)
        shipped_data = []
        for name in USER_DATA_FIELDS:
            path = getattr(config, name)
            if path is not None and path not in self._shipped:
                self._shipped[path] = self._ray.put(data_payload(path))
            shipped_data.append(self._shipped[path] if path is not None else None)
        options = {"resources": {item.device.resource: 1}, "num_cpus": 0, "max_retries": NODE_RETRIES,
                   "retry_exceptions": False, "name": f"accelbench:{item.config_hash}"}
        if item.device.kind == "gpu" and self._gpus:
            options["num_gpus"] = 1  # Ray picks the GPU and sets CUDA_VISIBLE_DEVICES for the task
        ref = self._remote.options(**options).remote(payload, model_bytes, *shipped_data)
        self._in_flight[ref] = (item, run_id)

    def in_flight(self) -> int:
        return len(self._in_flight)

    def wait(self, timeout_s: float) -> list[Finished]:
        if not self._in_flight:
            return []
        ready, _ = self._ray.wait(list(self._in_flight), num_returns=1, timeout=timeout_s)
        if ready:  # everything else that is ready too, without waiting again
            ready, _ = self._ray.wait(list(self._in_flight), num_returns=len(self._in_flight), timeout=0)
        done = [self._collect(ref) for ref in ready]
        return done + self._fail_lost_devices()

    def _collect(self, ref) -> Finished:
        item, run_id = self._in_flight.pop(ref)
        try:
            result = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            first = " ".join(str(exc).split())[:400]
            error = (f"the node measuring it failed ({type(exc).__name__}) after up to {NODE_RETRIES + 1} attempts"
                     f": {first}")
            record = BenchRecord.failed(item.config, run_id, error, _failure_kind(self._ray, exc))
            return Finished(item, record, "-", 0.0)
        try:
            # The record says what was asked: the configuration, not where the node kept the file.
            record = replace(BenchRecord.from_dict(result["record"]), config=item.config)
        except UserError as exc:  # e.g. a node with another accelbench (another record schema)
            record = BenchRecord.failed(item.config, run_id, f"the node's record cannot be read here: {exc}",
                                        "exception")
        return Finished(item, record, result["node"], result["seconds"])

    def _fail_lost_devices(self) -> list[Finished]:
        """Configurations whose device no alive node has any more: cancelled, recorded as failed."""
        now = time.monotonic()
        if now - self._checked < DEVICE_CHECK_S or not self._in_flight:
            return []
        self._checked = now
        alive = self.device_units()
        waiting = {item.device for item, _ in self._in_flight.values()}
        for device in waiting:
            if device in alive:
                self._absent_since.pop(device, None)
            else:
                self._absent_since.setdefault(device, now)
        lost = {d for d, since in self._absent_since.items() if now - since >= LOST_DEVICE_GRACE_S}
        failed = []
        for ref, (item, run_id) in list(self._in_flight.items()):
            if item.device in lost:
                self._ray.cancel(ref, force=True)
                del self._in_flight[ref]
                error = (f"no node with device {item.device} is left in the cluster (its node died or left"
                         " mid-sweep); rerun the sweep when one has joined")
                failed.append(Finished(item, BenchRecord.failed(item.config, run_id, error, "killed"), "-", 0.0))
        return failed

    def close(self) -> None:
        for ref in list(self._in_flight):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # the cluster may be gone already; nothing left to give back
                pass
        self._in_flight.clear()
        self._ray.shutdown()
