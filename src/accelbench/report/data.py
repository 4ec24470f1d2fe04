"""What a report shows, read from the results store: one run's records, its RunSummary if any,
and the catalog's on-chip memory sizes. Reports read; they never measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.errors import UserError
from accelbench.results.records import BenchRecord
from accelbench.results.store import open_store
from accelbench.results.summary import RunSummary

STAGE_TITLES = {
    1: "Peak TOPS",
    2: "ResNet-50, done right",
    3: "A real-world model",
    4: "Your model",
}


@dataclass(frozen=True)
class ReportData:
    run_id: str
    db_path: str
    records: tuple[BenchRecord, ...]
    summary: RunSummary | None = None
    catalog_sram: tuple[dict, ...] = ()  # {"device", "name", "onchip_sram_bytes"} from the catalog
    catalog_peaks: tuple[dict, ...] = ()  # {"device", "name", "kind", "precision", "peak_ops_per_s", "source"}
    catalog_devices: tuple[dict, ...] = field(default_factory=tuple)  # id, name, tdp_w, price_usd

    @property
    def ok_records(self) -> tuple[BenchRecord, ...]:
        return tuple(r for r in self.records if r.ok)

    def record(self, record_id: str) -> BenchRecord | None:
        for rec in self.records:
            if rec.record_id == record_id:
                return rec
        return None

    def stage(self, number: int):
        if self.summary is None:
            return None
        for st in self.summary.stages:
            if st.stage == number:
                return st
        return None

    @property
    def absent_stages(self) -> tuple[int, ...]:
        """Stages with no data: not in the summary, skipped, or no summary at all."""
        out = []
        for n in STAGE_TITLES:
            st = self.stage(n)
            if st is None or st.skipped:
                out.append(n)
        return tuple(out)


def _catalog() -> tuple[tuple[dict, ...], tuple[dict, ...], tuple[dict, ...]]:
    """The catalog's SRAM sizes and peaks; empty when the catalog cannot be read (reports still render)."""
    try:
        from accelbench.hardware.catalog import load_catalog

        catalog = load_catalog()
    except Exception:  # a broken catalog file must not stop a report of measurements
        return (), (), ()
    sram, peaks, devices = [], [], []
    for dev in catalog.values():
        if dev.onchip_sram_bytes:
            sram.append({"device": dev.id, "name": dev.name, "onchip_sram_bytes": dev.onchip_sram_bytes})
        for precision, ops in dev.peak_ops_per_s.items():
            peaks.append({"device": dev.id, "name": dev.name, "kind": dev.kind, "precision": precision,
                          "peak_ops_per_s": ops, "source": "catalog"})
        devices.append({"device": dev.id, "name": dev.name, "tdp_w": dev.tdp_w, "price_usd": dev.price_usd})
    return tuple(sram), tuple(peaks), tuple(devices)


def load_report_data(db_path: str, run_id: str | None = None) -> ReportData:
    """Records + summary of one run (default: the newest). UserError for a missing db or run."""
    with open_store(db_path, read_only=True) as store:
        run = run_id or store.latest_run_id()
        if run is None:
            raise UserError(f"db: {db_path!r} holds no runs yet; run `accelbench run` or `accelbench bench` first")
        records = tuple(store.query(run_id=run))
        summary = store.load_summary(run)
        if not records and summary is None:
            known = store.run_ids()
            shown = ", ".join(known[-5:]) or "none"
            raise UserError(f"run: {run!r} is not in {db_path!r}; latest runs: {shown}")
    sram, peaks, devices = _catalog()
    return ReportData(run_id=run, db_path=str(db_path), records=records, summary=summary,
                      catalog_sram=sram, catalog_peaks=peaks, catalog_devices=devices)
