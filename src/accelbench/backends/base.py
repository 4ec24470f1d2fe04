"""The one interface every runtime implements: prepare -> load -> prepare inputs -> run -> describe.

A backend is one module in this package: a ``Backend`` subclass registered with
``@register_backend``, its frozen options dataclass (imports nothing heavy), its ``prepare`` hook
(what the FP32 graph becomes for the configured precision: conversion, quantization, runtime
hints) and class-level facts that the rest of the code asks instead of naming it: which model
sources it ``accepts``, which pip ``packages`` the environment records, which ``extra`` installs
it. The runtime itself is imported only inside the backend module, when the backend is used.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import os
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import onnx
import psutil

from accelbench.errors import BackendUnavailable, ModelError, UserError, choice_error
from accelbench.precision import PRECISIONS, parse_precision
from accelbench.results.layers import RuntimeProfile
from accelbench.results.records import RunInfo
from accelbench.sources import MODEL_SOURCES


@dataclass(frozen=True)
class BackendConfig:
    """What every backend shares: where, at which precision, threads, batch, and how many inference
    requests it keeps in flight (``streams``: each backend maps it onto its runtime's mechanism when
    it loads; see ``Backend.request_runners``). Validated when built; backend-specific settings are
    the backend's own options dataclass (``Backend.options_class``)."""

    device: str = "cpu"  # cpu, cuda, tensorrt, gpu, npu, ...
    precision: str = "fp32"
    threads: int | None = None  # None: the physical cores
    batch: int = 1
    streams: int = 1  # inference requests in flight (measure/concurrency.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", parse_precision(self.precision))
        if self.threads is not None and self.threads < 1:
            raise choice_error("threads", self.threads, ["a positive integer"])
        if self.batch < 1:
            raise choice_error("batch", self.batch, ["a positive integer"])
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise choice_error("streams", self.streams, ["a positive integer"])

    def threads_per_stream(self, total: int) -> int:
        """Each request's share of ``total`` threads (at least one)."""
        return max(1, total // self.streams)


@dataclass(frozen=True)
class PreparedModel:
    """What a backend should load for its precision, and how it was made (``Backend.prepare``).

    ``model`` is an onnx.ModelProto, or the runtime's own model type where the preparation produces
    one (e.g. an NNCF-quantized openvino.Model). ``method`` names the preparation: "none" (the FP32
    graph as given), "runtime-hint" (precision set when compiling), "onnx-fp16" (graph converted),
    "ort-static-qdq", "given-qdq", "nncf-ptq", ... ``original`` is the graph it was made from when
    ``model`` is not an ONNX graph (its inputs are still the ones to feed).
    """

    model: Any
    backend: str
    device: str
    precision: str
    method: str
    calibration_count: int = 0
    notes: tuple[str, ...] = ()
    original: onnx.ModelProto | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", parse_precision(self.precision))

    @property
    def proto(self) -> onnx.ModelProto | None:
        return self.model if isinstance(self.model, onnx.ModelProto) else None


@dataclass(frozen=True)
class GemmKernel:
    """A square n x n x n GEMM built by a backend's runtime, for measure/gemm_peak.py to time.

    ``run`` does one GEMM; None when it cannot be measured, with the reason in ``note``.
    """

    precision: str  # asked for
    n: int
    runtime: str  # e.g. "openvino 2025.1 CPU"
    precision_executed: str  # as the runtime reports
    precision_source: str  # how precision_executed is known
    run: Callable[[], Any] | None
    note: str = ""


@dataclass(frozen=True)
class NoOptions:
    """For a backend without settings of its own."""


class Backend(ABC):
    """Lifecycle: ``prepare(model)`` -> ``load(prepared)`` -> ``prepare_inputs(seed)`` -> ``run(inputs)``
    (timed) -> ``describe()`` -> ``close()``. ``load`` prepares the model itself when it is handed an
    unprepared one."""

    name: ClassVar[str]
    options_class: ClassVar[type] = NoOptions  # a frozen dataclass, validated in __post_init__
    accepts: ClassVar[tuple[str, ...]] = tuple(MODEL_SOURCES)  # model sources it can run
    packages: ClassVar[tuple[str, ...]] = ()  # pip distributions whose versions a record keeps
    extra: ClassVar[str | None] = None  # the pip extra that installs it: pip install 'accelbench[EXTRA]'
    delegates: ClassVar[bool] = False  # True: it runs one of the other backends (auto)
    # INT8 calibration holds every intermediate tensor of every calibration run at once (ORT's MinMax
    # calibrator); False: one run's worth at a time. The memory estimate (measure/memory.py) reads it.
    calibration_keeps_every_run: ClassVar[bool] = False

    def __init__(self, config: BackendConfig, options: Any = None):
        if options is None:
            options = self.options_class()
        elif not isinstance(options, self.options_class):
            raise UserError(f"options: the {self.name} backend takes {self.options_class.__name__}; "
                            f"got {type(options).__name__}")
        self.config = config
        self.options = options

    # -- what it can do (class-level, no model needed) ------------------------------------------
    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when the runtime is importable here (no heavy work)."""

    @classmethod
    @abstractmethod
    def supported(cls) -> dict[str, tuple[str, ...]]:
        """device -> precisions this backend can run there on this machine."""

    @classmethod
    def supported_for(cls, source: str | None = None) -> dict[str, tuple[str, ...]]:
        """``supported()`` for a model from ``source`` (None: any): empty when it does not accept it."""
        return cls.supported() if source is None or source in cls.accepts else {}

    @classmethod
    def refusal_hint(cls, device: str, precision: str | None) -> str:
        """Why it cannot run ``precision`` (None: anything) on ``device``, as " (...)", or "" when
        there is nothing to add to the list of what it can run."""
        return ""

    @classmethod
    def check_runs(cls, device: str, precision: str, source: str | None = None) -> None:
        """A one-line UserError when a model from ``source`` at ``precision`` cannot run on ``device`` here."""
        if source is not None and source not in cls.accepts:
            raise UserError(f"model: {MODEL_SOURCES[source]} are not supported on {cls.name}; it runs "
                            f"{describe_sources(cls.accepts)} (for {MODEL_SOURCES[source]} use one of: "
                            f"{', '.join(backends_accepting(source))})")
        supported = cls.supported_for(source)
        if device not in supported:
            raise BackendUnavailable(
                f"device: {cls.name} cannot run on {device!r}: it has no {device!r} device here; available: "
                f"{', '.join(sorted(supported)) or 'none'}{cls.refusal_hint(device, None)}"
            )
        if precision not in supported[device]:
            raise cls.precision_refusal(device, precision, supported[device])

    @classmethod
    def precision_refusal(cls, device: str, precision: str, can: tuple[str, ...] | None = None) -> BackendUnavailable:
        """The one-line error for a precision it cannot run on ``device``, naming what it can (``can``,
        default: what ``supported()`` lists there)."""
        can = cls.supported().get(device, ()) if can is None else can
        return BackendUnavailable(
            f"precision: {cls.name} on {device} cannot run {precision!r}"
            f"{cls.refusal_hint(device, precision) or ' on this machine'}; "
            f"it can run: {', '.join(can) or 'nothing here'}"
        )

    @classmethod
    def gemm_kernel(cls, n: int, precision: str) -> GemmKernel | None:
        """A GEMM in this runtime for the host's measured peak (measure/gemm_peak.py); None: it has none."""
        return None

    # -- one model --------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, model: onnx.ModelProto,
                calibration_data: list[dict[str, np.ndarray]] | None = None) -> PreparedModel:
        """What to load to run the FP32 graph ``model`` at ``config.precision`` on ``config.device``.

        INT8 calibrates on ``calibration_data`` or, when None, on seeded synthetic inputs. Refuses
        (UserError naming what it can do) a precision this backend never runs on that device; whether
        this machine has the device is ``check_runs``'s question, asked by ``load``.
        """

    @abstractmethod
    def load(self, model) -> None:
        """Load a PreparedModel, or an ONNX model (ModelProto, LoadedModel or path) that it prepares first,
        and compile it for config.device/precision."""

    @abstractmethod
    def prepare_inputs(self, seed: int = 0) -> Any:
        """Random inputs of the loaded model's shapes, in the runtime's native form."""

    def inputs_from_arrays(self, arrays: dict[str, np.ndarray]) -> Any:
        """One set of the user's inputs (input name -> array, already checked against the model by
        precision.user_data) in the runtime's native form. Only after ``load``."""
        return arrays

    def request_runners(self, inputs: list[Any]) -> list[Callable[[], Any]]:
        """``config.streams`` callables, each running one query on a request of its own, safe to call
        while the others run (measure/concurrency.py calls each from a thread of its own). Request
        ``i`` cycles through ``inputs`` (native input sets) from set ``i``. Only after ``load``. A
        backend that cannot keep several requests in flight refuses more than one."""
        if self.config.streams != 1:
            raise UserError(f"streams: the {self.name} backend runs one request at a time; use one of: "
                            f"{', '.join(concurrent_backends()) or 'none installed'} for --streams")
        return [cycling(self.run, inputs, 0)]

    @abstractmethod
    def run(self, inputs: Any) -> Any:
        """One inference (the timed call). Returns the outputs."""

    @abstractmethod
    def describe(self) -> RunInfo:
        """What actually ran: runtime, version, device, provider, threads, precision executed."""

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        """Outputs as float32 numpy arrays, for numeric-deviation checks."""
        return [np.asarray(o, dtype=np.float32) for o in outputs]

    def profile_layers(self, inputs: Any, runs: int, warmup: int = 1) -> RuntimeProfile:
        """Per-node times from the runtime's own profiler: ``warmup`` untimed runs of ``inputs``, then
        ``runs`` profiled ones, on a profiling session of its own beside the loaded one (the timed
        session is never profiled). Only after ``load``. UserError where the runtime has no profiler."""
        raise UserError(f"layers: the {self.name} backend has no per-layer profiler; measure layers with one of: "
                        f"{', '.join(layer_profiling_backends()) or 'none installed'}")

    def resolved(self) -> Backend:
        """The backend that really runs the model: itself, or the one a delegating backend picked."""
        return self

    def close(self) -> None:
        """Release runtime resources."""

    def prepared(self, model) -> PreparedModel:
        """``model`` as this backend loads it: a PreparedModel as it is, else ``prepare`` of its ONNX graph."""
        if isinstance(model, PreparedModel):
            wanted = (self.name, self.config.device.lower(), self.config.precision)
            if (model.backend, model.device, model.precision) != wanted:
                raise UserError(f"model: prepared for {model.backend} {model.device} {model.precision}; "
                                f"this backend is {' '.join(wanted)}")
            return model
        return self.prepare(onnx_proto_of(model, self.name))


