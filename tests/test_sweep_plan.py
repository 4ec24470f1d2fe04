"""Sweep plans: parsing, one-line refusals before anything runs, expansion (exclude/include,
dropped combinations), stable configuration hashes, resume decisions and estimates. Property
tests (hypothesis) drive the parser with generated plans: a few hundred cases."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.results.records import BenchConfig
from accelbench.results.store import ConfigOutcome
from accelbench.sweep.devices import DeviceId, parse_device_id, resolve_devices, slug
from accelbench.sweep.estimate import estimate_s, sweep_eta_s
from accelbench.sweep.identity import config_hash, plan_key
from accelbench.sweep.plan import AXES, MEASURE_KEYS, PLAN_KEYS, parse_plan
from accelbench.sweep.resume import FAILED, IN_SWEEP, MEASURE, MEASURED, decide

CPU = DeviceId("cpu", "test-cpu")
GPU = DeviceId("gpu", "test-gpu")
DEVICES = (CPU, GPU)


def _plan(text: str, base_dir="."):
    return parse_plan(text, base_dir=base_dir)


def _refusal(text: str) -> str:
    with pytest.raises(UserError) as exc:
        _plan(text).expand(DEVICES)
    message = str(exc.value)
    assert "\n" not in message
    return message


# -- reading and refusing ------------------------------------------------------------------------------


def test_defaults_and_normalized_values(tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(b"not read while planning")
    plan = _plan('[axes]\nmodels = ["ResNet50", "net.onnx"]\nresolutions = [224, "1920x1088", "2MP"]\n'
                 'precisions = ["float32", "int8"]', base_dir=tmp_path)
    assert plan.name == "sweep" and plan.axes.models == ("resnet50", str(model))
    assert plan.axes.resolutions == ("224", "1920x1088", "2mp")
    assert plan.axes.precisions == ("fp32", "int8")
    assert (plan.axes.batches, plan.axes.backends, plan.axes.scenarios, plan.axes.devices) == (
        (1,), ("onnxruntime",), ("single-stream",), ("cpu",))
    items = plan.expand(DEVICES).items
    assert len(items) == 2 * 3 * 2
    assert {i.config.source for i in items} == {"zoo", "file"} and {i.device for i in items} == {CPU}


@pytest.mark.parametrize("text, expected", [
    ('[axes]\nmodels = ["resnet50"]\nprecison = ["int8"]',
     "plan [axes]: unknown key 'precison' (did you mean 'precisions'?); allowed: models, resolutions"),
    ('[axis]\nmodels = ["resnet50"]', "plan (top level): unknown key 'axis' (did you mean 'axes'?)"),
    ('[axes]\nresolutions = ["224"]', "plan [axes]: 'models' is missing"),
    ('[axes]\nmodels = ["resnet5"]', "plan [axes]: models: 'resnet5' is neither a zoo model nor an existing file"
                                     " (did you mean 'resnet50'?)"),
    ('[axes]\nmodels = ["resnet50"]\nprecisions = ["fp33"]', "plan [axes]: precisions: precision: 'fp33' is not"
                                                             " allowed; choose one of: fp32"),
    ('[axes]\nmodels = ["resnet50"]\nscenarios = ["single_stream"]',
     "scenario: 'single_stream' is not allowed (did you mean 'single-stream'?); choose one of: single-stream"),
    ('[axes]\nmodels = ["resnet50"]\nbackends = ["onnxrt"]', "backend: 'onnxrt' is not allowed"),
    ('[axes]\nmodels = ["resnet50"]\nbatches = [0]', "plan [axes]: batches: batch"),
    ('[axes]\nmodels = ["resnet50"]\nbatches = [1.5]', "plan [axes]: batches: batch: must be a positive integer"),
    ('[axes]\nmodels = ["resnet50"]\nresolutions = ["huge"]', "plan [axes]: resolutions: resolution: 'huge' is not"),
    ('[axes]\nmodels = []', "plan [axes]: models is empty"),
    ('[axes]\nmodels = ["resnet50"]\ndevices = ["tpu"]', "'tpu' is not a device (did you mean 'gpu'?); give one of: all, cpu, gpu"),
    ('[axes]\nmodels = ["resnet50"]\ndevices = ["cpu:Big CPU"]', "device: name 'Big CPU' is not an id"),
    ('[axes]\nmodels = ["resnet50"]\ndevices = ["cpu:other"]', "devices: 'cpu:other' is not on this machine;"
                                                              " available: cpu:test-cpu, gpu:test-gpu"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\ntime_limit = 2', "plan [measure]: unknown key 'time_limit'"
                                                                " (did you mean 'time_limit_s'?)"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\ntime_limit_s = -1', "time_limit_s must be a positive finite number"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\nlatency_bound_ms = inf', "latency_bound_ms must be a positive finite"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\ntimeout_s = nan', "timeout_s must be a positive finite number"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\ntime_limit_s = 1e308',
     "plan [measure]: time_limit_s must be a positive number of seconds, at most 86,400 (as --time-limit); got 1e+308"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\ntarget_qps = 1e12', "target_qps must be a number of queries per second"
                                                                     " from 0.1 to 1,000,000 (as --target-qps)"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\nthreads = 100000', "threads must be a positive integer, at most 4,096"),
    ('[axes]\nmodels = ["resnet50"]\n[measure]\nmode = "fast"', "mode: 'fast' is not allowed"),
    ('[axes]\nmodels = ["resnet50"]\n[[exclude]]\nmodel = "resnet50"', "plan [[exclude]] #1: unknown key 'model'"
                                                                     " (did you mean 'models'?)"),
    ('[axes]\nmodels = ["resnet50"]\n[[include]]', "plan [[include]] #1: empty"),
    ('[axes]\nmodels = ["yolov3"]\nresolutions = ["100"]', "plan: yolov3 cannot take resolution 100"),
    ('[axes\nmodels = 1', "plan: not valid TOML"),
])
def test_refusals_are_one_line_and_name_what_is_allowed(text, expected):
    assert expected in _refusal(text)


def test_a_plan_file_that_is_missing_or_unreadable(tmp_path):
    from accelbench.sweep.plan import load_plan

    with pytest.raises(UserError, match="is not a file; give a sweep plan"):
        load_plan(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="cannot be read"):
        load_plan(tmp_path / "bin.toml")


# -- expansion -------------------------------------------------------------------------------------------


def test_exclude_include_and_dropped_combinations():
    plan = _plan("""
