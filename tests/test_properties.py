"""Property-based tests (hypothesis) of the shape parser, every numeric option, the ONNX loader +
profiler on mutated small models and the sweep-plan parser (tests/fuzz_targets.py): a few hundred cases
here; benchmarks/fuzz.py runs at least 10,000 per target. More sweep-plan properties (expansion,
hashes) live with the sweep code (tests/test_sweep_plan.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz_targets import (
    TARGETS,
    Mutation,
    check_input_shape,
    check_mutated_model,
    check_number,
    check_resolution,
    check_sweep_plan,
)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_property(target):
    outcomes = []

    # No example database (.hypothesis/ in the working directory): the suite writes nothing outside tmp.
    @settings(max_examples=target.suite_cases, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(target.strategy())
    def run(case):
        outcomes.append(target.check(case))

    run()
    assert set(outcomes) <= {"accepted", "refused"}
    assert len(outcomes) >= target.suite_cases // 2


@pytest.mark.parametrize("case, outcome", [
    (("batch", "65536"), "accepted"), (("batch", "65537"), "refused"), (("time-limit", "inf"), "refused"),
    (("time-limit", "1e308"), "refused"), (("tdp", "nan"), "refused"), (("budget", "nan"), "refused"),
    (("seed", "0"), "accepted"), (("target-qps", "1e12"), "refused"), (("latency-bound-ms", "1e300"), "refused"),
    (("price", "9" * 400), "refused"),
])
def test_number_checks_tell_accepted_from_refused(case, outcome):
    assert check_number(case) == outcome


@pytest.mark.parametrize("text, outcome", [("224", "accepted"), ("1920x1088", "accepted"), ("4mp", "accepted"),
                                           ("65537", "refused"), ("0x5", "refused"), ("9" * 5000, "refused")])
def test_resolution_checks_tell_accepted_from_refused(text, outcome):
    assert check_resolution(text) == outcome


@pytest.mark.parametrize("spec", ["in\nput=1x3", "a\x85b=0xnan", "x\ty=1x2"])
def test_an_input_name_with_control_characters_is_refused_in_one_line(spec):
    assert check_input_shape(spec) == "refused"  # the name once broke the message over lines


@pytest.mark.parametrize("mutation, outcome", [
    (Mutation("opset", 0, 1), "accepted"),  # opset 7: still a model the profiler reads
    (Mutation("truncate", 40, 0), "refused"),
    (Mutation("input-dim", 2, 0), "refused"),  # a zero dim
    # 2**31 pixels a side: profiling only counts (bench refuses it by the memory estimate, tests/test_memory_estimate.py)
    (Mutation("input-dim", 2, 7), "accepted"),
    # a kernel (or dilation) larger than its input: shape inference's negative dims once made negative MACs
    (Mutation("attribute", 25920, 1502), "accepted"), (Mutation("attribute", 967, 101940), "accepted"),
    (Mutation("attribute", 306, 306), "accepted"),  # Conv group 0 once divided by zero
])
def test_mutation_checks_tell_accepted_from_refused(mutation, outcome, tmp_path):
    assert check_mutated_model(mutation, tmp_path) == outcome


PLAN = '[axes]\nmodels = ["mobilenet_v2"]\n[measure]\n'


@pytest.mark.parametrize("setting, outcome", [
    ("time_limit_s = 86400", "accepted"), ("time_limit_s = 86400.5", "refused"), ("time_limit_s = inf", "refused"),
    ("timeout_s = 1e308", "refused"), ("target_qps = 0.05", "refused"), ("threads = 4096", "accepted"),
    ("seed = 4294967296", "refused"), ("mode = 0", "refused"),  # mode's refusal once lacked "plan [measure]:"
])
def test_sweep_plan_checks_tell_accepted_from_refused(setting, outcome):
    assert check_sweep_plan(PLAN + setting) == outcome
