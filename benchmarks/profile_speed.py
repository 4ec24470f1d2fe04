"""How fast is `accelbench profile`, and how much memory does it take, next to onnx-tool?

Cases: YOLOv3 at 4 MP (2688x1536) and ResNet-50 at 2 MP (1920x1088), batch 1.
- accelbench zoo:  build the weightless zoo graph + profile (what `accelbench profile yolov3 -r 4mp` does).
- accelbench file: load the same model saved as ONNX with random weights (+ checker) + profile; the loader
  skips the weight bytes in the file (models/onnx_reader.py), as `accelbench profile FILE.onnx` does.
- onnx-tool file:  onnx_tool.model_profile on that same saved file (shape inference + profile + table).
Each case runs in its own subprocess: time = median of --runs in-process repetitions; peak RSS is the
child's peak resident set, VmHWM (the whole process: interpreter and imports included). onnx-tool is optional
(`pip install onnx-tool`); without it its rows say "skip".

    python benchmarks/profile_speed.py [--runs 5] [--onnx-tool-runs 1]

Goal (issue 2): YOLOv3 at 4 MP in < 1 s and < 300 MB, at least 5x faster than onnx-tool.
Timings on a shared or busy machine are noisy; rerun before trusting a small difference.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CASES = (("yolov3", "4mp"), ("resnet50", "2mp"))


def _child(kind: str, model: str, resolution: str, path: str, runs: int) -> dict:
    times, macs = [], None
    if kind == "onnx-tool":
        try:
            import onnx_tool
        except ImportError:
            return {"skip": "onnx-tool not installed"}
        out_csv = os.path.join(os.path.dirname(path), "onnx_tool_profile.csv")
        for _ in range(runs):
            start = time.perf_counter()
            onnx_tool.model_profile(path, save_profile=out_csv)
            times.append(time.perf_counter() - start)
    else:
        from accelbench.models.loader import load_model
        from accelbench.profile import profile_model

        for _ in range(runs):
            start = time.perf_counter()
            if kind == "zoo":
                loaded = load_model(model, resolution=resolution, with_weights=False)
            else:
                loaded = load_model(path, with_weights=False)
            profile = profile_model(loaded, "fp32")
            times.append(time.perf_counter() - start)
            macs = profile.macs
            del loaded, profile  # one model in memory at a time, as in a CLI call
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": runs, "rss_mb": _peak_rss_mb(),
            "macs": macs}


def _peak_rss_mb() -> float:
    # VmHWM restarts at exec; ru_maxrss would carry the parent's peak (the parent saved a 250 MB model).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(kind, model, resolution, path, runs, timeout_s=600) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, model, resolution, path, str(runs)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"skip": f"timed out after {timeout_s} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"skip": f"failed: {last[:100]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _save(model: str, resolution: str, directory: str) -> str:
    from accelbench.models.loader import load_model
    import onnx

    path = os.path.join(directory, f"{model}_{resolution}.onnx")
    onnx.save(load_model(model, resolution=resolution, with_weights=True).proto, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--onnx-tool-runs", type=int, default=1)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, model, resolution, path, runs = args.child
        print(json.dumps(_child(kind, model, resolution, path, int(runs))))
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="accelbench-bench-") as tmp:
        for model, resolution in CASES:
            path = _save(model, resolution, tmp)
            size_mb = os.path.getsize(path) / 1e6
            results = {
                "accelbench zoo": _run_child("zoo", model, resolution, path, args.runs),
                "accelbench file": _run_child("file", model, resolution, path, args.runs),
                "onnx-tool file": _run_child("onnx-tool", model, resolution, path, args.onnx_tool_runs),
            }
            os.remove(path)
            rows.append((f"{model}@{resolution}", size_mb, results))

    print(f"{'model':18} {'tool':16} {'median s':>9} {'peak RSS MB':>12} {'x faster than onnx-tool':>24}")
    for label, size_mb, results in rows:
        ref = results["onnx-tool file"].get("median_s")
        for tool, r in results.items():
            if "skip" in r:
                print(f"{label:18} {tool:16} {'skip':>9} {'':>12} {r['skip']:>24}")
                continue
            ratio = f"{ref / r['median_s']:.1f}x" if ref and tool != "onnx-tool file" else ""
            print(f"{label:18} {tool:16} {r['median_s']:9.3f} {r['rss_mb']:12.0f} {ratio:>24}")
        print(f"{'':18} (saved ONNX file: {size_mb:.0f} MB)")
    yolo = rows[0][2]["accelbench zoo"]
    if "median_s" in yolo:
        ok = yolo["median_s"] < 1.0 and yolo["rss_mb"] < 300
        print(f"goal YOLOv3@4mp < 1 s and < 300 MB (zoo path): {'met' if ok else 'NOT met'}")
    saved, tool = rows[0][2]["accelbench file"], rows[0][2]["onnx-tool file"]
    if "median_s" in saved and "median_s" in tool:
        ok = saved["median_s"] < 1.0 and saved["rss_mb"] < 300 and tool["median_s"] >= 5 * saved["median_s"]
        print(f"goal YOLOv3@4mp saved file < 1 s, < 300 MB, >= 5x onnx-tool: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