[axes]
models = ["resnet50", "mobilenet_v2"]
batches = [1, 8]
precisions = ["fp32", "int8"]
scenarios = ["single-stream", "offline"]
devices = ["all"]
[[exclude]]
models = "mobilenet_v2"
precisions = "int8"
[[exclude]]
devices = "gpu"
precisions = "int8"
[[include]]
models = "yolov3"
resolutions = "96"
scenarios = "offline"
devices = "cpu:test-cpu"
""")
    expansion = plan.expand(DEVICES)
    combos = {(i.config.model, i.config.batch, i.config.precision, i.config.scenario, str(i.device))
              for i in expansion.items}
    assert ("mobilenet_v2", 1, "int8", "offline", "cpu:test-cpu") not in combos
    assert not any(c[2] == "int8" and c[4].startswith("gpu") for c in combos)
    assert ("resnet50", 8, "int8", "offline", "cpu:test-cpu") in combos
    assert ("yolov3", 1, "int8", "offline", "cpu:test-cpu") in combos  # excludes do not apply to includes
    assert not any(c[0] == "yolov3" and c[4].startswith("gpu") for c in combos)
    assert not any(c[3] == "single-stream" and c[1] != 1 for c in combos)
    assert dict(expansion.dropped) == {"single-stream measures batch 1 (use offline for a batch)": 5}
    assert len(combos) == len(expansion.items)
    gpu = next(i for i in expansion.items if i.device == GPU)
    assert gpu.config.device == "cuda"  # the backend's name for it


def test_torch_backend_combinations_with_zoo_models_are_dropped():
    plan = _plan('[axes]\nmodels = ["resnet50", "torch:torchvision.models:resnet18"]\nbackends = ["onnxruntime", "torch"]')
    items = plan.expand((CPU,)).items
    assert {(i.config.model.split(":")[0], i.config.backend) for i in items} == {
        ("resnet50", "onnxruntime"), ("torch", "onnxruntime"), ("torch", "torch")}
    assert {i.config.source for i in items} == {"zoo", "torch"}


def test_measure_takes_the_conventions_of_bench(tmp_path):
    """[measure] streams/iterations/min_duration_s/inputs/calibration_data: streams reach the throughput
    scenarios, calibration data the INT8 configurations; data paths are relative to the plan file."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "frames.npz").write_bytes(b"read when measured")
    (tmp_path / "calib").mkdir()
    plan = _plan('[axes]\nmodels = ["resnet50"]\nprecisions = ["fp32", "int8"]\nscenarios = ["single-stream", "offline"]\n'
                 '[measure]\nstreams = 4\niterations = 200\nmin_duration_s = 3\ninputs = "data/frames.npz"\n'
                 'calibration_data = "calib"\n', base_dir=tmp_path)
    configs = {(i.config.precision, i.config.scenario): i.config for i in plan.expand((CPU,)).items}
    assert {k: (c.streams, c.calibration_data is not None) for k, c in configs.items()} == {
        ("fp32", "single-stream"): (1, False), ("fp32", "offline"): (4, False),
        ("int8", "single-stream"): (1, True), ("int8", "offline"): (4, True)}
    assert {(c.iterations, c.min_duration_s, c.inputs) for c in configs.values()} == {
        (200, 3.0, str(tmp_path / "data" / "frames.npz"))}
    assert configs["int8", "offline"].calibration_data == str(tmp_path / "calib")
    auto = _plan('[axes]\nmodels = ["resnet50"]\nscenarios = "offline"\n[measure]\nstreams = "Auto"')
    assert auto.expand((CPU,)).items[0].config.streams == "auto"


