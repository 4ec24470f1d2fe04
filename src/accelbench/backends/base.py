"""The one interface every runtime implements: load -> prepare inputs -> run -> describe.

Backend options are a small frozen dataclass (BackendConfig) that imports nothing heavy; the
runtime itself is imported only inside the backend module, when the backend is used.
Backends register with @register_backend so that adding one is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from accelbench.errors import BackendUnavailable, choice_error


@dataclass(frozen=True)
class BackendConfig:
    """What to run and how. Validated when built, before any model loads."""

    device: str = "cpu"  # cpu, cuda, tensorrt, gpu, npu, ...
    precision: str = "fp32"
    threads: int | None = None  # None: the physical cores
    batch: int = 1
    options: tuple[tuple[str, Any], ...] = ()  # backend-specific extras as key/value pairs

    def __post_init__(self) -> None:
        from accelbench.precision import parse_precision

        object.__setattr__(self, "precision", parse_precision(self.precision))
        if self.threads is not None and self.threads < 1:
            raise choice_error("threads", self.threads, ["a positive integer"])
        if self.batch < 1:
            raise choice_error("batch", self.batch, ["a positive integer"])


@dataclass(frozen=True)
class RunInfo:
    """What actually ran (not what was asked for)."""

    runtime: str  # "onnxruntime", "openvino", "torch"
    runtime_version: str
    device: str  # e.g. "cpu", "cuda:0", "CPU"
    execution_provider: str  # e.g. "CPUExecutionProvider", "CPU plugin", "eager"
    threads: int | None
    precision_requested: str
    precision_executed: str  # read back from the runtime where it can say
    precision_source: str  # how precision_executed is known: "runtime-reported", "graph-inspection", ...
    fused_layers: tuple[str, ...] | None = None  # kernel names the runtime reports, where it does
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Lifecycle: ``load(model)`` -> ``prepare_inputs(seed)`` -> ``run(inputs)`` (timed) -> ``describe()``."""

    name: ClassVar[str]

    def __init__(self, config: BackendConfig):
        self.config = config

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when the runtime is importable here (no heavy work)."""

    @classmethod
    @abstractmethod
    def supported(cls) -> dict[str, tuple[str, ...]]:
        """device -> precisions this backend can run there on this machine."""

    @abstractmethod
    def load(self, model) -> None:
        """Load an onnx.ModelProto (or a path) and compile it for config.device/precision."""

    @abstractmethod
    def prepare_inputs(self, seed: int = 0) -> Any:
        """Random inputs of the loaded model's shapes, in the runtime's native form."""

    @abstractmethod
    def run(self, inputs: Any) -> Any:
        """One inference (the timed call). Returns the outputs."""

    @abstractmethod
    def describe(self) -> RunInfo:
        """What actually ran: runtime, version, device, provider, threads, precision executed."""

    def outputs_as_numpy(self, outputs: Any) -> list[np.ndarray]:
        """Outputs as float32 numpy arrays, for numeric-deviation checks."""
        return [np.asarray(o, dtype=np.float32) for o in outputs]

    def close(self) -> None:
        """Release runtime resources."""


_BACKENDS: dict[str, type[Backend]] = {}
_LOADED = False


def register_backend(cls: type[Backend]) -> type[Backend]:
    _BACKENDS[cls.name] = cls
    return cls


def _load_all() -> None:
    # Backend modules import their runtime lazily, so importing them all here is cheap.
    global _LOADED
    if _LOADED:
        return
    import accelbench.backends as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name != "base":
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    _LOADED = True


def backend_names() -> list[str]:
    _load_all()
    return sorted(_BACKENDS)


def get_backend(name: str) -> type[Backend]:
    _load_all()
    if name not in _BACKENDS:
        raise choice_error("backend", name, sorted(set(_BACKENDS) | {"auto"}))
    cls = _BACKENDS[name]
    if not cls.is_available():
        raise BackendUnavailable(
            f"backend: {name} is not installed; install it with pip install 'accelbench[{name}]'"
        )
    return cls
