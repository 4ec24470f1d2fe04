"""A real local Ray cluster for the tests (imported as a plain module: tests/ is on sys.path).

Every node is a process group of its own started with `accelbench worker ... --block` (which
becomes `ray start --block`), on 127.0.0.2: Ray maps 127.0.0.1 to the machine's external address,
but not the rest of the loopback range, so nodes, the Ray Client server and the driver talk over
loopback only. Ray's temporary files live in a short temp dir (unix socket paths are capped at
107 bytes). A node is killed, and the cluster stopped, by SIGKILL to its process group; nothing
else on the machine is touched (no `ray stop`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.2"
READY = "Ray runtime started"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def ray_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "RAY_AUTH_MODE": "disabled",  # no token warning on a private loopback cluster
        "RAY_USAGE_STATS_ENABLED": "0",
        # a dead node is noticed in ~2 s instead of ~30 s
        "RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
        "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3",
    })
    env.update(extra or {})
    return env


class LocalRayCluster:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="abray-", dir="/tmp"))
        self.port = _free_port()
        self.client_port = _free_port()
        self.nodes: dict[str, subprocess.Popen] = {}

    @property
    def address(self) -> str:
        """What `--cluster` takes: the Ray Client address of the head."""
        return f"ray://{LOOPBACK}:{self.client_port}"

    def _start(self, name: str, args: list[str], timeout_s: float = 180.0) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        cmd = [sys.executable, "-m", "accelbench", "worker", "--node-ip-address", LOOPBACK, "--num-cpus", "1",
               "--block", *args]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ray_env(), cwd=self.root,
                                    start_new_session=True)
        self.nodes[name] = proc
        deadline = time.monotonic() + timeout_s
        while READY not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray node {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        return proc

    def start_head(self, devices: list[str] | None = None) -> "LocalRayCluster":
        device_args = [a for d in devices for a in ("--device", d)] if devices else ["--no-devices"]
        self._start("head", ["--head", "--port", str(self.port), "--client-port", str(self.client_port),
                             "--temp-dir", str(self.root / "ray"), *device_args])
        return self

    def add_node(self, name: str, devices: list[str]) -> subprocess.Popen:
        return self._start(name, ["--address", f"{LOOPBACK}:{self.port}", *[a for d in devices
                                                                            for a in ("--device", d)]])

    def node_processes(self, name: str) -> list[int]:
        """Pids of the node: its process group (ray start, raylet, agents) and all their descendants
        (Ray workers run in sessions of their own, and their measurement children)."""
        import psutil

        pgid = self.nodes[name].pid
        found = set()
        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) == pgid:
                    found.add(proc.pid)
                    found.update(child.pid for child in proc.children(recursive=True))
            except (ProcessLookupError, psutil.Error):
                continue
        return sorted(found)

    def kill(self, name: str) -> None:
        """SIGKILL the node: its process group and every process it started (Ray workers included)."""
        others = self.node_processes(name)
        proc = self.nodes.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        proc.wait()

    def stop(self) -> None:
        for name in [n for n in self.nodes if n != "head"] + (["head"] if "head" in self.nodes else []):
            self.kill(name)
        shutil.rmtree(self.root, ignore_errors=True)