def test_measure_bounds_are_the_clis():
    from accelbench.cli.common import NUMBER_OPTIONS
    from accelbench.sweep.plan import MEASURE_BOUNDS

    for key, option in (("streams", "streams"), ("iterations", "iterations"), ("min_duration_s", "min-duration")):
        rule = NUMBER_OPTIONS[option]
        assert MEASURE_BOUNDS[key] == (rule.kind, rule.minimum, rule.maximum, rule.above), key


@pytest.mark.parametrize("measure, expected", [
    ("streams = 0", "plan [measure]: streams must be an integer from 1 to 1,024 or \"auto\"; got 0"),
    ("streams = 1025", "streams must be an integer from 1 to 1,024"),
    ('streams = "many"', "streams must be an integer from 1 to 1,024 or \"auto\"; got 'many'"),
    ("streams = 2.0", "streams must be an integer"),
    ("iterations = 0", "plan [measure]: iterations must be an integer from 1 to 1,000,000,000; got 0"),
    ("iterations = true", "iterations must be an integer"),
    ("min_duration_s = 0", "plan [measure]: min_duration_s must be a number above 0, at most 86,400; got 0"),
    ("min_duration_s = 86401", "min_duration_s must be a number above 0"),
    ("min_duration_s = nan", "min_duration_s must be a number above 0"),
    ('inputs = "missing.npz"', "plan [measure]: inputs: 'missing.npz' does not exist (relative paths are relative"
                               " to the plan file"),
    ("calibration_data = 3", "plan [measure]: calibration_data must be the path of an .npz/.npy file or a folder"),
    ('mode = "mlperf"\niterations = 10', "plan [measure]: iterations is not for mode \"mlperf\""),
    ('mode = "mlperf"\nmin_duration_s = 10', "plan [measure]: min_duration_s is not for mode \"mlperf\""),
])
def test_measure_conventions_are_checked_when_the_plan_is_read(measure, expected):
    assert expected in _refusal(f'[axes]\nmodels = ["resnet50"]\n[measure]\n{measure}\n')