def onnx_proto_of(model, backend: str) -> onnx.ModelProto:
    """An onnx.ModelProto from a ModelProto, a LoadedModel (``.proto``) or a path."""
    if isinstance(model, onnx.ModelProto):
        return model
    proto = getattr(model, "proto", None)
    if isinstance(proto, onnx.ModelProto):
        return proto
    if isinstance(model, (str, os.PathLike)) and os.path.isfile(model):
        return onnx.load(str(model))
    raise ModelError(f"model: the {backend} backend takes an ONNX model or file, got {type(model).__name__}")


def physical_cores() -> int:
    """Physical cores of this machine (the default thread count of every backend)."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


# -- registry ---------------------------------------------------------------------------------
_BACKENDS: dict[str, type[Backend]] = {}
_LOADED = False


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make ``cls`` a backend under ``cls.name`` (its class-level facts checked here)."""
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise TypeError(f"{cls.__name__}: a backend needs a name")
    options = cls.options_class
    if not (dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen):
        raise TypeError(f"{cls.__name__}.options_class must be a frozen dataclass, got {options!r}")
    if not cls.accepts or any(source not in MODEL_SOURCES for source in cls.accepts):
        raise TypeError(f"{cls.__name__}.accepts must name model sources among {tuple(MODEL_SOURCES)}")
    if isinstance(cls.packages, str) or not all(isinstance(p, str) for p in cls.packages):
        raise TypeError(f"{cls.__name__}.packages must be a tuple of pip distribution names")
    _BACKENDS[cls.name] = cls
    return cls


