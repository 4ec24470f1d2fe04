"""Published results (MLPerf Inference) as typed data: the table the family parameters are fitted on.

A table file (tests/data/published/mlperf_inference.toml) has one ``[workload.<zoo model>]`` per
model (the MLPerf benchmark name, the resolution and precision it ran at, and whether its harness
removes padding) and ``[[result]]`` rows: model, catalog device id, system, scenario and either
``throughput_per_s`` (Offline, samples/s) or ``latency_p90_s`` (SingleStream, the summary's p90).

A workload whose benchmark times post-processing the zoo graph leaves out (MLPerf RetinaNet: NMS)
names each implementation in ``[workload.<model>.postprocess]`` (name = where it is documented), and
its rows say which one ran (``postprocess = "<name>"``). The family fit carries one SingleStream time
per implementation (projection/family_fit.py).
"""

from __future__ import annotations

import sys
import re
from dataclasses import dataclass, field
from pathlib import Path

from accelbench.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAME = re.compile(r"[a-z0-9_]+")
SCENARIO_METRICS = {"offline": "throughput_per_s", "single-stream": "latency_p90_s"}
DEFAULT_TABLE = Path(__file__).resolve().parents[3] / "tests" / "data" / "published" / "mlperf_inference.toml"


@dataclass(frozen=True)
class Workload:
    """How a benchmark ran a zoo model: the size and precision to profile it at."""

    model: str
    benchmark: str
    resolution: str
    precision: str
    variable_length: bool = False  # padding removed by the harness (BERT): work per sample is fitted
    precision_note: str = ""
    # post-processing implementations the benchmark's harnesses ran, outside the zoo graph: name -> source
    postprocess: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishedRow:
    model: str
    device: str
    system: str
    scenario: str  # "offline" or "single-stream"
    value: float  # samples/s (offline) or seconds (single-stream p90)
    source: str
    postprocess: str = ""  # the workload's post-processing implementation this row's harness ran ("" = none)

    @property
    def time_s(self) -> float:
        """Seconds per sample: 1 / throughput (Offline) or the p90 latency (SingleStream)."""
        return 1.0 / self.value if self.scenario == "offline" else self.value

    @property
    def key(self) -> tuple[str, str, str]:
        return self.model, self.device, self.scenario


@dataclass(frozen=True)
class PublishedTable:
    path: str
    workloads: dict[str, Workload]
    rows: tuple[PublishedRow, ...]

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.device for r in self.rows))

    def without_device(self, device: str) -> PublishedTable:
        return PublishedTable(self.path, self.workloads, tuple(r for r in self.rows if r.device != device))


def load_published_table(path: str | Path | None = None) -> PublishedTable:
    """Read and check a published-results table (see the module docstring); one-line UserErrors."""
    file = Path(path) if path is not None else DEFAULT_TABLE
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"published results: cannot read {str(file)!r} ({exc})") from None
    workloads = {}
    for model, table in data.get("workload", {}).items():
        if not isinstance(table, dict) or not table.get("resolution") or not table.get("precision"):
            raise UserError(f"published results: {str(file)!r} [workload.{model}] needs resolution and precision;"
                            f" got {table!r}")
        post = table.get("postprocess", {})
        if not isinstance(post, dict) or not all(isinstance(k, str) and NAME.fullmatch(k) and isinstance(v, str) and v
                                                 for k, v in post.items()):
            raise UserError(f"published results: {str(file)!r} [workload.{model}.postprocess] must map names"
                            f" (lower-case letters, digits, _) to where each is documented; got {post!r}")
        workloads[model] = Workload(model, str(table.get("benchmark", model)), str(table["resolution"]),
                                    str(table["precision"]), bool(table.get("variable_length", False)),
                                    str(table.get("precision_note", "")), dict(post))
    rows = []
    for i, row in enumerate(data.get("result", [])):
        metric = SCENARIO_METRICS.get(row.get("scenario"))
        value = row.get(metric) if metric else None
        if (metric is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
                or not row.get("source") or row.get("model") not in workloads or not row.get("device")):
            raise UserError(f"published results: {str(file)!r} result {i} needs a model with a [workload], a device,"
                            f" scenario offline|single-stream, a positive throughput_per_s/latency_p90_s and a"
                            f" source; got {row!r}")
        post = row.get("postprocess", "")
        known = workloads[row["model"]].postprocess
        if post != "" and post not in known:
            raise UserError(f"published results: {str(file)!r} result {i}: postprocess must be one of"
                            f" {', '.join(sorted(known)) or 'none ([workload.' + row['model'] + '.postprocess] is empty)'};"
                            f" got {post!r}")
        rows.append(PublishedRow(row["model"], row["device"], row.get("system", row["device"]), row["scenario"],
                                 float(value), row["source"], post))
    return PublishedTable(str(file), workloads, tuple(rows))