def test_devices_groups_resolve_against_the_executor():
    assert resolve_devices(["all"], DEVICES, "x") == DEVICES
    assert resolve_devices(["gpu", "cpu:test-cpu"], DEVICES, "x") == (GPU, CPU)
    with pytest.raises(UserError, match="devices: 'gpu' matches no device on the cluster; available: cpu:test-cpu"):
        resolve_devices(["gpu"], (CPU,), "the cluster")
    assert slug("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz") == "intel-xeon-platinum-8480plus"
    assert slug("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"
    assert str(parse_device_id("GPU:nvidia-l4")) == "gpu:nvidia-l4"
    assert CPU.resource == "accelbench/cpu:test-cpu"


# -- hashes --------------------------------------------------------------------------------------------


def test_configuration_hashes_are_stable_and_cover_what_is_measured(tmp_path):
    # Pinned: a change of this value re-measures every stored sweep; change HASH_VERSION on purpose only.
    assert config_hash(BenchConfig(model="resnet50", resolution="224"), "cpu:amd-epyc") == "e8ff0ea567721e07"
    base = BenchConfig(model="resnet50", resolution="224")
    assert config_hash(BenchConfig(model="resnet50", resolution="224", time_limit_s=10), "cpu:x") == \
        config_hash(base, "cpu:x")  # a default given explicitly is the same configuration
    different = [BenchConfig(model="resnet50", resolution="224", precision="int8"),
                 BenchConfig(model="resnet50", resolution="224", time_limit_s=2.0),
                 BenchConfig(model="resnet50", resolution="256")]
    hashes = {config_hash(c, "cpu:x") for c in different} | {config_hash(base, "cpu:x"), config_hash(base, "cpu:y")}
    assert len(hashes) == 5
    # an ONNX file is its bytes, not its path
    a, b = tmp_path / "a.onnx", tmp_path / "sub" / "b.onnx"
    b.parent.mkdir()
    a.write_bytes(b"model bytes")
    b.write_bytes(b"model bytes")
    file_hash = lambda p: config_hash(BenchConfig(model=str(p), source="file"), "cpu:x")  # noqa: E731
    assert file_hash(a) == file_hash(b)
    c = tmp_path / "c.onnx"
    c.write_bytes(b"other model")
    assert file_hash(c) != file_hash(a)
    # the conventions of issue 13 change a hash only when set; the user's data by its bytes, as a model file
    assert config_hash(BenchConfig(model="resnet50", resolution="224", streams=1, iterations=None,
                                   min_duration_s=None, inputs=None), "cpu:amd-epyc") == "e8ff0ea567721e07"
    assert len({config_hash(BenchConfig(model="resnet50", resolution="224", **kw), "cpu:x") for kw in (
        {}, {"streams": 2}, {"streams": "auto"}, {"iterations": 100}, {"min_duration_s": 5.0})}) == 5
    data = lambda path, **kw: config_hash(  # noqa: E731
        BenchConfig(model="resnet50", precision="int8", **{kw.get("field", "inputs"): str(path)}), "cpu:x")
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.npy").write_bytes(b"frames")
        (tmp_path / folder / "notes.txt").write_text(folder)  # not data: not read, not hashed
    assert data(tmp_path / "d1") == data(tmp_path / "d2") != data(a)
    assert data(a) == data(b) and data(a) != data(a, field="calibration_data")
    (tmp_path / "d2" / "b.npz").write_bytes(b"more frames")
    assert data(tmp_path / "d2") != data(tmp_path / "d1")
    assert plan_key(["b", "a"], rerun=False, retry_failed=False) == plan_key(["a", "b", "a"], rerun=False,
                                                                             retry_failed=False)
    assert plan_key(["a"], rerun=True, retry_failed=False) != plan_key(["a"], rerun=False, retry_failed=False)


# -- resume decisions and estimates ---------------------------------------------------------------------


def test_resume_decisions():
    items = _plan('[axes]\nmodels = ["resnet50"]\nresolutions = ["32", "48", "64", "96"]').expand((CPU,)).items
    h = [i.config_hash for i in items]
    history = [ConfigOutcome(h[0], "old", "r0", "ok", "1"), ConfigOutcome(h[1], "old", "r1", "failed", "2"),
               ConfigOutcome(h[2], "this", "r2", "failed", "3")]
    actions = [d.action for d in decide(items, history, sweep_id="this")]
    assert actions == [MEASURED, FAILED, IN_SWEEP, MEASURE]
    assert [d.action for d in decide(items, history, sweep_id="this", retry_failed=True)] == [
        MEASURED, MEASURE, IN_SWEEP, MEASURE]
    rerun = decide(items, history, sweep_id="this", rerun=True)
    assert [d.action for d in rerun] == [MEASURE, MEASURE, IN_SWEEP, MEASURE]
    assert [d.why for d in rerun] == ["rerun", "rerun", "failed in this sweep", "new"]


def test_estimates_use_earlier_results_and_parallel_devices():
    plan = _plan('[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32"]\nprecisions = ["fp32", "int8"]\n'
                 '[measure]\ntime_limit_s = 2.0')
    fp32, int8 = plan.expand((CPU,)).items
    assert estimate_s(int8) > estimate_s(fp32) > 5.0  # calibration costs
    assert estimate_s(fp32) <= 5.0 + 2.0 + 1.0
    from accelbench.results.records import BenchRecord

    earlier = BenchRecord(config=fp32.config, run_id="x", latency_ns=(1,), measure_wall_ns=500_000_000)
    assert estimate_s(fp32, earlier) == pytest.approx(estimate_s(fp32) - min(2.0, estimate_s(fp32) - 5.0) + 0.6,
                                                      rel=0.2)
    estimates = {fp32.config_hash: 10.0, int8.config_hash: 20.0}
    assert sweep_eta_s([fp32, int8], estimates, {CPU: 1}) == 30.0
    assert sweep_eta_s([fp32, int8], estimates, {CPU: 2}) == 15.0


def test_estimates_follow_iterations_min_duration_and_auto_streams():
    def item(measure: str, scenario: str = "single-stream"):
        return _plan(f'[axes]\nmodels = ["mobilenet_v2"]\nresolutions = ["32"]\nscenarios = ["{scenario}"]\n'
                     f'[measure]\ntime_limit_s = 2.0\n{measure}').expand((CPU,)).items[0]

    base = estimate_s(item(""))
    assert 5.0 + 30.0 <= estimate_s(item("min_duration_s = 30")) <= 5.0 + 30.0 + 1.0  # set-up + at least 30 s
    # a fixed count runs to its end: 10^6 queries take longer than the 2 s time limit
    assert estimate_s(item("iterations = 1000000")) > base + 10
    assert estimate_s(item('streams = "auto"', "offline")) > estimate_s(item("streams = 2", "offline")) + 2


# -- property tests --------------------------------------------------------------------------------------

ZOO = ("resnet50", "mobilenet_v2", "resnet18")
SIZES = ("32", "64", "96", "128x96", "default")
PRECISIONS = ("fp32", "int8", "bf16")
SCENARIOS = ("single-stream", "offline")
BACKENDS = ("onnxruntime", "openvino")


def _values(options, min_size=1):
    return st.lists(st.sampled_from(options), min_size=min_size, max_size=len(options), unique=True)


axes_strategy = st.fixed_dictionaries(
    {"models": _values(ZOO)},
    optional={"resolutions": _values(SIZES), "batches": _values((1, 2, 4)), "precisions": _values(PRECISIONS),
              "scenarios": _values(SCENARIOS), "backends": _values(BACKENDS),
              "devices": _values(("cpu", "gpu", "all", "cpu:test-cpu"))})
rule_strategy = st.dictionaries(st.sampled_from(("models", "batches", "precisions", "scenarios")),
                                st.one_of(st.sampled_from(ZOO + (1, 4) + PRECISIONS + SCENARIOS)),
                                min_size=1, max_size=3).filter(lambda r: all(_rule_value_fits(k, v) for k, v in r.items()))


def _rule_value_fits(axis, value):
    return {"models": ZOO, "batches": (1, 2, 4), "precisions": PRECISIONS, "scenarios": SCENARIOS}[axis].__contains__(value)


def _toml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value) if isinstance(value, int) else f'"{value}"'


