"""GPU check: ResNet-50 at 224 and 2 MP, batch 1 and 32, fp32/fp16/int8, through every GPU path the
installed packages allow, each config via ``accelbench bench ... --format json`` in its own process
with a timeout, printed as one table with NVML power (bench's own figure, and an independent
sampler of the board's power while the config ran as a cross-check).

Paths, in order (the cheap, always-present ones first, so an overall budget cut drops TensorRT):
  torch CUDA (MODEL torch:gpu_models:resnet50; fp32, fp16; int8 is not offered on torch eager),
  onnxruntime CUDA EP (zoo resnet50; fp32, fp16, int8 QDQ), onnxruntime TensorRT EP (same).
``--dry-run``: the same code path on CPU (resnet50 at 64, batch 1, a second per config) to check the
script here; no GPU, no power.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SPEC = "torch:gpu_models:resnet50"


@dataclass
class Config:
    path: str  # "torch-cuda", "ort-cuda", "ort-tensorrt", or the dry-run CPU paths
    backend: str
    device: str
    model: str
    resolution: str
    batch: int
    precision: str


@dataclass
class Result:
    config: Config
    ok: bool
    wall_s: float
    record: dict = field(default_factory=dict)
    error: str = ""
    sampled_power_w: float | None = None  # mean NVML board power while the config ran
    sampled_power_max_w: float | None = None


class PowerSampler:
    """Board power every 100 ms via NVML (pynvml), else nvidia-smi; None where neither works."""

    def __init__(self) -> None:
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._reader()

    @staticmethod
    def _reader():
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # mW -> W
        except Exception:
            pass
        if shutil.which("nvidia-smi"):
            def smi() -> float | None:
                out = subprocess.run(["nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits", "-i", "0"],
                                     capture_output=True, text=True, timeout=5)
                try:
                    return float(out.stdout.strip().splitlines()[0])
                except (ValueError, IndexError):
                    return None
            return smi
        return None

    @property
    def available(self) -> bool:
        return self._read is not None

    def __enter__(self):
        self._samples = []
        self._stop.clear()
        if self._read is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                value = self._read()
                if value is not None:
                    self._samples.append(value)
            except Exception:
                pass
            self._stop.wait(0.1)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def mean_max(self) -> tuple[float | None, float | None]:
        if not self._samples:
            return None, None
        return sum(self._samples) / len(self._samples), max(self._samples)


def installed_paths(dry_run: bool) -> tuple[list[str], list[str]]:
    """(paths to run, notes on paths skipped and why)."""
    notes: list[str] = []
    if dry_run:
        return ["ort-cpu", "openvino-cpu", "torch-cpu"], ["dry run: CPU paths only"]
    paths: list[str] = []
    try:
        import torch

        if torch.cuda.is_available():
            paths.append("torch-cuda")
        else:
            notes.append("torch: installed but torch.cuda.is_available() is False")
    except ImportError:
        notes.append("torch: not installed")
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
        if "CUDAExecutionProvider" in providers:
            paths.append("ort-cuda")
        else:
            notes.append(f"onnxruntime {ort.__version__}: no CUDAExecutionProvider (needs onnxruntime-gpu)")
        if "TensorrtExecutionProvider" in providers:
            paths.append("ort-tensorrt")
        else:
            notes.append("onnxruntime: no TensorrtExecutionProvider")
    except ImportError:
        notes.append("onnxruntime: not installed")
    return paths, notes


def plan(paths: list[str], dry_run: bool) -> list[Config]:
    if dry_run:
        table = {"ort-cpu": ("onnxruntime", "cpu", "resnet50", ("fp32", "int8")),
                 "openvino-cpu": ("openvino", "cpu", "resnet50", ("fp32", "int8")),
                 "torch-cpu": ("torch", "cpu", TORCH_SPEC, ("fp32",))}
        return [Config(p, table[p][0], table[p][1], table[p][2], "64", 1, prec)
                for p in paths for prec in table[p][3]]
    table = {"torch-cuda": ("torch", "cuda", TORCH_SPEC, ("fp32", "fp16")),
             "ort-cuda": ("onnxruntime", "cuda", "resnet50", ("fp32", "fp16", "int8")),
             "ort-tensorrt": ("onnxruntime", "tensorrt", "resnet50", ("fp32", "fp16", "int8"))}
    configs = []
    for p in paths:  # path order is priority order
        backend, device, model, precisions = table[p]
        for resolution in ("224", "2mp"):
            for batch in (1, 32):
                for prec in precisions:
                    configs.append(Config(p, backend, device, model, resolution, batch, prec))
    return configs


def run_config(cfg: Config, time_limit_s: float, timeout_s: float, sampler: PowerSampler, db: str) -> Result:
    cmd = [sys.executable, "-m", "accelbench", "bench", cfg.model, "--backend", cfg.backend, "--device", cfg.device,
           "--precision", cfg.precision, "--batch", str(cfg.batch), "--resolution", cfg.resolution,
           "--time-limit", f"{time_limit_s:g}", "--db", db, "--format", "json"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    start = time.monotonic()
    with sampler:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return Result(cfg, False, time.monotonic() - start, error=f"timed out after {timeout_s:.0f} s")
    wall = time.monotonic() - start
    mean_w, max_w = sampler.mean_max()
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr or proc.stdout).strip().splitlines() if l.strip()]
        return Result(cfg, False, wall, error=(lines[-1] if lines else f"exit {proc.returncode}")[:160],
                      sampled_power_w=mean_w, sampled_power_max_w=max_w)
    try:
        record = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return Result(cfg, False, wall, error="bench printed no JSON", sampled_power_w=mean_w)
    if isinstance(record, list):
        record = record[0] if record else {}
    ok = record.get("status", "ok") == "ok"
    return Result(cfg, ok, wall, record, "" if ok else str(record.get("error", ""))[:160], mean_w, max_w)


def _fmt(value, scale: float = 1.0, digits: int = 2) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value) * scale:.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def print_table(results: list[Result], notes: list[str]) -> None:
    head = ("path", "res", "batch", "prec", "ran", "p50 ms", "p90 ms", "inf/s", "MAC util", "power W", "source",
            "sampled W", "J/inf", "status")
    rows = []
    for r in results:
        rec = r.record
        util = rec.get("mac_utilization")
        rows.append((r.config.path, r.config.resolution, str(r.config.batch), r.config.precision,
                     str(rec.get("precision_executed", "-")), _fmt(rec.get("latency_p50_ns"), 1e-6),
                     _fmt(rec.get("latency_p90_ns"), 1e-6), _fmt(rec.get("throughput_per_s"), 1, 1),
                     _fmt(util, 100, 1) + ("%" if util is not None else ""), _fmt(rec.get("power_w"), 1, 1),
                     str(rec.get("power_source", "-")), _fmt(r.sampled_power_w, 1, 1),
                     _fmt(rec.get("energy_per_inference_j"), 1, 4), "ok" if r.ok else f"FAILED: {r.error}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    for note in notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the script itself")
    parser.add_argument("--budget-s", type=float, default=450.0, help="overall wall budget, seconds")
    parser.add_argument("--time-limit", type=float, default=None, help="bench --time-limit per config, seconds")
    parser.add_argument("--json-out", default=None, help="also write all records here")
    args = parser.parse_args(argv)
    per_config_limit = args.time_limit if args.time_limit is not None else (1.0 if args.dry_run else 5.0)

    started = time.monotonic()
    paths, notes = installed_paths(args.dry_run)
    configs = plan(paths, args.dry_run)
    sampler = PowerSampler()
    if not args.dry_run and not sampler.available:
        notes.append("no NVML/nvidia-smi: sampled power unavailable")
    print(f"gpu_check: {len(configs)} configs over {', '.join(paths) or 'no GPU path'}; budget {args.budget_s:.0f} s",
          flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        db = os.path.join(tmp, "gpu_check.db")
        for i, cfg in enumerate(configs):
            left = args.budget_s - (time.monotonic() - started)
            if left < 20:
                notes.append(f"budget reached: skipped {len(configs) - i} configs from {cfg.path} "
                             f"{cfg.resolution} b{cfg.batch} {cfg.precision} on")
                break
            timeout = min(left - 5, 150.0 if cfg.device == "tensorrt" else 90.0)
            result = run_config(cfg, per_config_limit, timeout, sampler, db)
            results.append(result)
            status = "ok" if result.ok else f"FAILED ({result.error})"
            print(f"[{i + 1}/{len(configs)}] {cfg.path} {cfg.resolution} b{cfg.batch} {cfg.precision}: "
                  f"{status} in {result.wall_s:.0f} s", flush=True)
    print()
    print_table(results, notes)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump([{"config": vars(r.config), "ok": r.ok, "error": r.error, "wall_s": r.wall_s,
                        "sampled_power_w": r.sampled_power_w, "sampled_power_max_w": r.sampled_power_max_w,
                        "record": {k: v for k, v in r.record.items() if k != "latency_ns"}} for r in results],
                      fh, indent=1, default=str)
    print(f"total wall {time.monotonic() - started:.0f} s")
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
