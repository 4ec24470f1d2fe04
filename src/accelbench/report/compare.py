"""Side-by-side comparison of two records or two runs, with the ratio B/A and a noise verdict.

Noise verdict (per metric with a confidence interval): the 95 % CIs of A and B overlap ->
"within noise"; they do not -> "B better" / "B worse". Latency p50 uses the distribution-free
CI of the median, throughput (and MAC utilization, proportional to it) the CI of the mean
latency (results/stats.py). Tail percentiles and energy carry no CI: "no CI".

Like pyperf, results from different environments are refused unless forced: host name, CPU
model, and, for the same runtime, the runtime version must match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.errors import UserError
from accelbench.report.tables import Cell, Table
from accelbench.report.units import fmt_energy, fmt_pct, fmt_plain, select_time_unit
from accelbench.results.records import BenchRecord
from accelbench.results.store import ResultStore, open_store

PAIR_KEY = ("model", "resolution", "batch", "precision", "backend")


@dataclass(frozen=True)
class Side:
    kind: str  # "run" | "record"
    ident: str
    records: tuple[BenchRecord, ...]


@dataclass(frozen=True)
class MetricComparison:
    name: str
    unit: str  # base unit of a and b: "ns", "1/s", "fraction", "J"
    a: float | None
    b: float | None
    lower_is_better: bool
    a_ci: tuple[float, float] | None = None
    b_ci: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        return self.b / self.a if self.a and self.b is not None else None

    @property
    def verdict(self) -> str:
        if self.a is None or self.b is None:
            return "n/a"
        if self.a_ci is None or self.b_ci is None:
            return "no CI"
        if self.a_ci[0] <= self.b_ci[1] and self.b_ci[0] <= self.a_ci[1]:
            return "within noise"
        b_smaller = self.b < self.a
        return "B better" if b_smaller == self.lower_is_better else "B worse"

    def to_dict(self) -> dict:
        return {"metric": self.name, "unit": self.unit, "a": self.a, "b": self.b, "ratio_b_over_a": self.ratio,
                "a_ci": list(self.a_ci) if self.a_ci else None, "b_ci": list(self.b_ci) if self.b_ci else None,
                "lower_is_better": self.lower_is_better, "verdict": self.verdict}


@dataclass(frozen=True)
class PairComparison:
    key: dict
    a: BenchRecord
    b: BenchRecord
    metrics: tuple[MetricComparison, ...]

    @property
    def label(self) -> str:
        k = self.key
        return (f"{k['model']} @ {k['resolution'] or 'default'} · batch {k['batch']} · "
                f"A: {side_text(self.a)} · B: {side_text(self.b)}")

    def to_dict(self) -> dict:
        return {"key": self.key, "a_record": self.a.record_id, "b_record": self.b.record_id,
                "metrics": [m.to_dict() for m in self.metrics], "a": side_facts(self.a), "b": side_facts(self.b)}


def side_facts(rec: BenchRecord) -> dict:
    """What one side ran: backend, device and the precision asked for and executed."""
    return {"record_id": rec.record_id, "backend": rec.runtime, "device": rec.runtime_device,
            "precision_requested": rec.config.precision, "precision_executed": rec.precision_executed}


def side_text(rec: BenchRecord) -> str:
    """"openvino int8" or, where the runtime ran another precision than asked, "onnxruntime int8 (ran int8+fp32)"."""
    facts = side_facts(rec)
    ran = facts["precision_executed"]
    return (f"{facts['backend']} {facts['precision_requested']}"
            + (f" (ran {ran})" if ran and ran != facts["precision_requested"] else ""))


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    pairs: tuple[PairComparison, ...]
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()
    mismatches: tuple[str, ...] = ()
    forced: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "a": {"kind": self.a.kind, "id": self.a.ident, "records": len(self.a.records)},
            "b": {"kind": self.b.kind, "id": self.b.ident, "records": len(self.b.records)},
            "pairs": [p.to_dict() for p in self.pairs],
            "only_a": list(self.only_a), "only_b": list(self.only_b),
            "environment": {"matches": not self.mismatches, "mismatches": list(self.mismatches), "forced": self.forced},
        }


def pair_key(rec: BenchRecord) -> dict:
    cfg = rec.config
    return {"model": cfg.model, "resolution": cfg.resolution, "batch": cfg.batch, "precision": cfg.precision,
            "backend": cfg.backend}


def resolve(store: ResultStore, ident: str) -> Side:
    """``run:ID``, ``record:ID`` or a bare id (a record id or unique prefix of one first, then a run id)."""
    kind, _, value = ident.partition(":") if ident.startswith(("run:", "record:")) else ("", "", ident)
    value = value.strip()
    if not value:
        raise UserError(f"compare: empty id in {ident!r}; give a record id, a run id, 'run:ID' or 'record:ID'")
    if kind in ("", "record"):
        ids = store.record_ids(value)
        if len(ids) > 1 and kind == "record":
            raise UserError(f"compare: record id prefix {value!r} matches {len(ids)} records; give more characters")
        # A bare id shorter than 6 characters must match a record exactly: it may be a run id.
        if len(ids) == 1 and (kind == "record" or len(value) >= 6 or ids[0] == value):
            (rec,) = store.query(record_id=ids[0])
            return Side("record", rec.record_id, (rec,))
        if kind == "record":
            raise UserError(f"compare: no record {value!r} in {store.location!r}")
    records = tuple(store.query(run_id=value))
    if records:
        return Side("run", value, records)
    known = ", ".join(store.run_ids()[-5:]) or "none"
    raise UserError(f"compare: {ident!r} is neither a record id nor a run id in {store.location!r};"
                    f" latest runs: {known}")


def environment_mismatches(a: BenchRecord, b: BenchRecord) -> list[str]:
    """What differs between the environments of two records (host, CPU, same runtime's version)."""
    out = []
    ea, eb = a.environment, b.environment
    for key, name in (("hostname", "host"), ("cpu_model", "CPU")):
        if getattr(ea, key) != getattr(eb, key):
            out.append(f"{name} {getattr(ea, key)!r} vs {getattr(eb, key)!r}")
    if a.runtime == b.runtime:
        va, vb = _runtime_version(a), _runtime_version(b)
        if va != vb:
            out.append(f"{a.runtime} version {va!r} vs {vb!r}")
    return out


def _runtime_version(rec: BenchRecord) -> str | None:
    """The version of the runtime that ran: as it reported it, else as the environment recorded it."""
    reported = rec.run_info.runtime_version if rec.run_info is not None else None
    return reported or rec.environment.runtime_version(rec.runtime)


def _scaled_ci(ci, factor):
    return (ci[0] * factor, ci[1] * factor) if ci and factor else None


def compare_records(a: BenchRecord, b: BenchRecord) -> tuple[MetricComparison, ...]:
    sa, sb = a.stats, b.stats

    def pct(stats, name):
        return getattr(stats, name) if stats else None

    def util_ci(rec):
        if rec.mac_utilization is None or rec.throughput_ci_per_s is None:
            return None
        return _scaled_ci(rec.throughput_ci_per_s, rec.mac_utilization / rec.throughput_per_s)

    return (
        MetricComparison("latency p50", "ns", pct(sa, "p50_ns"), pct(sb, "p50_ns"), True,
                         sa.median_ci_ns if sa else None, sb.median_ci_ns if sb else None),
        MetricComparison("latency p90", "ns", pct(sa, "p90_ns"), pct(sb, "p90_ns"), True),
        MetricComparison("latency p99", "ns", pct(sa, "p99_ns"), pct(sb, "p99_ns"), True),
        MetricComparison("throughput", "1/s", a.throughput_per_s, b.throughput_per_s, False,
                         a.throughput_ci_per_s, b.throughput_ci_per_s),
        MetricComparison("MAC utilization", "fraction", a.mac_utilization, b.mac_utilization, False,
                         util_ci(a), util_ci(b)),
        MetricComparison("energy/inference", "J", a.energy_per_inference_j, b.energy_per_inference_j, True),
    )


def _latest_ok_by_key(records) -> dict[tuple, BenchRecord]:
    out: dict[tuple, BenchRecord] = {}
    for rec in records:  # oldest first: a later record of the same key wins
        if rec.ok:
            out[tuple(pair_key(rec).values())] = rec
    return out


def compare(db_path: str, ident_a: str, ident_b: str, *, force: bool = False) -> Comparison:
    """Resolve A and B, pair their records, refuse mismatched environments unless ``force``."""
    with open_store(db_path, read_only=True) as store:
        a, b = resolve(store, ident_a), resolve(store, ident_b)
    if a.kind == "record" or b.kind == "record":
        if a.kind != b.kind:
            raise UserError(f"compare: A is a {a.kind} and B is a {b.kind}; compare two records or two runs")
        if not (a.records[0].ok and b.records[0].ok):
            failed = a.ident if not a.records[0].ok else b.ident
            raise UserError(f"compare: record {failed[:12]!r} is a failed or invalid measurement; nothing to compare")
        pairs_in = [(pair_key(a.records[0]), a.records[0], b.records[0])]
        only_a = only_b = ()
    else:
        ka, kb = _latest_ok_by_key(a.records), _latest_ok_by_key(b.records)
        pairs_in = [(pair_key(ka[k]), ka[k], kb[k]) for k in ka if k in kb]
        only_a = tuple(" · ".join(str(x) for x in k) for k in ka if k not in kb)
        only_b = tuple(" · ".join(str(x) for x in k) for k in kb if k not in ka)
        if not pairs_in:
            raise UserError(f"compare: runs {a.ident!r} and {b.ident!r} share no configuration"
                            f" (paired by {', '.join(PAIR_KEY)})")
    mismatches: list[str] = []
    for _, ra, rb in pairs_in:
        for m in environment_mismatches(ra, rb):
            if m not in mismatches:
                mismatches.append(m)
    if mismatches and not force:
        raise UserError(f"compare: environments differ ({'; '.join(mismatches)}); results from different"
                        " environments are not comparable; add --force to compare anyway")
    pairs = tuple(PairComparison(key, ra, rb, compare_records(ra, rb)) for key, ra, rb in pairs_in)
    return Comparison(a, b, pairs, only_a, only_b, tuple(mismatches), force)


def comparison_tables(comp: Comparison):
    """One Table per pair: metric | A | B | B/A | noise verdict, in display units."""
    tables = []
    for i, pair in enumerate(comp.pairs):
        t_unit = select_time_unit([m.a / 1e9 for m in pair.metrics if m.unit == "ns" and m.a] +
                                  [m.b / 1e9 for m in pair.metrics if m.unit == "ns" and m.b])
        rows = []
        for m in pair.metrics:
            if m.unit == "ns":
                fmt = (lambda v: fmt_plain(v / 1e9 / t_unit[1] if v is not None else None, f" {t_unit[0]}"))
            elif m.unit == "1/s":
                fmt = (lambda v: fmt_plain(v, " inf/s"))
            elif m.unit == "fraction":
                fmt = fmt_pct
            else:
                fmt = fmt_energy
            verdict = m.verdict
            style = {"B better": "good", "B worse": "bad"}.get(verdict, "")
            rows.append((Cell(m.name), Cell(fmt(m.a), m.a), Cell(fmt(m.b), m.b),
                         Cell(f"{m.ratio:.3f}" if m.ratio is not None else "–", m.ratio), Cell(verdict, style=style)))
        a_id, b_id = pair.a.record_id[:8], pair.b.record_id[:8]
        tables.append(Table(f"compare{i}", f"{pair.label}   (A {a_id} · B {b_id})",
                            ("metric", f"A: {side_text(pair.a)}", f"B: {side_text(pair.b)}", "B/A",
                             "noise (95 % CIs)"), tuple(rows), (False, True, True, True, False)))
    return tables
