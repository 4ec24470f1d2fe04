"""accelbench's OpenVINO throughput vs OpenVINO's own benchmark_app on the same model file, precision,
threads, batch and hint. Goal: within 5 %.

Both sides: synchronous API, one stream (accelbench: PERFORMANCE_HINT latency; benchmark_app: -hint none
-nstreams 1, since its UI refuses -nthreads with a hint), INFERENCE_PRECISION_HINT f32,
INFERENCE_NUM_THREADS = --threads, the same static-shape ONNX file, --seconds each.
accelbench side: its OpenVINO backend, run() in a loop; throughput = batch * runs / wall.
Usage: python benchmarks/vs_native.py [--model resnet50] [--resolution 224] [--batch 1] [--threads 2] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import onnx


def accelbench_throughput(path: str, batch: int, threads: int, seconds: float, precision: str) -> tuple[float, str]:
    from accelbench.backends.base import BackendConfig, get_backend

    backend = get_backend("openvino")(BackendConfig(precision=precision, threads=threads, batch=batch))
    backend.load(path)
    inputs = backend.prepare_inputs(0)
    for _ in range(5):
        backend.run(inputs)
    runs = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        backend.run(inputs)
        runs += 1
    wall = time.perf_counter() - start
    info = backend.describe()
    return batch * runs / wall, f"{info.precision_executed} ({info.precision_source}), {info.threads} threads"


def benchmark_app_throughput(path: str, threads: int, seconds: float, precision: str) -> tuple[float, str]:
    exe = shutil.which("benchmark_app") or os.path.join(os.path.dirname(sys.executable), "benchmark_app")
    hint = {"fp32": "f32", "bf16": "bf16"}[precision]
    cmd = [exe, "-m", path, "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync", "-nthreads", str(threads),
           "-infer_precision", hint, "-t", str(int(seconds))]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 6 + 120)
    match = re.search(r"Throughput:\s+([\d.]+)\s+FPS", out.stdout)
    if not match:
        raise SystemExit(f"benchmark_app printed no throughput (exit {out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return float(match.group(1)), " ".join(cmd[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--resolution", default="224")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = parser.parse_args()

    from accelbench.models.loader import load_model

    loaded = load_model(args.model, resolution=args.resolution, batch=args.batch)
    with tempfile.TemporaryDirectory(prefix="vs-native-") as tmp:
        path = os.path.join(tmp, f"{loaded.name}.onnx")
        onnx.save(loaded.proto, path)
        # Alternate the two sides (ours, native, ours, native, ...) so load drift on a shared
        # machine hits both; report the median of each side's rounds.
        ours_runs, native_runs = [], []
        for _ in range(args.rounds):
            tput, ours_note = accelbench_throughput(path, args.batch, args.threads, args.seconds, args.precision)
            ours_runs.append(tput)
            tput, native_cmd = benchmark_app_throughput(path, args.threads, args.seconds, args.precision)
            native_runs.append(tput)
    ours, native = statistics.median(ours_runs), statistics.median(native_runs)
    print("rounds accelbench:", ", ".join(f"{t:.2f}" for t in ours_runs),
          "| benchmark_app:", ", ".join(f"{t:.2f}" for t in native_runs))
    ratio = ours / native
    print(f"model {loaded.name} @ {args.resolution}, batch {args.batch}, {args.precision}, {args.threads} threads, "
          f"{args.seconds:g} s per round (sync API, one stream)")
    print(f"accelbench openvino : {ours:9.2f} inferences/s   [{ours_note}]")
    print(f"benchmark_app       : {native:9.2f} inferences/s   [benchmark_app {native_cmd}]")
    print(f"ratio accelbench/benchmark_app: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %; goal within 5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
