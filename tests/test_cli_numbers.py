"""Issue 10, class 2: absurd numbers. Every numeric option has a documented finite range (docs/cli.md
is checked against the one table), the values the issue found (inf, 1e308, 1e12 queries/s, 1e-9
queries/s, a 1e300 ms bound) are refused with one line, typed configs refuse inf and nan too, a quick
server run asked for far more than the model sustains is refused instead of queueing for minutes,
sizes have the bounds of --resolution, and click's own errors are one line."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from accelbench.cli.common import NUMBER_OPTIONS, parse_number
from accelbench.errors import UserError, one_line
from accelbench.measure.loadgen import SERVER_OVERLOAD_LIMIT, check_server_rate, run_scenario
from accelbench.results.records import BenchConfig
from accelbench.shapes import MAX_SIDE, parse_dims, parse_input_shapes, parse_resolution
from cli_helpers import cli_exit_code

DOCS = Path(__file__).parents[1] / "docs" / "cli.md"


def test_docs_list_every_numeric_option_with_its_range():
    rows = dict(re.findall(r"^\| `--([a-z-]+)` \| ([^|]+?) \|", DOCS.read_text(), re.M))
    assert rows == {name: rule.allowed for name, rule in NUMBER_OPTIONS.items()}


@pytest.mark.parametrize("argv, fragment", [
    (["bench", "resnet50", "--time-limit", "1e308"], "time-limit: must be a positive number of seconds"),
    (["bench", "resnet50", "--timeout", "inf"], "timeout: must be a positive number of seconds"),
    (["bench", "resnet50", "--latency-bound-ms", "inf"], "latency-bound-ms: must be a number of milliseconds"),
    (["bench", "resnet50", "--latency-bound-ms", "1e300"], "latency-bound-ms: must be a number of milliseconds"),
    (["bench", "resnet50", "--price", "inf"], "price: must be a positive number of US dollars"),
    (["bench", "resnet50", "--tdp", "inf"], "tdp: must be a positive number of watts"),
    (["tops", "host", "--budget", "nan"], "budget: must be a positive number of seconds"),
    (["bench", "resnet50", "--target-qps", "1e12"], "target-qps: must be a number of queries per second from 0.1"),
    (["bench", "resnet50", "--target-qps", "1e-9"], "target-qps: must be a number of queries per second from 0.1"),
    (["bench", "resnet50", "--batch", "1000000000"], "batch: must be a positive integer, at most 65,536"),
    (["bench", "resnet50", "--batch", "9" * 500], "batch: must be a positive integer, at most 65,536"),
])
def test_the_issues_numbers_are_refused_in_one_line(argv, fragment, capsys):
    assert cli_exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {fragment}"), err


def test_every_rule_accepts_its_bounds_and_refuses_just_outside():
    for name, rule in NUMBER_OPTIONS.items():
        if not rule.above:
            assert parse_number(name, str(rule.minimum if rule.kind is float else int(rule.minimum))) == rule.minimum
        assert parse_number(name, str(rule.maximum if rule.kind is float else int(rule.maximum))) == rule.maximum
        beyond = rule.maximum * 1.001 + 1
        with pytest.raises(UserError, match=f"^{name}: "):
            parse_number(name, str(int(beyond)) if rule.kind is int else repr(beyond))


@pytest.mark.parametrize("field, value", [("time_limit_s", math.inf), ("time_limit_s", math.nan),
                                          ("target_qps", math.inf), ("price_usd", math.inf), ("tdp_w", math.nan),
                                          ("price_per_hour_usd", -1.0)])
def test_typed_configs_refuse_infinite_numbers_too(field, value):
    with pytest.raises(UserError, match="must be a positive number"):
        BenchConfig(model="resnet50", **{field: value})


def test_a_server_rate_far_above_what_the_model_sustains_is_refused():
    check_server_rate(10 * 99.0, 100.0)  # up to the limit: allowed (LoadGen says INVALID if it must)
    with pytest.raises(UserError, match=r"target-qps: 1,001 queries/s is more than 10x what this model sustains here "
                                        r"\(about 100/s by the warm-up\).*use at most 1,000"):
        check_server_rate(1001.0, 100.0)
    assert SERVER_OVERLOAD_LIMIT == 10.0


def test_run_scenario_refuses_the_overload_before_loadgen_runs(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    calls = []

    def slow(batch):  # "sustains" 1e9 / 10 ms = 100 queries/s
        calls.append(batch)

    with pytest.raises(UserError, match="target-qps: 1e\\+06 queries/s is more than 10x"):
        run_scenario(slow, scenario="server", target_qps=1e6, log_dir=tmp_path, _expected_latency_ns=10_000_000)
    assert not calls and not list(tmp_path.iterdir())


@pytest.mark.parametrize("text", ["1x3x100000x100000", f"1x{MAX_SIDE + 1}", "1x" + "9" * 30, "1x2x3x4x5x6x7x8x9"])
def test_input_shapes_get_the_bounds_of_resolution(text):
    with pytest.raises(UserError, match="input-shape x: .*(outside the bounds|not a shape)"):
        parse_input_shapes([f"x={text}"])
    assert parse_dims(f"1x3x{MAX_SIDE}x{MAX_SIDE}") == (1, 3, MAX_SIDE, MAX_SIDE)


def test_a_resolution_of_thousands_of_digits_is_a_user_error():
    with pytest.raises(UserError, match="has a side outside 1..65536"):
        parse_resolution("9" * 5000)


@pytest.mark.parametrize("argv, message", [
    (["bench", "--bogus"], "error: No such option '--bogus' (see accelbench bench --help)"),
    (["bench"], "error: Missing argument 'MODEL' (see accelbench bench --help)"),
    (["no-such-command"], "error: No such command 'no-such-command' (see accelbench --help)"),
])
def test_clicks_own_errors_are_one_line(argv, message, capsys):
    assert cli_exit_code(argv) == 2
    assert capsys.readouterr().err == message + "\n"


def test_runtime_messages_keep_their_useful_line():
    openvino = ("Exception from src/inference/src/cpp/core.cpp:84:\nException from src/inference/src/dev/plugin.cpp:54:\n"
                "Check 'false' failed at src/plugins/intel_cpu/src/plugin.cpp:12:\n"
                "Unsupported precision int4 for the CPU plugin\n\n")
    assert one_line(RuntimeError(openvino)) == "Unsupported precision int4 for the CPU plugin"
    assert one_line("VCL loading failed. Error: Exception from src/a.cpp:22:\nCannot load x.so") == \
        "VCL loading failed. Error: Cannot load x.so"
    assert one_line(ValueError()) == "ValueError" and one_line("a\nb") == "a"
    assert len(one_line("x" * 5000)) == 500


def test_a_real_openvino_error_keeps_its_reason():
    """OpenVINO's own message starts with "Exception from src/...cpp:NN:" lines (one per C++ frame)."""
    ov = pytest.importorskip("openvino")
    with pytest.raises(RuntimeError) as caught:
        ov.Core().get_property("NOPE", "FULL_DEVICE_NAME")
    assert str(caught.value).startswith("Exception from src/")
    assert one_line(caught.value) == 'Device with "NOPE" name is not registered in the OpenVINO Runtime'
