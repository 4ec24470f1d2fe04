"""The answer's uncertainty in words, for the top of the report and the end of `accelbench run`.

From the ranking's entries alone (results/summary.RankEntry): the first entry, the entries whose
interval overlaps its interval (a projection's 80 % band, a measurement's confidence interval),
and what to do about it, e.g. "NVIDIA T4 (int8) @ 1mp is projected fastest, but within the band of
NVIDIA L4 (int8) @ 1mp: measure both before buying."
"""

from __future__ import annotations

from typing import Sequence

from accelbench.report.units import fmt_level
from accelbench.results.summary import RankEntry, intervals_overlap

BEST = {"latency_s": "fastest", "throughput_per_s": "best in throughput", "per_w": "best per watt",
        "per_usd": "best per dollar"}
NAMED = 3  # entries named in a sentence; the rest are counted
MEASURE_ALL = 4  # up to this many candidates, the sentence asks to measure them all
HOW = {"measured": "is measured", "projected": "is projected",
       "calibrated": "is projected (a calibrated projection)"}


def _interval(entry: RankEntry) -> tuple[float, float] | None:
    if entry.value_low is None or entry.value_high is None:
        return None
    return entry.value_low, entry.value_high


def _names(entries: Sequence[RankEntry]) -> str:
    """"A", "A and B", "A, B and C", or the first NAMED and how many more."""
    labels = [e.label or e.device for e in entries]
    if len(labels) > NAMED:
        return ", ".join(labels[:NAMED]) + f" and {len(labels) - NAMED} more"
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _what_to_do(group: Sequence[RankEntry]) -> str:
    unmeasured = [e for e in group if e.kind != "measured"]
    if not unmeasured:
        return "their measurements overlap: measure longer to separate them"
    if len(unmeasured) < len(group):
        return f"measure {_names(unmeasured)} before buying"
    if len(group) == 2:
        return "measure both before buying"
    if len(group) <= MEASURE_ALL:
        return f"measure all {len(group)} before buying"
    return f"{len(group)} devices cannot be told apart by projection: measure the ones you would buy"


def answer_in_words(ranking: Sequence[RankEntry]) -> str:
    """One or two sentences on how sure the first place is; "" when no ranked entry has an interval
    (a summary written before intervals existed)."""
    ranked = [e for e in ranking if e.rank is not None and e.value is not None]
    if not ranked or not any(_interval(e) for e in ranked):
        return ""
    top, rest = ranked[0], ranked[1:]
    best = BEST.get(top.metric or "", "first")
    lead = f"{top.label or top.device} {HOW.get(top.provenance, 'is')} {best}"
    band = _interval(top)
    if band is None:
        return (f"{lead}, without an interval of its own (too few samples, or no validated family): "
                f"treat its place as a guess.")
    close = [e for e in rest if _interval(e) and intervals_overlap(band, _interval(e))]
    if close:
        return f"{lead}, but within the band of {_names(close)}: {_what_to_do([top, *close])}."
    if not rest:
        return f"{lead}; nothing else was ranked."
    second = rest[0]
    level = fmt_level(top.interval_level) or "stated"
    if top.kind == "measured":
        return f"{lead}, clear of {second.label or second.device} (their intervals do not overlap)."
    return (f"{lead}, clear of {second.label or second.device} at the {level} level; still a projection, "
            f"not a measurement: confirm it on the device before buying.")