def _load_all() -> None:
    # Backend modules import their runtime lazily, so importing them all here is cheap.
    global _LOADED
    if _LOADED:
        return
    for info in pkgutil.iter_modules([os.path.dirname(__file__)]):  # this package: one module per backend
        if info.name != "base":
            importlib.import_module(f"{__package__}.{info.name}")
    _LOADED = True


def backend_names() -> list[str]:
    _load_all()
    return sorted(_BACKENDS)


def registered_backends() -> list[type[Backend]]:
    """Every registered backend class, installed or not, by name."""
    _load_all()
    return [_BACKENDS[name] for name in sorted(_BACKENDS)]


def backend_class(name: str) -> type[Backend]:
    """The registered class for ``name``, installed or not (UserError for an unknown name)."""
    _load_all()
    if name not in _BACKENDS:
        raise choice_error("backend", name, sorted(_BACKENDS))
    return _BACKENDS[name]


def get_backend(name: str) -> type[Backend]:
    """The installed backend class for ``name`` (UserError for an unknown or uninstalled one)."""
    cls = backend_class(name)
    if not cls.is_available():
        extras = [cls.extra] if cls.extra else sorted({c.extra for c in _BACKENDS.values() if c.extra})
        raise BackendUnavailable(
            f"backend: {name} is not installed; install it with "
            + " or ".join(f"pip install 'accelbench[{extra}]'" for extra in extras)
        )
    return cls


