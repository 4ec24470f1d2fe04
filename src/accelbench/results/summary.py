"""The summary of one `accelbench run`: the four stages, their lessons, the ranking, projections.

Records (results/records.py) hold what was measured; a RunSummary holds what the four-stage run
*concluded* from them, with references to the records it used (record ids), so that reports can
show each stage in order. It is stored in the same SQLite file, table ``run_summaries``, one
transaction per summary.

Stage ``data`` shapes (all plain JSON):
  stage 1: {"peaks": [{"device", "name", "kind", "precision", "peak_ops_per_s",
                       "source": "catalog"|"theoretical"|"measured"}]}
  stage 2/3/4: {"model", "configs": [{"record_id", "label", "resolution", "batch", "precision"}],
                "activations": [{"resolution", "pixels", "largest_activation_bytes",
                                 "peak_live_activation_bytes", "precision"}],
                "sram": [{"device", "name", "onchip_sram_bytes"}],
                "layers": [{"name", "op", "macs", "output_bytes", "time_s", "time_source"}]}
                 (layers: the slowest layers, time measured or "projected:<device>")
                 stage 4 adds "closest": [{"model", "distance", "why"}] when a finder exists.
Ranking entries: {"label", "kind": "measured"|"projected", "record_id"?, "device", "model",
                  "precision", "latency_s", "throughput_per_s", "per_w", "per_usd", "value", "metric"}.
Projection entries: the projection module's to_dict() per (model, device).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from accelbench.errors import UserError

SUMMARY_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class StageSummary:
    stage: int  # 1..4
    title: str
    lesson: str  # one line that states the lesson in numbers
    record_ids: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None  # why a stage did not run (e.g. no --model given)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    created: str
    command: str
    objective: str  # latency | throughput | per-watt | per-dollar
    stages: tuple[StageSummary, ...]
    ranking: tuple[dict, ...] = ()
    projections: tuple[dict, ...] = ()
    duration_s: float | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    schema_version: int = SUMMARY_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSummary":
        if data.get("schema_version") != SUMMARY_SCHEMA_VERSION:
            raise UserError(
                f"run summary: schema version {data.get('schema_version')!r} is not readable"
                f" (this accelbench reads {SUMMARY_SCHEMA_VERSION})"
            )
        stages = tuple(
            StageSummary(**{**s, "record_ids": tuple(s.get("record_ids", ()))}) for s in data["stages"]
        )
        return cls(**{**data, "stages": stages, "ranking": tuple(data.get("ranking", ())),
                      "projections": tuple(data.get("projections", ())), "notes": tuple(data.get("notes", ()))})


# Compatibility for the callers written before the store owned all SQL (the four-stage run):
# new code opens the store once (accelbench.results.store.open_store) and calls its methods.
# The store module imports this one, hence the imports inside the functions.


def save_run_summary(db_path: str, summary: RunSummary) -> None:
    """Insert or replace the summary of one run, in one transaction."""
    from accelbench.results.store import open_store

    with open_store(db_path) as store:
        store.save_summary(summary)


def load_run_summary(db_path: str, run_id: str) -> RunSummary | None:
    """The summary of ``run_id``, or None when that run was not a four-stage run."""
    from accelbench.results.store import open_store

    with open_store(db_path, read_only=True) as store:
        return store.load_summary(run_id)


def latest_run_summary_id(db_path: str) -> str | None:
    from accelbench.results.store import open_store

    with open_store(db_path, read_only=True) as store:
        newest = store.newest_summary()
    return newest[1] if newest else None
