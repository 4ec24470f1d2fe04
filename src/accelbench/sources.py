"""Where a model comes from: the source names every layer agrees on (a leaf: stdlib only).

``LoadedModel.source``, ``BenchConfig.source`` and ``Backend.accepts`` hold these names; the words
are what messages call such models.
"""

from __future__ import annotations

import os

TORCH_SPEC_PREFIX = "torch:"

# source name -> what to call such models in messages
MODEL_SOURCES: dict[str, str] = {
    "zoo": "zoo models",
    "file": "ONNX files",
    "torch": "torch modules given as torch:package.module:factory",
}
SOURCE_NAMES: tuple[str, ...] = tuple(MODEL_SOURCES)


def is_torch_spec(spec: object) -> bool:
    """True for a ``torch:package.module:factory[@weights.pt]`` MODEL argument (not parsed here)."""
    return isinstance(spec, str) and spec.startswith(TORCH_SPEC_PREFIX)


def source_of_spec(spec: str) -> str:
    """The source a MODEL argument names: a ``torch:`` spec, an existing file, else a zoo name."""
    if is_torch_spec(spec):
        return "torch"
    return "file" if os.path.exists(spec) else "zoo"
