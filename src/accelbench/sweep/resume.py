"""What a sweep does with each configuration, from what the store already holds.

For each configuration hash, in this order:

1. recorded in THIS sweep (a resumed one): skipped; it was measured (or failed) exactly once here;
2. ``--rerun``: measured again;
3. an ok record anywhere in the store: skipped ("measured");
4. only failed records: skipped and counted as failed, unless ``--retry-failed``;
5. nothing: measured.

Exactly once: a sweep's run id and a configuration hash are unique together in the store (a
constraint, not a check), so a resume after kill -9 at any point, or two executors racing on one
configuration, can never leave two records of it in one sweep; a measurement killed before its
record committed left nothing and is measured again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from accelbench.results.store import ConfigOutcome
from accelbench.sweep.plan import SweepItem

MEASURE, IN_SWEEP, MEASURED, FAILED = "measure", "in-sweep", "measured", "failed"
ACTIONS = (MEASURE, IN_SWEEP, MEASURED, FAILED)


@dataclass(frozen=True)
class Decision:
    item: SweepItem
    action: str  # one of ACTIONS
    why: str  # for the dry run and the log: "new", "rerun", "retry (failed: crash)", "measured in run X", ...
    record_id: str | None = None  # the stored record that settles it (skipped ones)
    status: str | None = None  # that record's status


def decide(items: Sequence[SweepItem], outcomes: Iterable[ConfigOutcome], *, sweep_id: str | None,
           rerun: bool = False, retry_failed: bool = False) -> list[Decision]:
    """One decision per item, in plan order (``outcomes`` oldest first, as the store gives them)."""
    by_hash: dict[str, list[ConfigOutcome]] = {}
    for outcome in outcomes:
        by_hash.setdefault(outcome.config_hash, []).append(outcome)
    decisions = []
    for item in items:
        history = by_hash.get(item.config_hash, [])
        here = [o for o in history if sweep_id is not None and o.run_id == sweep_id]
        ok = [o for o in history if o.status == "ok"]
        failed = [o for o in history if o.status != "ok"]
        if here:
            decisions.append(Decision(item, IN_SWEEP, f"{here[-1].status} in this sweep", here[-1].record_id,
                                      here[-1].status))
        elif rerun:
            decisions.append(Decision(item, MEASURE, "rerun" if history else "new"))
        elif ok:
            decisions.append(Decision(item, MEASURED, f"measured in run {ok[-1].run_id}", ok[-1].record_id, "ok"))
        elif failed and not retry_failed:
            decisions.append(Decision(item, FAILED, f"failed in run {failed[-1].run_id} (--retry-failed retries it)",
                                      failed[-1].record_id, failed[-1].status))
        else:
            decisions.append(Decision(item, MEASURE, "retry" if failed else "new"))
    return decisions