def _toml(axes: dict, excludes: list, includes: list, order_seed: int = 0) -> str:
    keys = list(axes)
    if order_seed:
        keys = keys[order_seed % len(keys):] + keys[:order_seed % len(keys)]
    lines = ["[axes]"] + [f"{k} = {_toml_value(axes[k])}" for k in keys]
    for kind, rules in (("exclude", excludes), ("include", includes)):
        for rule in rules:
            lines.append(f"[[{kind}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"


def _reference(axes: dict, excludes: list, includes: list) -> set:
    """The expansion computed by brute force from the plain data (devices: cpu only, so 'gpu' alone is refused)."""
    full = {"resolutions": ["default"], "batches": [1], "precisions": ["fp32"], "backends": ["onnxruntime"],
            "scenarios": ["single-stream"], **axes}
    names = ("models", "resolutions", "batches", "precisions", "backends", "scenarios")

    def product(values):
        return {c for c in itertools.product(*(values[n] for n in names))}

    def matches(combo, rule):
        return all(combo[names.index(k)] == v for k, v in rule.items())

    combos = {c for c in product(full) if not any(matches(c, r) for r in excludes)}
    for rule in includes:
        combos |= product({**full, **{k: [v] for k, v in rule.items()}})
    return {c for c in combos if not (c[5] == "single-stream" and c[2] != 1)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(axes=axes_strategy, excludes=st.lists(rule_strategy, max_size=2), includes=st.lists(rule_strategy, max_size=2),
       order_seed=st.integers(0, 6))
def test_property_expansion_matches_the_brute_force_and_hashes_are_stable(axes, excludes, includes, order_seed):
    axes = {**axes, "devices": ["cpu"]}
    plan = _plan(_toml(axes, excludes, includes))
    items = plan.expand((CPU,)).items
    got = {(i.config.model, i.config.resolution or "default", i.config.batch, i.config.precision, i.config.backend,
            i.config.scenario) for i in items}
    assert got == _reference({k: v for k, v in axes.items() if k != "devices"}, excludes, includes)
    assert len(got) == len(items)  # no duplicates
    hashes = [i.config_hash for i in items]
    assert len(set(hashes)) == len(hashes)
    # the same plan with its keys in another order expands to the same hashes, in the same plan order
    again = _plan(_toml(axes, excludes, includes, order_seed)).expand((CPU,)).items
    assert sorted(i.config_hash for i in again) == sorted(hashes)


identifier = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=14)


@settings(max_examples=100, deadline=None)
@given(section=st.sampled_from(("axes", "measure", "top", "exclude")), key=identifier)
def test_property_unknown_keys_are_refused_with_the_allowed_names(section, key):
    allowed = {"axes": AXES, "measure": MEASURE_KEYS, "top": PLAN_KEYS, "exclude": AXES}[section]
    if key in allowed:
        return
    body = {"axes": f'[axes]\nmodels = ["resnet50"]\n{key} = 1\n',
            "measure": f'[axes]\nmodels = ["resnet50"]\n[measure]\n{key} = 1\n',
            "top": f'{key} = 1\n[axes]\nmodels = ["resnet50"]\n',
            "exclude": f'[axes]\nmodels = ["resnet50"]\n[[exclude]]\n{key} = 1\n'}[section]
    message = _refusal(body)
    assert f"unknown key {key!r}" in message and "allowed: " + ", ".join(allowed) in message


@settings(max_examples=100, deadline=None)
@given(axis=st.sampled_from(("precisions", "scenarios", "backends", "devices")),
       value=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12))
def test_property_bad_values_are_refused_before_anything_runs(axis, value):
    valid = {"precisions": ("fp32", "fp16", "bf16", "int16", "int8", "float32", "float16", "half", "bfloat16", "i8"),
             "scenarios": ("single-stream", "multi-stream", "offline", "server"),
             "backends": ("onnxruntime", "openvino", "torch", "auto"), "devices": ("cpu", "gpu", "all")}[axis]
    if value.strip().lower() in valid:
        return
    message = _refusal(f'[axes]\nmodels = ["resnet50"]\n{axis} = ["{value}"]\n')
    assert message.startswith(f"plan [axes]: {axis}: ") and repr(value) in message
