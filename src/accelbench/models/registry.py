"""The zoo registry: one module per architecture, each registering itself with @register_model.

A zoo model is built in code as an ONNX graph (opset 17) at any accepted input size. With
``with_weights=False`` the initializers carry only their shapes (no data), which is all the
static profiler needs: profiling YOLOv3 at 4 MP then allocates no weights at all.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

import onnx

from accelbench.errors import ModelError
from accelbench.models import zoo
from accelbench.shapes import Resolution, parse_resolution

SIZE_KINDS = ("image", "sequence")

# build(resolution, batch, with_weights, seed) -> onnx.ModelProto
BuildFn = Callable[[Resolution, int, bool, int], onnx.ModelProto]


@dataclass(frozen=True)
class ZooModel:
    """A registered architecture."""

    name: str
    build_fn: BuildFn
    description: str
    default_resolution: str
    accepts: str  # human text of the sizes it accepts, shown by `accelbench models`
    task: str = "image-classification"  # or "object-detection", "language"
    validate: Callable[[Resolution], None] | None = None  # raises UserError for sizes it cannot take
    aliases: tuple[str, ...] = field(default=())
    stands_for: str = ""  # one line: the applications this architecture represents (`accelbench models`)
    size_kind: str = "image"  # "image": --resolution is WxH; "sequence": a length (tokens, frames, steps)
    source: str = ""  # the reference implementation the layout and parameter count follow

    def build(
        self,
        resolution: str | Resolution | None = None,
        batch: int = 1,
        *,
        with_weights: bool = True,
        seed: int = 0,
    ) -> onnx.ModelProto:
        """Build the ONNX graph at ``resolution`` (default: the model's own) and ``batch``."""
        res = parse_resolution(resolution if resolution is not None else self.default_resolution)
        if self.validate is not None:
            self.validate(res)
        model = self.build_fn(res, batch, with_weights, seed)
        model.doc_string = f"accelbench zoo model {self.name} at {res}, batch {batch}"
        return model


_REGISTRY: dict[str, ZooModel] = {}
_LOADED = False


def register_model(
    name: str,
    *,
    description: str,
    default_resolution: str,
    accepts: str,
    task: str = "image-classification",
    validate: Callable[[Resolution], None] | None = None,
    aliases: tuple[str, ...] = (),
    stands_for: str = "",
    size_kind: str = "image",
    source: str = "",
) -> Callable[[BuildFn], BuildFn]:
    """Decorator: register ``build(resolution, batch, with_weights, seed)`` under ``name``."""
    if size_kind not in SIZE_KINDS:
        raise ValueError(f"size_kind of zoo model {name!r} must be one of {SIZE_KINDS}; got {size_kind!r}")

    def decorate(fn: BuildFn) -> BuildFn:
        _REGISTRY[name] = ZooModel(
            name, fn, description, default_resolution, accepts, task, validate, tuple(aliases), stands_for,
            size_kind, source,
        )
        return fn

    return decorate


def _load_all() -> None:
    # Importing every module under accelbench.models.zoo runs its @register_model.
    global _LOADED
    if _LOADED:
        return

    for info in pkgutil.iter_modules(zoo.__path__):
        importlib.import_module(f"{zoo.__name__}.{info.name}")
    _LOADED = True


def zoo_models() -> list[ZooModel]:
    _load_all()
    return sorted(_REGISTRY.values(), key=lambda m: m.name)


def find_zoo_model(name: str) -> ZooModel | None:
    _load_all()
    key = name.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    for model in _REGISTRY.values():
        if key in model.aliases:
            return model
    return None


def get_zoo_model(name: str) -> ZooModel:
    model = find_zoo_model(name)
    if model is None:
        names = ", ".join(m.name for m in zoo_models())
        raise ModelError(f"model: {name!r} is neither a zoo model ({names}) nor an existing .onnx file")
    return model
