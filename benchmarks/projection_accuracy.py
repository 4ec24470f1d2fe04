"""How good are accelbench's projections? In sample, leave one device out, and with intervals.

1. Published (default; pure computation, no timing): the MLPerf Inference table
   (tests/data/published/mlperf_inference.toml: ResNet-50, RetinaNet, BERT-Large on seven NVIDIA GPUs).
   Per model and scenario: the in-sample error (family figures fitted on every row) and the
   leave-one-device-out error (each device projected with every figure refitted without its rows),
   median |error| and the worst factor; then the coverage of the 80 % intervals, each built from the
   other devices' leave-one-device-out residuals. ``--write`` stores the fitted family figures in
   projection/device_params.toml and the residuals in projection/lodo_residuals.toml.
2. ``--host``: this host's CPU, ONNX Runtime FP32 batch 1 (`accelbench bench`, quick mode), for
   ResNet-50 at 224 and 2 MP and YOLOv3 at 416 and 1 MP: uncalibrated, calibrated
   leave-one-measurement-out (calibrate.leave_one_out), and calibrated on the other model's records
   only (projection/measured.py: what `project --device host` does with a store). Timing: run it on a
   quiet machine.

3. ``--overhead``: the per-layer overhead each SingleStream row needs, by MLPerf round (docs/projection.md,
   "SingleStream, looked at again").

Every published report ends with ablations: the same fit and validation without each structural term
(per-layer overhead in clock cycles; RetinaNet's NMS post-processing), and with the Offline
post-processing term that was tried and not kept.

Usage: python benchmarks/projection_accuracy.py [--write] [--rows] [--overhead] [--host [--db PATH] [--time-limit S] [--skip-bench]]
Goal (issue 11): leave-one-device-out median |error| <= 20 % and every figure within a factor of 1.6.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "published" / "mlperf_inference.toml"
HOST_CASES = (("resnet50", "224"), ("resnet50", "2mp"), ("yolov3", "416"), ("yolov3", "1mp"))
GOAL_MEDIAN, GOAL_FACTOR = 0.20, 1.6


def published_report(write: bool, show_rows: bool) -> int:
    from accelbench.projection.family_fit import (PublishedFitter, family_members, median_abs_error,
                                                  render_params_file, render_residuals, residuals_from,
                                                  worst_factor)
    from accelbench.projection.intervals import RESIDUALS_FILE, coverage
    from accelbench.projection.params import PARAMS_FILE
    from accelbench.projection.published import load_published_table

    table = load_published_table(TABLE)
    fitter = PublishedFitter(table)
    fit, in_sample = fitter.in_sample()
    lodo, _ = fitter.leave_one_device_out()
    chains = {d: p.family_chain for d, p in fitter.base.items()}
    residuals = residuals_from(lodo, chains)
    cov = coverage(residuals)

    print(f"Published: {TABLE.relative_to(ROOT)} ({len(table.rows)} rows, {len(table.devices)} devices)")
    print("Family figures fitted in sample:")
    for family, values in fit.values.items():
        print(f"  {family:<20} rows {fit.rows_per_family[family]:>2}: compute_efficiency {values['compute_efficiency']:.3g},"
              f" dram_efficiency {values['dram_efficiency']:.3g}, layer_overhead_s {values['layer_overhead_s'] * 1e6:.3g} us")
    for (model, scenario), share in sorted(fit.work_share.items()):
        print(f"  work share {model} {scenario}: {share:.3f} of the padded graph (variable sequence length)")
    for (name, scenario), seconds in sorted(fit.postprocess_s.items()):
        print(f"  post-processing {name} {scenario}: {seconds * 1e3:.3g} ms per sample at the overhead reference clock")

    head = f"{'model':<11} {'scenario':<14} {'rows':>4} {'in-sample med':>13} {'worst':>6} {'LODO med':>9} {'worst':>6} {'80% cover':>9}"
    print("\n" + head + "\n" + "-" * len(head))
    groups = sorted({(r.row.model, r.row.scenario) for r in in_sample}, key=lambda k: (list(table.workloads).index(k[0]), k[1]))
    for model, scenario in groups + [("all", "")]:
        pick = [i for i, r in enumerate(lodo) if model == "all" or (r.row.model, r.row.scenario) == (model, scenario)]
        ins = [r for r in in_sample if model == "all" or (r.row.model, r.row.scenario) == (model, scenario)]
        out = [lodo[i] for i in pick]
        covered = sum(cov.inside[i] for i in pick)
        print(f"{model:<11} {scenario:<14} {len(out):>4} {median_abs_error(ins):>13.1%} {max(r.factor for r in ins):>6.2f}"
              f" {median_abs_error(out):>9.1%} {worst_factor(out):>6.2f} {covered:>4}/{len(out):<4}")
    print(f"\nleave-one-device-out: median |error| {median_abs_error(lodo):.1%} (goal <= {GOAL_MEDIAN:.0%}),"
          f" worst factor {worst_factor(lodo):.2f} (goal <= {GOAL_FACTOR}); "
          f"80 % interval coverage {cov.covered}/{cov.total} = {cov.share:.0%}")
    ablations(table)
    if show_rows:
        print(f"\n{'model':<11} {'device':<16} {'scenario':<14} {'published':>11} {'in-sample':>9} {'LODO':>8}"
              f" {'LODO family':<19} {'80% band (published/projected)':<28}")
        for i, (a, b) in enumerate(zip(in_sample, lodo)):
            band = cov.bands[i]
            value = f"{a.row.value:,.1f}/s" if a.row.scenario == "offline" else f"{a.row.value * 1e3:.3f} ms"
            rng = f"{band.time_factor_low:.2f}..{band.time_factor_high:.2f} x time" if band else "-"
            print(f"{a.row.model:<11} {a.row.device:<16} {a.row.scenario:<14} {value:>11} {a.error:>+9.0%} {b.error:>+8.0%}"
                  f" {b.fitted_family or 'defaults':<19} {rng:<24} {'in' if cov.inside[i] else 'OUT'}")
    if write:
        text = PARAMS_FILE.read_text(encoding="utf-8")
        PARAMS_FILE.write_text(render_params_file(text, fit, family_members(fitter)), encoding="utf-8")
        RESIDUALS_FILE.write_text(render_residuals(lodo, fit, chains, str(TABLE.relative_to(ROOT))), encoding="utf-8")
        print(f"\nwrote {PARAMS_FILE.relative_to(ROOT)} and {RESIDUALS_FILE.relative_to(ROOT)}")
    return 0


def ablations(table) -> None:
    """What each structural term buys: the same fit and leave-one-device-out validation without it."""
    from dataclasses import replace

    from accelbench.projection.family_fit import PublishedFitter, median_abs_error, residuals_from, worst_factor
    from accelbench.projection.intervals import coverage
    from accelbench.projection.params import load_params_file

    params = load_params_file()
    in_seconds = replace(params, families={name: {k: v for k, v in t.items() if k != "overhead_clock_hz"}
                                           for name, t in params.families.items()})
    print("\nwithout a term, or with one more (same table, same fit):")
    for label, fitter in (("per-layer overhead in seconds, not clock cycles", PublishedFitter(table, in_seconds)),
                          ("post-processing in Offline too (per sample)",
                           PublishedFitter(table, postprocess_scenarios=("single-stream", "offline"))),
                          ("no RetinaNet post-processing (network alone)", PublishedFitter(table, model_postprocess=False)),
                          ("neither", PublishedFitter(table, in_seconds, model_postprocess=False))):
        _, ins = fitter.in_sample()
        lodo, _ = fitter.leave_one_device_out()
        worst = max(lodo, key=lambda r: r.factor)
        cov = coverage(residuals_from(lodo, {d: p.family_chain for d, p in fitter.base.items()}))
        print(f"  {label:<50} in-sample {median_abs_error(ins):.1%} / {worst_factor(ins):.2f};"
              f" LODO {median_abs_error(lodo):.1%} / {worst_factor(lodo):.2f}"
              f" (worst: {worst.row.model} {worst.row.scenario} on {worst.row.device}); 80 % cover {cov.covered}/{cov.total}")
        if "Offline too" in label:
            figures = fitter.fit().values
            print(f"  {'':<50} (its compute efficiencies: " + ", ".join(
                f"{name} {v['compute_efficiency']:.2f}" for name, v in figures.items()) + ")")


def overhead_report() -> int:
    """SingleStream, looked at once more: the per-layer overhead each published row needs, with the
    root family's compute and DRAM efficiencies, beside the MLPerf round (the TensorRT release) it ran
    in. Is there a term that does not belong to one device and would predict the held-out rows?"""
    import re

    import numpy as np

    from accelbench.projection.family_fit import PublishedFitter
    from accelbench.projection.params import FITTED_FIELDS
    from accelbench.projection.published import load_published_table

    fitter = PublishedFitter(load_published_table(TABLE))
    fit = fitter.fit()
    ce, de, o = (fit.values["nvidia_tensor_core"][k] for k in FITTED_FIELDS)
    print(f"\nSingleStream rows: per-layer overhead needed to match the published p90, with the root family's"
          f" compute efficiency {ce:.3g} and DRAM efficiency {de:.3g} (fitted: {o * 1e6:.3g} us at the reference"
          f" clock); RetinaNet rows after their fitted post-processing time; 'needed' is at the reference clock")
    print(f"{'device':<16} {'model':<11} {'round':<6} {'published':>10} {'layers w/o overhead':>20} {'layers':>6} {'needed':>9}")
    rows = []  # (device, model, round as a number, published s, body s, layers, needed s)
    for t in fitter.terms:
        if t.row.scenario != "single-stream":
            continue
        share = fit.work_share.get((t.row.model, t.row.scenario), 1.0)
        body = float(np.maximum(np.maximum(t.compute / ce, t.sram), t.dram / de).sum())
        body += fit.postprocess_s.get((t.row.postprocess, t.row.scenario), 0.0) * t.overhead_scale
        needed = (t.row.time_s / share - body) / t.layers
        found = re.search(r"v(\d+\.\d+)", t.row.system)
        rows.append((t.row.device, t.row.model, float(found.group(1)) if found else float("nan"),
                     t.row.time_s / share, body, t.layers, needed))
        print(f"{t.row.device:<16} {t.row.model:<11} {'v' + found.group(1) if found else '?':<6} {t.row.time_s * 1e3:>7.3f} ms"
              f" {body * 1e3:>17.3f} ms {round(t.layers / t.overhead_scale):>6} {needed * 1e6:>6.1f} us")
    # a software trend: log(overhead) linear in the round, fitted without the held-out device
    for label, keep in (("every SingleStream row", lambda r: True),
                        ("without RetinaNet v2.1", lambda r: not (r[1] == "retinanet" and r[2] == 2.1))):
        factors = []
        for device in dict.fromkeys(r[0] for r in rows):
            train = [r for r in rows if r[0] != device and keep(r) and r[6] > 0]
            slope, intercept = np.polyfit([r[2] for r in train], np.log([r[6] for r in train]), 1)
            for r in (r for r in rows if r[0] == device and r[1] == "resnet50"):
                projected = r[4] + r[5] * math.exp(intercept + slope * r[2])
                factors.append((device, projected / r[3]))
        print(f"trend in the round ({label}), leave one device out, ResNet-50 SingleStream projected / published: "
              + ", ".join(f"{d} {f:.2f}" for d, f in factors))
    return 0


def bench(db: str, model: str, resolution: str, time_limit: float) -> None:
    cmd = [sys.executable, "-m", "accelbench", "bench", model, "--resolution", resolution, "--precision", "fp32",
           "--backend", "onnxruntime", "--mode", "quick", "--time-limit", str(time_limit), "--db", db]
    print("running:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def host_report(db_arg: str | None, time_limit: float, skip_bench: bool) -> int:
    from accelbench.projection.api import device_params, projection_device
    from accelbench.projection.calibrate import fit_params, leave_one_out
    from accelbench.projection.model import project_batch
    from accelbench.projection.validation import Comparison, format_comparison_table, median_abs_error
    from accelbench.results.store import open_store

    db = db_arg or os.path.join(tempfile.mkdtemp(prefix="accelbench-proj-"), "accuracy.db")
    if not skip_bench:
        for model, res in HOST_CASES:
            bench(db, model, res, time_limit)

    from accelbench.projection.measured import calibration_from_records, select_points
    from accelbench.results.store import open_store

    host = projection_device("host")
    with open_store(db, read_only=True) as store:
        records = [r for r in store.query(status="ok") if r.config.backend == "onnxruntime"
                   and (r.config.model, r.config.resolution) in set(HOST_CASES)]
    points = list(select_points(records, host).points)
    base, _ = device_params(host, use_calibration=False)
    rows_unc = [Comparison("host", "single-stream", "measured (uncalibrated)", "latency_s", p.latency_s,
                           project_batch(p.profile, host, base, p.batch).time_s, p.label) for p in points]
    rows_cal = []
    if len(points) >= 2:
        loo = leave_one_out(points, host, base)
        rows_cal = [Comparison("host", "single-stream", "measured (cal., LOO)", "latency_s", m, p, lab)
                    for lab, m, p in zip(loo.labels, loo.measured_s, loo.projected_s)]
    # what `accelbench project MODEL --device host` does: calibrated on the other models' records only
    rows_model = []
    for model in dict.fromkeys(p.profile.model for p in points):
        target = next(p.profile for p in points if p.profile.model == model)
        cal = calibration_from_records(records, host, base, target=target, store=db)
        rows_model += [Comparison("host", "single-stream", "measured (cal. on others)", "latency_s",
                                  h.measured_s, h.projected_s, h.label) for h in (cal.held_out if cal else ())]
    print(f"\nhost: {host.name}; peak fp32 {host.peak_ops_per_s.get('fp32', float('nan')) / 1e9:.0f} GFLOP/s; "
          f"measurements in {db}")
    print(format_comparison_table(rows_unc + rows_cal + rows_model))
    print(f"median |error|: uncalibrated {median_abs_error(rows_unc):.1%}; calibrated leave-one-measurement-out "
          f"{median_abs_error(rows_cal):.1%}; calibrated on the other models only (automatic calibration) "
          f"{median_abs_error(rows_model):.1%}")
    if points:
        fit_all = fit_params(points, host, base)
        print("host fit on all points:", ", ".join(f"{k} = {v:.4g}" for k, v in fit_all.values.items()),
              f"(in-sample median |error| {fit_all.median_abs_error_after:.1%})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="store the fitted family figures and the residuals")
    ap.add_argument("--rows", action="store_true", help="print every published row")
    ap.add_argument("--overhead", action="store_true",
                    help="print the per-layer overhead each SingleStream row needs, by MLPerf round")
    ap.add_argument("--host", action="store_true", help="also measure this host and check its calibration (timing)")
    ap.add_argument("--db", default=None, help="with --host: results store (default: a temporary file)")
    ap.add_argument("--time-limit", type=float, default=15.0, help="with --host: quick-mode cap per bench, seconds")
    ap.add_argument("--skip-bench", action="store_true", help="with --host: use the records already in --db")
    args = ap.parse_args()
    code = published_report(args.write, args.rows)
    if args.overhead:
        code = overhead_report() or code
    if args.host:
        code = host_report(args.db, args.time_limit, args.skip_bench) or code
    return code


if __name__ == "__main__":
    sys.exit(main())
