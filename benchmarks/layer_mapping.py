"""Measured per-layer time on this host (issue 12): how much of a runtime's time maps to the profile's
layers, what collecting layers costs, and how far the per-layer projection is off, per layer and
per op kind. With ``--zoo``, the zoo figures of the issue's note too.

1. Layers (default): ResNet-50 at 224 and YOLOv3 at 1 MP, batch 1, single-stream, on ONNX Runtime
   and OpenVINO at FP32 and INT8 (``--backends``, ``--precisions``). Each case is one
   ``accelbench bench --layers`` measurement (isolated child process): the timed runs, then a
   profiling pass of ``--runs`` runs. Printed per case: the timed and the profiled p50 (overhead),
   how long the pass took, the share of the profiler's node time mapped to layers and the node
   time's share of a profiled run's wall time, the unmapped nodes, and the projection onto this host
   against the measurement: median |projected / measured - 1| over the measured layers, the total
   error, and per op kind. Uses a saved host calibration when there is one (says which).
   Then whether ``calibrate`` should use per-op-kind errors: per backend and precision, relative
   factors per op kind (measured / projected over the kind's layers, divided by the same ratio
   over all layers, so the global calibration keeps the total) are fitted on one model and applied
   to the other's layers (leave one model out); printed: the median per-layer |error| and the
   whole-model error before and after.
2. ``--zoo``: every zoo model's parameters, MACs and layers at its default size; and the self-match
   of ``models closest``: each zoo model profiled at another size than its default, the zoo model
   closest to it (itself, at distance 0, is the answer) and the margin to the runner-up.

Usage: python benchmarks/layer_mapping.py [--backends onnxruntime,openvino] [--precisions fp32,int8]
           [--runs 20] [--time-limit 10] [--db PATH] [--tiny] [--zoo] [--json OUT]
Timing: run it on a quiet machine (``--tiny``: small sizes, to check that it works).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

CASES = (("resnet50", "224"), ("yolov3", "1mp"))
TINY_CASES = (("resnet50", "64"), ("yolov3", "128x96"))
SELF_MATCH_SIZES = {"image": "320x192", "sequence": "96"}


def layer_case(model: str, resolution: str, backend: str, precision: str, runs: int, time_limit_s: float,
               store) -> dict:
    from accelbench.measure.runner import run_config
    from accelbench.projection.layer_errors import layer_measurement, record_profile
    from accelbench.results.records import BenchConfig, new_run_id

    config = BenchConfig(model=model, resolution=resolution, backend=backend, precision=precision,
                         time_limit_s=time_limit_s)
    record = run_config(config, run_id=new_run_id(), layer_runs=runs)
    store.save(record)
    case = {"model": model, "resolution": resolution, "backend": backend, "precision": precision,
            "record_id": record.record_id, "status": record.status}
    if not record.ok or record.layer_times is None:
        case["error"] = record.error or "; ".join(record.notes)
        return case
    times = record.layer_times
    measurement = layer_measurement(record, record_profile(record))
    errors = [p.projected_s / p.measured_s - 1 for p in measurement.points]
    case.update({
        "precision_executed": record.precision_executed,
        "timed_p50_ms": record.stats.p50_ns / 1e6, "profiled_p50_ms": times.profiled_p50_ns / 1e6,
        "overhead": record.layer_profiling_overhead, "pass_s": times.collect_wall_ns / 1e9,
        "mapped_share": times.mapped_share, "node_share_of_wall": times.kernel_share_of_wall,
        "unmapped_ms": times.unmapped_ns / 1e6,
        "unmapped": [(n.name, n.op_type, n.time_ns / 1e6) for n in sorted(times.unmapped, key=lambda n: -n.time_ns)],
        "layers_measured": len(measurement.points),
        "median_abs_layer_error": statistics.median(abs(e) for e in errors) if errors else None,
        "total_error": (sum(p.projected_s for p in measurement.points) / sum(p.measured_s for p in measurement.points)
                        - 1) if measurement.points else None,
        "kinds": [{"kind": k.kind, "layers": k.layers, "measured_ms": k.measured_s * 1e3,
                   "projected_ms": k.projected_s * 1e3, "error": k.error} for k in measurement.kinds],
        "points": [(p.kind, p.measured_s, p.projected_s) for p in measurement.points],
    })
    return case


def kind_factors(points) -> dict[str, float]:
    """Per op kind: (measured / projected over its layers) / (the same over all layers)."""
    total = sum(m for _, m, _ in points) / sum(p for _, _, p in points)
    sums: dict[str, list[float]] = {}
    for kind, m, p in points:
        acc = sums.setdefault(kind, [0.0, 0.0])
        acc[0] += m
        acc[1] += p
    return {kind: (m / p) / total for kind, (m, p) in sums.items() if p > 0}


def per_kind_check(cases: list[dict]) -> list[dict]:
    """Leave one model out: factors fitted on one case's layers, applied to another's (same backend and
    precision); the per-layer and whole-model errors before and after."""
    rows = []
    done = [c for c in cases if "points" in c]
    for held in done:
        others = [c for c in done if c is not held and (c["backend"], c["precision"]) == (held["backend"], held["precision"])]
        if not others:
            continue
        factors = kind_factors([pt for c in others for pt in c["points"]])
        before = [p / m - 1 for _, m, p in held["points"]]
        after = [p * factors.get(kind, 1.0) / m - 1 for kind, m, p in held["points"]]
        measured = sum(m for _, m, _ in held["points"])
        rows.append({"model": held["model"], "backend": held["backend"], "precision": held["precision"],
                     "fitted_on": [c["model"] for c in others], "factors": factors,
                     "median_abs_layer_error_before": statistics.median(abs(e) for e in before),
                     "median_abs_layer_error_after": statistics.median(abs(e) for e in after),
                     "total_error_before": sum(p for _, _, p in held["points"]) / measured - 1,
                     "total_error_after": sum(p * factors.get(k, 1.0) for k, _, p in held["points"]) / measured - 1})
    return rows


def print_per_kind(rows: list[dict]) -> None:
    if not rows:
        return
    print("\nPer-op-kind correction, leave one model out (calibrate would keep it only where 'after' is better)")
    for r in rows:
        factors = ", ".join(f"{k} x{v:.2f}" for k, v in sorted(r["factors"].items()))
        print(f"  {r['model']:<9} {r['backend']:<11} {r['precision']:<5} factors from {'+'.join(r['fitted_on'])}: {factors}")
        print(f"    median |error| per layer {r['median_abs_layer_error_before']:.0%} -> "
              f"{r['median_abs_layer_error_after']:.0%}; whole model {r['total_error_before']:+.0%} -> "
              f"{r['total_error_after']:+.0%}")


def print_case(case: dict) -> None:
    head = f"{case['model']} @ {case['resolution']}, {case['backend']} {case['precision']}"
    if "error" in case:
        print(f"\n{head}: FAILED ({case['error']})")
        return
    print(f"\n{head} (ran {case['precision_executed']}), record {case['record_id'][:8]}")
    print(f"  timed p50 {case['timed_p50_ms']:.3f} ms, profiled p50 {case['profiled_p50_ms']:.3f} ms"
          f" (overhead {case['overhead']:+.1%}); the profiling pass took {case['pass_s']:.1f} s")
    print(f"  mapped to layers: {case['mapped_share']:.2%} of the profiler's node time; node time is"
          f" {case['node_share_of_wall']:.0%} of a profiled run's wall time; unmapped {case['unmapped_ms']:.3f} ms"
          f" in {len(case['unmapped'])} nodes")
    for name, op, ms in case["unmapped"][:5]:
        print(f"    unmapped {name} ({op}): {ms:.3f} ms")
    print(f"  projection vs measurement over {case['layers_measured']} measured layers: median |error| per layer"
          f" {case['median_abs_layer_error']:.0%}, total {case['total_error']:+.0%}")
    for k in case["kinds"]:
        error = "n/a" if k["error"] is None else f"{k['error']:+.0%}"
        print(f"    {k['kind']:<10} {k['layers']:>4} layers  measured {k['measured_ms']:9.3f} ms"
              f"  projected {k['projected_ms']:9.3f} ms  error {error}")


def zoo_figures() -> dict:
    from accelbench.models.loader import load_model
    from accelbench.models.registry import zoo_models
    from accelbench.models.similarity import closest_zoo_models
    from accelbench.profile import profile_model

    table, matches = [], []
    for zoo in zoo_models():
        profile = profile_model(load_model(zoo.name, with_weights=False))
        table.append({"model": zoo.name, "resolution": zoo.default_resolution, "params": profile.params,
                      "macs": profile.macs, "layers": profile.layer_count, "kind": profile.network_kind})
        size = SELF_MATCH_SIZES[zoo.size_kind]
        try:
            other = profile_model(load_model(zoo.name, resolution=size, with_weights=False))
        except Exception as exc:  # noqa: BLE001 - a model that does not take the size: say so
            matches.append({"model": zoo.name, "size": size, "error": str(exc).splitlines()[0]})
            continue
        first, second = closest_zoo_models(other, limit=2)
        matches.append({"model": zoo.name, "size": size, "first": first.model, "distance": first.distance,
                        "runner_up": second.model, "margin": second.distance})
    return {"zoo": table, "self_match": matches}


def print_zoo(figures: dict) -> None:
    print("\nZoo (default sizes)")
    print(f"{'model':<22} {'size':>10} {'parameters':>13} {'MACs':>17} {'layers':>7}  kind")
    for row in figures["zoo"]:
        print(f"{row['model']:<22} {row['resolution']:>10} {row['params']:>13,} {row['macs']:>17,} {row['layers']:>7}"
              f"  {row['kind']}")
    print("\nmodels closest, self-match (each zoo model at another size)")
    for m in figures["self_match"]:
        if "error" in m:
            print(f"  {m['model']:<22} @ {m['size']}: {m['error']}")
            continue
        ok = "ok" if m["first"] == m["model"] else "MISMATCH"
        print(f"  {m['model']:<22} @ {m['size']:>8}: closest {m['first']} (distance {m['distance']:.3g}),"
              f" runner-up {m['runner_up']} at {m['margin']:.2f}  {ok}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="onnxruntime,openvino")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--runs", type=int, default=20, help="profiled runs per case")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds of timed runs per case")
    parser.add_argument("--db", default=None, help="keep the records here (default: a temporary store)")
    parser.add_argument("--tiny", action="store_true", help="small sizes: check that the script works")
    parser.add_argument("--zoo", action="store_true", help="also the zoo table and the closest self-match")
    parser.add_argument("--no-layers", action="store_true", help="only the zoo figures")
    parser.add_argument("--json", default=None, help="write every figure to this JSON file")
    args = parser.parse_args(argv)

    from accelbench.projection.calibrate import calibration_path
    from accelbench.results.store import open_store

    out: dict = {"cases": []}
    if not args.no_layers:
        path = Path(calibration_path())
        print(f"projection of this host: {'calibrated (' + str(path) + ')' if path.exists() else 'uncalibrated'}")
        with tempfile.TemporaryDirectory() as tmp, open_store(args.db or str(Path(tmp) / "layers.db")) as store:
            for model, resolution in TINY_CASES if args.tiny else CASES:
                for backend in args.backends.split(","):
                    for precision in args.precisions.split(","):
                        case = layer_case(model, resolution, backend.strip(), precision.strip(), args.runs,
                                          args.time_limit, store)
                        print_case(case)
                        out["cases"].append(case)
        out["per_kind"] = per_kind_check(out["cases"])
        print_per_kind(out["per_kind"])
    if args.zoo or args.no_layers:
        figures = zoo_figures()
        print_zoo(figures)
        out.update(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
