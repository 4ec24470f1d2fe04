"""The backend seams: a backend defined here (one class, its options dataclass, its prepare hook)
plugs in through the registry and is measured, trialled by auto, asked for precisions, GEMMs and
package versions, with no other file changed; options validation; ``accepts``; close() in a finally."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest

from accelbench.backends import base
from accelbench.backends.auto import AutoOptions
from accelbench.backends.base import (
    Backend,
    BackendConfig,
    GemmKernel,
    NoOptions,
    PreparedModel,
    backend_class,
    backend_names,
    get_backend,
    register_backend,
    registered_backends,
    runnable_precisions,
)
from accelbench.backends.onnxruntime import OnnxRuntimeOptions
from accelbench.backends.openvino import OpenVinoOptions
from accelbench.backends.torch import TorchOptions
from accelbench.errors import UserError
from accelbench.models.loader import LoadedModel, load_model, model_source
from accelbench.precision.calibration import input_specs, synthetic_inputs
from accelbench.results.records import RunInfo
from test_precision import tiny_cnn

EVENTS: list[str] = []  # what the numpy backend's instances did, in order


@dataclass(frozen=True)
class NumpyOptions:
    scale: float = 1.0  # the outputs are the inputs' sums times this
    fail_after_runs: int | None = None  # run() raises from this call on (a crashing timed run)

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise UserError(f"scale: must be a positive number; got {self.scale!r}")


class NumpyBackend(Backend):
    """A 'runtime' in plain numpy: sums its inputs. Runs zoo models and ONNX files on the CPU, at
    fp32 and int16 (a precision no real backend offers, so its effect on the registry is visible)."""

    name = "numpy_test"
    options_class = NumpyOptions
    accepts = ("zoo", "file")
    packages = ("pytest",)
    extra = None

    @classmethod
    def is_available(cls) -> bool:
        return True

    @classmethod
    def supported(cls) -> dict[str, tuple[str, ...]]:
        return {"cpu": ("fp32", "int16")}

    @classmethod
    def gemm_kernel(cls, n: int, precision: str) -> GemmKernel | None:
        if precision != "bf16":
            return None
        a = np.ones((n, n), dtype=np.float32)
        return GemmKernel(precision, n, "numpy-test", "fp32", "test", lambda: a @ a, "a test kernel")

    def prepare(self, model: onnx.ModelProto, calibration_data=None) -> PreparedModel:
        if self.config.precision == "int16":
            return PreparedModel(model, self.name, "cpu", "int16", "numpy-cast",
                                 calibration_count=len(calibration_data or ()))
        return PreparedModel(model, self.name, "cpu", self.config.precision, "none")

    def load(self, model) -> None:
        self.check_runs(self.config.device, self.config.precision)
        self.prepared_model = self.prepared(model)
        self.specs = input_specs(self.prepared_model.proto)
        self.runs = 0
        EVENTS.append("load")

    def prepare_inputs(self, seed: int = 0):
        return synthetic_inputs(self.specs, seed)

    def run(self, inputs):
        self.runs += 1
        if self.options.fail_after_runs is not None and self.runs >= self.options.fail_after_runs:
            raise RuntimeError("the numpy runtime crashed")
        return [np.array([sum(float(a.sum()) for a in inputs.values()) * self.options.scale])]

    def describe(self) -> RunInfo:
        return RunInfo("numpy_test", np.__version__, "cpu", "numpy", 1, self.config.precision,
                       self.config.precision, "test", extra={"model_preparation": self.prepared_model.method})

    def close(self) -> None:
        EVENTS.append("close")


@pytest.fixture
def numpy_backend(monkeypatch):
    """NumpyBackend registered for one test; the registry is as before afterwards."""
    backend_names()  # load the real backends first, so the copy below holds them
    monkeypatch.setattr(base, "_BACKENDS", dict(base._BACKENDS))
    EVENTS.clear()
    return register_backend(NumpyBackend)


def test_a_backend_defined_in_a_test_plugs_in_through_the_registry(numpy_backend):
    assert "numpy_test" in backend_names() and get_backend("numpy_test") is NumpyBackend
    assert runnable_precisions("numpy_test", "cpu", "zoo") == ("fp32", "int16")
    backend = NumpyBackend(BackendConfig(precision="int16"), NumpyOptions(scale=2.0))
    prepared = backend.prepare(tiny_cnn(), [{"input": np.zeros((2, 3, 32, 32), np.float32)}])
    assert (prepared.method, prepared.calibration_count) == ("numpy-cast", 1)
    backend.load(prepared)
    inputs = backend.prepare_inputs(3)
    (out,) = backend.run(inputs)
    assert out[0] == pytest.approx(2.0 * inputs["input"].sum(dtype=np.float64), rel=1e-5)
    assert backend.describe().extra["model_preparation"] == "numpy-cast"
    with pytest.raises(UserError, match="options: the numpy_test backend takes NumpyOptions; got OpenVinoOptions"):
        NumpyBackend(BackendConfig(), OpenVinoOptions())


def test_the_registry_lets_go_of_the_test_backend():
    assert "numpy_test" not in backend_names()
    assert "int16" not in runnable_precisions("auto", "cpu", "zoo")


def test_measure_config_runs_the_test_backend_and_closes_it(numpy_backend, tmp_path):
    from accelbench.measure.environment import runtime_versions
    from accelbench.measure.runner import measure_config, validate_config
    from accelbench.results.records import BenchConfig

    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_cnn(batch=1, size=8), path)
    config = BenchConfig(model=str(path), source="file", backend="numpy_test", precision="int16",
                         time_limit_s=0.3, threads=1)
    validate_config(config)
    record = measure_config(config, run_id="r", log_root=tmp_path)
    assert record.ok and record.run_info.runtime == "numpy_test" and record.latency_ns
    assert record.run_info.extra["model_preparation"] == "numpy-cast"
    # the FP32 reference of the deviation check is built with the same options: the same sums
    assert record.deviation.cosine_similarity == pytest.approx(1.0)
    assert EVENTS == ["load", "load", "close", "close"]  # measured backend, reference, reference, measured
    assert "pytest" in runtime_versions()  # the environment asks the registered backends for packages


@dataclass(frozen=True)
class CrashingOptions(NumpyOptions):
    fail_after_runs: int | None = 3


class CrashingNumpyBackend(NumpyBackend):
    name = "numpy_crash_test"
    options_class = CrashingOptions


def test_close_is_called_when_the_timed_run_raises(numpy_backend, tmp_path):
    from accelbench.measure.runner import measure_config
    from accelbench.results.records import BenchConfig

    register_backend(CrashingNumpyBackend)
    path = tmp_path / "tiny.onnx"
    onnx.save(tiny_cnn(batch=1, size=8), path)
    config = BenchConfig(model=str(path), source="file", backend="numpy_crash_test", time_limit_s=0.3, threads=1)
    with pytest.raises(RuntimeError, match="numpy runtime crashed"):
        measure_config(config, run_id="r", log_root=tmp_path)
    assert EVENTS == ["load", "close"]


def test_accepts_is_honoured_by_the_precision_check_and_by_auto(numpy_backend):
    # zoo models and ONNX files: the numpy backend counts, with its int16; torch modules: it does not.
    assert "int16" in runnable_precisions("auto", "cpu", "zoo")
    assert "int16" in runnable_precisions("auto", "cpu", "file")
    assert "int16" not in runnable_precisions("auto", "cpu", "torch")
    with pytest.raises(UserError, match=r"^model: torch modules given as .* are not supported on numpy_test; "
                                        r"it runs zoo models, ONNX files"):
        NumpyBackend.check_runs("cpu", "fp32", "torch")
    with pytest.raises(UserError, match="zoo models are not supported on torch"):
        backend_class("torch").check_runs("cpu", "fp32", "zoo")

    auto = get_backend("auto")(BackendConfig(precision="int16"), AutoOptions(trial_s=0.01, warmup=0))
    auto.load(load_model("mobilenet_v2", resolution="32"))
    assert auto.describe().extra["auto"]["picked"] == "numpy_test"
    # A torch model is what load_model makes of a torch: spec the user typed (its LoadedModel says so).
    exported_from_torch = LoadedModel("somewhere:factory", tiny_cnn(batch=1, size=8), {"input": (1, 3, 8, 8)},
                                      "torch", 1, torch_spec="torch:somewhere:factory")
    auto = get_backend("auto")(BackendConfig(precision="int16"), AutoOptions(trial_s=0.01))
    with pytest.raises(UserError, match="auto found no backend that runs this model.*not supported on numpy_test"):
        auto.load(exported_from_torch)
    # An ONNX graph whose metadata names a torch module is an ONNX file (issue 10): nothing is imported.
    naming_a_module = tiny_cnn(batch=1, size=8)
    entry = naming_a_module.metadata_props.add()
    entry.key, entry.value = "accelbench.torch_spec", "torch:somewhere:factory"
    auto = get_backend("auto")(BackendConfig(precision="int16"), AutoOptions(trial_s=0.01, warmup=0))
    auto.load(naming_a_module)
    assert auto.describe().extra["auto"]["picked"] == "numpy_test"


def test_host_gemm_asks_every_backend_and_keeps_the_fastest(numpy_backend):
    from accelbench.measure.gemm_peak import measure_host_gemm

    measured = {m.precision: m for m in measure_host_gemm(n=32, budget_s=0.01, precisions=("bf16", "fp16"))}
    assert set(measured) == {"bf16"}  # fp16 is not a GEMM precision
    bf16 = measured["bf16"]
    # openvino's kernel is asked too (it may not run bf16 here); the note names every one that ran
    assert "fastest of" in bf16.note and "numpy-test: " in bf16.note
    if backend_class("openvino").gemm_kernel(32, "bf16").run is not None:
        assert "openvino" in bf16.note
    assert bf16.ops_per_s == pytest.approx(2 * 32**3 / (min(bf16.run_times_ns) / 1e9))


@pytest.mark.parametrize("build, message", [
    (lambda: OnnxRuntimeOptions(device_id=-1), "device_id: -1 must be an integer >= 0"),
    (lambda: OnnxRuntimeOptions(calibration_count=0), "calibration_count: 0 must be a positive integer"),
    (lambda: OpenVinoOptions(performance_hint="fast"),
     "performance_hint: 'fast' is not allowed; choose one of: LATENCY, THROUGHPUT"),
    (lambda: OpenVinoOptions(calibration_count="many"), "calibration_count: 'many' is not a whole number"),
    (lambda: TorchOptions(resolution="huge"), "resolution"),
    (lambda: AutoOptions(trial_s=0), "trial_s: must be a positive number of seconds; got 0"),
    (lambda: AutoOptions(warmup=-1), "warmup: -1 must be an integer >= 0"),
    (lambda: AutoOptions(candidates=("tvm",)), "candidates: 'tvm' is not allowed; choose one of: onnxruntime"),
    (lambda: AutoOptions(candidates=("auto",)), "candidates: 'auto' is not allowed"),
    (lambda: AutoOptions(candidates=()), "candidates: name at least one backend"),
])
def test_options_are_validated_when_built(build, message):
    with pytest.raises(UserError) as info:
        build()
    assert message in str(info.value) and len(str(info.value).splitlines()) == 1


def test_options_are_normalised():
    assert OpenVinoOptions(performance_hint="throughput").performance_hint == "THROUGHPUT"
    assert AutoOptions(candidates="openvino").candidates == ("openvino",)
    assert OnnxRuntimeOptions(trt_engine_cache_path=Path("/tmp/x")).trt_engine_cache_path == "/tmp/x"
    assert TorchOptions(resolution="64").resolution == "64"


def test_register_backend_checks_the_class_level_facts(monkeypatch):
    monkeypatch.setattr(base, "_BACKENDS", dict(base._BACKENDS))

    @dataclass
    class Mutable:
        x: int = 0

    for facts, message in (({"options_class": Mutable}, "frozen dataclass"),
                           ({"accepts": ("tensorflow",)}, "model sources"),
                           ({"accepts": ()}, "model sources"),
                           ({"packages": "numpy"}, "tuple of pip distribution")):
        broken = type("Broken", (NumpyBackend,), {"name": "broken", **facts})
        with pytest.raises(TypeError, match=message):
            register_backend(broken)
    assert "broken" not in base._BACKENDS


def test_each_backend_names_an_extra_of_pyproject_and_real_options():
    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for cls in registered_backends():
        assert cls.extra is None or cls.extra in extras, cls.name
        assert cls.options_class is NoOptions or dataclasses.is_dataclass(cls.options_class)
        cls.options_class()  # the defaults are valid
    assert not backend_class("onnxruntime").delegates and backend_class("auto").delegates


def test_model_source_of_what_a_backend_is_handed():
    proto = tiny_cnn(batch=1, size=8)
    assert model_source(proto) == "file"
    assert model_source("torch:pkg.mod:factory") == "torch"
    assert model_source(load_model("mobilenet_v2", resolution="32", with_weights=False)) == "zoo"
    entry = proto.metadata_props.add()
    entry.key, entry.value = "accelbench.torch_spec", "torch:pkg.mod:factory"
    # Issue 10: metadata inside a model file never selects code to run; a graph is a file whatever it names.
    assert model_source(proto) == "file"


def test_a_model_prepared_for_another_configuration_is_refused():
    pytest.importorskip("onnxruntime")
    ort = get_backend("onnxruntime")
    prepared = ort(BackendConfig()).prepare(tiny_cnn(batch=1, size=8))
    with pytest.raises(UserError, match="prepared for onnxruntime cpu fp32; this backend is onnxruntime cpu int8"):
        ort(BackendConfig(precision="int8")).load(prepared)


def test_gpu_catalog_lookup_matches_whole_words():
    from accelbench.measure.runner import gpu_catalog_spec

    assert gpu_catalog_spec("NVIDIA L4").id == "l4"
    l40s = gpu_catalog_spec("NVIDIA L40S")
    assert l40s is None or l40s.id != "l4"  # the L4's peak must not stand for an L40S
    assert gpu_catalog_spec("NVIDIA H100 80GB HBM3").id == "h100"
