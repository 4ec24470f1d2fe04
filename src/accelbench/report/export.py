"""Records exported for other tools: one flat row per record (CSV). JSON is each record's to_dict()."""

from __future__ import annotations

import csv
import io
from typing import Iterable

from accelbench.results.records import BenchRecord

CSV_COLUMNS = ("run_id", "record_id", "timestamp", "status", "model", "resolution", "batch", "backend", "device",
               "precision_requested", "precision_executed", "scenario", "mode", "queries", "latency_p50_ns",
               "latency_p90_ns", "latency_p99_ns", "throughput_per_s", "megapixels_per_s", "macs_per_s",
               "mac_utilization", "power_w", "power_source", "energy_per_inference_j", "inferences_per_s_per_w",
               "inferences_per_s_per_usd", "usd_per_million_inferences", "stability", "error")


def flat_row(record: BenchRecord) -> dict:
    """The record as CSV_COLUMNS: base units, the stability verdict only, no samples."""
    d = record.to_dict(include_samples=False)
    cfg = record.config
    row = {k: d.get(k) for k in CSV_COLUMNS}
    row.update({"model": cfg.model, "resolution": cfg.resolution, "batch": cfg.batch,
                "scenario": cfg.scenario, "mode": cfg.mode,
                "stability": (d["stability"] or {}).get("verdict")})
    return row


def records_csv(records: Iterable[BenchRecord]) -> str:
    """A header and one flat row per record."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(flat_row(record))
    return buf.getvalue()
