"""How good are accelbench's projections? One table, one run.

1. Published: MLPerf Inference ResNet-50 v1.5 INT8 (tests/data/published/mlperf_resnet50.toml),
   projected with the shipped device parameters (no calibration).
2. Measured: this host's CPU, ONNX Runtime FP32 batch 1 (`accelbench bench`, quick mode), for
   ResNet-50 at 224 and 2 MP and YOLOv3 at 416 and 1 MP; projected from the host's detected specs
   (a) uncalibrated and (b) calibrated leave-one-out (fitted on the other three measurements, so
   the calibrated error is out of sample).

Usage: python benchmarks/projection_accuracy.py [--db PATH] [--time-limit S] [--skip-bench]
With --skip-bench the ok CPU records already in --db are used. Timing on a shared machine is
noisy (+/-20 %); say so when quoting these figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "tests" / "data" / "published" / "mlperf_resnet50.toml"
HOST_CASES = (("resnet50", "224"), ("resnet50", "2mp"), ("yolov3", "416"), ("yolov3", "1mp"))


def bench(db: str, model: str, resolution: str, time_limit: float) -> None:
    cmd = [sys.executable, "-m", "accelbench", "bench", model, "--resolution", resolution, "--precision", "fp32",
           "--backend", "onnxruntime", "--mode", "quick", "--time-limit", str(time_limit), "--db", db]
    print("running:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="results store (default: a temporary file)")
    ap.add_argument("--time-limit", type=float, default=15.0, help="quick-mode cap per bench, seconds")
    ap.add_argument("--skip-bench", action="store_true", help="use the records already in --db")
    args = ap.parse_args()

    from accelbench.projection.api import projection_device
    from accelbench.projection.api import device_params, load_profile
    from accelbench.projection.calibrate import fit_params
    from accelbench.projection.model import project_batch
    from accelbench.projection.validation import (Comparison, compare_published, format_comparison_table,
                                                  load_published, median_abs_error)

    published = load_published(PUBLISHED)
    profile = load_profile(published.model, resolution=published.resolution, precision=published.precision)
    rows_pub = compare_published(published, profile, use_calibration=False)

    db = args.db or os.path.join(tempfile.mkdtemp(prefix="accelbench-proj-"), "accuracy.db")
    if not args.skip_bench:
        for model, res in HOST_CASES:
            bench(db, model, res, args.time_limit)

    from accelbench.cli.project import records_to_points
    from accelbench.results.store import ResultStore

    host = projection_device("host")
    with ResultStore(db) as store:
        records = [r for r in store.query(status="ok") if r.config.backend == "onnxruntime"
                   and (r.config.model, r.config.resolution) in set(HOST_CASES)]
    points = records_to_points(records, host)
    base, _ = device_params(host, use_calibration=False)
    rows_unc, rows_cal = [], []
    for i, point in enumerate(points):
        uncal = project_batch(point.profile, host, base, point.batch).time_s
        rows_unc.append(Comparison("host", "single-stream", "measured (uncalibrated)", "latency_s",
                                   point.latency_s, uncal, point.label))
        others = points[:i] + points[i + 1:]
        if others:
            fit = fit_params(others, host, base)
            cal = project_batch(point.profile, host, replace(base, **fit.values), point.batch).time_s
            rows_cal.append(Comparison("host", "single-stream", "measured (cal., LOO)", "latency_s",
                                       point.latency_s, cal, point.label))

    print(f"\nhost: {host.name}; peak fp32 {host.peak_ops_per_s.get('fp32', float('nan')) / 1e9:.0f} GFLOP/s "
          f"(theoretical); measurements in {db}\n")
    print("Published (MLPerf ResNet-50 v1.5, INT8), shipped parameters:")
    print(format_comparison_table(rows_pub))
    print("\nThis host (ONNX Runtime FP32, batch 1), labels:", "; ".join(p.label for p in points))
    print(format_comparison_table(rows_unc + rows_cal))
    print(f"\nmedian |error|: published {median_abs_error(rows_pub):.1%}; host uncalibrated "
          f"{median_abs_error(rows_unc):.1%}; host calibrated (leave-one-out) {median_abs_error(rows_cal):.1%}")
    if points:
        fit_all = fit_params(points, host, base)
        print("host fit on all points:", ", ".join(f"{k} = {v:.4g}" for k, v in fit_all.values.items()),
              f"(in-sample median |error| {fit_all.median_abs_error_after:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
