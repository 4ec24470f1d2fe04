"""Fuzz accelbench's parsers and its ONNX loader + profiler: at least 10,000 generated cases per target.

Targets (tests/fuzz_targets.py, the same properties tests/test_properties.py checks on a few hundred):
- resolution parser:      sizes as typed (digits, huge numbers, separators, presets, random text)
- input-shape parser:     NAME=DIMS specs (ranks, bounds, bad names, random text)
- numeric options:        every option of bounds.py NUMBER_OPTIONS at and around its bounds, inf,
                          nan, 400-digit numbers, random text
- onnx loader + profiler: a small CNN built in code, mutated (bytes flipped/cut/inserted, ops, edges,
                          attributes, input and weight dims, opset) and loaded + profiled from a file
- sweep-plan parser:      a plan with one [measure] setting or axis replaced by hostile TOML values
                          (inf, nan, 1e308, bounds +-1, wrong types, random strings), or random text
Each case must end "accepted" (a result inside the bounds) or "refused" (one-line UserError naming
the field); anything else (another exception, a property broken) counts as a failure and the first few
are printed. Pure computation, no timing: it prints counts, not speeds.

    python benchmarks/fuzz.py [--cases 10000] [--target NAME]

Goal (issue 10): 0 failures at 10,000 cases per target. Exit code 1 when any case failed.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from fuzz_targets import TARGETS  # noqa: E402

SHOWN_FAILURES = 5


def fuzz(target, cases: int) -> tuple[Counter, list[str]]:
    """Run ``cases`` generated cases of ``target``; returns (outcome counts, failure descriptions)."""
    counts: Counter = Counter()
    failures: list[str] = []

    @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(target.strategy())
    def run(case):
        try:
            counts[target.check(case)] += 1
        except Exception as exc:  # noqa: BLE001 - every failure is counted, the fuzzing goes on
            counts["failed"] += 1
            if len(failures) < SHOWN_FAILURES:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                failures.append(f"{case!r:.200}: {type(exc).__name__}: {str(exc)[:300]} "
                                f"({Path(where.filename).name}:{where.lineno})")

    run()
    return counts, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="generated cases per target (default 10000)")
    parser.add_argument("--target", choices=[t.name for t in TARGETS], action="append",
                        help="only this target (repeatable); default all")
    args = parser.parse_args()
    chosen = [t for t in TARGETS if not args.target or t.name in args.target]
    total_failed = 0
    print(f"{'target':<24} {'cases':>7} {'accepted':>9} {'refused':>8} {'failed':>7}")
    for target in chosen:
        counts, failures = fuzz(target, args.cases)
        cases = sum(counts.values())
        total_failed += counts["failed"]
        print(f"{target.name:<24} {cases:>7} {counts['accepted']:>9} {counts['refused']:>8} "
              f"{counts['failed']:>7}", flush=True)
        for line in failures:
            print(f"    FAILED {line}")
    print(f"failures: {total_failed} (goal 0)")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
