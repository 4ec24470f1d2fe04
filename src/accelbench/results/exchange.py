"""Moving results between stores: `accelbench export` writes runs to a versioned JSON file,
`accelbench merge` adds such files to a store (an edge board that cannot reach the cluster
exports; the central machine merges). docs/export-format.md documents the format.

The file (``format`` "accelbench-results", ``format_version`` 1) holds, per run, its records in
full: every stored figure with the raw per-query latencies (``latency_ns``), the environment
and the provenance of each number, the derived figures for readers of the file (merge ignores
them and re-derives), and each record's configuration hash when a sweep measured it; and the
run's four-stage summary when it has one. Top level: who exported it, from where, when.

Merging is all or nothing: a file of an unknown format or version, a record the store already
holds (or one that two files both hold), a summary of a run the store already has: one line
naming the file, and nothing is merged. The store's constraints, not only the check, refuse
duplicates, so two merges racing still store each record once.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from accelbench import __version__
from accelbench.errors import UserError
from accelbench.files import write_atomically
from accelbench.results.records import SCHEMA_VERSION, BenchRecord, utc_now
from accelbench.results.summary import SUMMARY_SCHEMA_VERSION, RunSummary

EXPORT_FORMAT = "accelbench-results"
EXPORT_FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)


@dataclass(frozen=True)
class ExportedRun:
    run_id: str
    records: tuple[tuple[BenchRecord, str | None], ...]  # (record, configuration hash)
    summary: RunSummary | None = None


@dataclass(frozen=True)
class ExportFile:
    path: str
    exported_at: str
    exported_by: dict
    runs: tuple[ExportedRun, ...]

    @property
    def record_count(self) -> int:
        return sum(len(run.records) for run in self.runs)


def export_runs(store, run_ids: Sequence[str]) -> dict:
    """The export document of ``run_ids`` (UserError for a run the store does not hold)."""
    runs = []
    for run_id in run_ids:
        records = store.query(run_id=run_id)
        summary = store.load_summary(run_id)
        if not records and summary is None:
            shown = ", ".join(store.run_ids()[-5:]) or "none"
            raise UserError(f"run: {run_id!r} is not in {store.location}; latest runs: {shown}")
        hashes = store.config_hashes(run_id)
        runs.append({"run_id": run_id, "summary": summary.to_dict() if summary else None,
                     "records": [{"config_hash": hashes.get(r.record_id), "record": r.to_dict(include_samples=True)}
                                 for r in records]})
    return {"format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION, "exported_at": utc_now(),
            "exported_by": {"accelbench": __version__, "hostname": socket.gethostname(), "store": store.location},
            "record_schema_version": SCHEMA_VERSION, "summary_schema_version": SUMMARY_SCHEMA_VERSION, "runs": runs}


def write_export(document: dict, out_path: str) -> None:
    """Write atomically (files.write_atomically): a reader (or a merge) never sees half a file."""
    path = Path(out_path)
    if not path.parent.exists():
        raise UserError(f"output: directory {str(path.parent)!r} does not exist")
    write_atomically(path, json.dumps(document, indent=1, default=str, allow_nan=False))


def read_export(path: str) -> ExportFile:
    """Read and check one export file; UserError (one line, naming the file) when it is not one."""
    where = f"merge: {path}"
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{where}: not an accelbench export ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise UserError(f"{where}: not an accelbench export (no \"format\": \"{EXPORT_FORMAT}\")")
    version = data.get("format_version")
    if version not in READABLE_VERSIONS:
        raise UserError(f"{where}: export format version {version!r} is unknown to this accelbench (it reads"
                        f" {', '.join(map(str, READABLE_VERSIONS))}); upgrade accelbench or export with the same version")
    runs = []
    try:
        for run in data["runs"]:
            records = tuple((BenchRecord.from_dict(entry["record"]), entry.get("config_hash"))
                            for entry in run["records"])
            if any(r.run_id != run["run_id"] for r, _ in records):
                raise UserError(f"a record of run {run['run_id']!r} names another run")
            summary = RunSummary.from_dict(run["summary"]) if run.get("summary") else None
            runs.append(ExportedRun(run["run_id"], records, summary))
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: malformed export ({type(exc).__name__}: {exc})") from None
    return ExportFile(path, data.get("exported_at", ""), dict(data.get("exported_by") or {}), tuple(runs))


def merge_files(store, paths: Sequence[str]) -> tuple[ExportFile, ...]:
    """Add every record and summary of ``paths`` to ``store`` in one transaction, or nothing."""
    files = tuple(read_export(path) for path in paths)
    seen: dict[str, str] = {}
    for export in files:
        for run in export.runs:
            for record, _ in run.records:
                if record.record_id in seen:
                    raise UserError(f"merge: {export.path}: record {record.record_id} is also in {seen[record.record_id]};"
                                    " nothing was merged")
                seen[record.record_id] = export.path
                if record.record_id in store.record_ids(record.record_id):
                    raise UserError(f"merge: {export.path}: record {record.record_id} (run {run.run_id!r}) is already"
                                    f" in {store.location}; nothing was merged")
    records = [(record, config_hash) for export in files for run in export.runs for record, config_hash in run.records]
    summaries = [run.summary for export in files for run in export.runs if run.summary is not None]
    try:
        store.save_many(records, summaries)
    except UserError as exc:  # DuplicateRecord: a summary already there, or a racing writer won
        raise UserError(f"merge: {', '.join(paths)}: {exc}; nothing was merged") from None
    return files