def cycling(run: Callable[[Any], Any], inputs: list[Any], offset: int) -> Callable[[], Any]:
    """A runner of ``run`` over ``inputs`` in turn, from ``inputs[offset]``: the one set itself when there is one."""
    if not inputs:
        raise UserError("inputs: no input set to run")
    if len(inputs) == 1:
        only = inputs[0]
        return lambda: run(only)
    order = itertools.cycle(inputs[offset % len(inputs):] + inputs[:offset % len(inputs)])
    return lambda: run(next(order))


def concurrent_backends() -> list[str]:
    """Names of the registered backends that keep several requests in flight (installed or not)."""
    return [cls.name for cls in registered_backends()
            if cls.delegates or cls.request_runners is not Backend.request_runners]


def layer_profiling_backends() -> list[str]:
    """Names of the registered backends that implement ``profile_layers`` (installed or not)."""
    return [cls.name for cls in registered_backends()
            if cls.delegates or cls.profile_layers is not Backend.profile_layers]


def backends_accepting(source: str) -> list[str]:
    """Names of the registered backends (installed or not) that can run a model from ``source``."""
    return [cls.name for cls in registered_backends() if source in cls.accepts]


def describe_backends() -> str:
    """The registered backends in words, delegating ones last: "onnxruntime, openvino, torch or auto"."""
    classes = sorted(registered_backends(), key=lambda cls: cls.delegates)
    names = [cls.name for cls in classes]
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def describe_sources(sources) -> str:
    """Model sources in words, e.g. "zoo models, ONNX files"."""
    return ", ".join(MODEL_SOURCES[source] for source in sources)


def runnable_precisions(backend: str, device: str, source: str | None = None) -> tuple[str, ...]:
    """The precisions a model from ``source`` (None: any) can run at on ``device`` with ``backend``
    here; for a delegating backend (auto): with any installed backend that accepts ``source``.
    UserError for an unknown or uninstalled backend. In PRECISIONS order."""
    can = get_backend(backend).supported_for(source).get(device, ())
    return tuple(p for p in PRECISIONS if p in can)
