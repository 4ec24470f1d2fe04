"""Seeded synthetic inputs: for timing runs, INT8 calibration and numeric-deviation checks.

Pure numpy + onnx. Conventions (documented in docs/precision.md):
- float inputs: standard normal N(0, 1), the range of a normalized image;
- integer inputs: names containing "mask" get ones, "token_type"/"segment" get zeros, anything
  else (token ids) uniform integers in [0, 1000), inside every common vocabulary.
Calibration and deviation use different seeds, so a quantized model is never judged on the very
inputs it was calibrated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from accelbench.errors import ModelError

CALIBRATION_SEED = 1000  # calibration inputs: seeds 1000, 1001, ... (deviation checks: deviation.DEVIATION_SEED)
TOKEN_ID_HIGH = 1000


@dataclass(frozen=True)
class InputSpec:
    """One graph input: name, static shape, numpy dtype name ("float32", "int64", ...)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self) -> None:
        if any(int(d) < 1 for d in self.shape):
            raise ModelError(f"input {self.name!r}: shape {self.shape} has a dynamic or zero dim; fix it first")


def input_specs(proto: onnx.ModelProto) -> list[InputSpec]:
    """Static input specs of an ONNX graph (initializers listed as inputs are skipped)."""
    init_names = {t.name for t in proto.graph.initializer}
    specs = []
    for vi in proto.graph.input:
        if vi.name in init_names:
            continue
        tt = vi.type.tensor_type
        dims = []
        for d in tt.shape.dim:
            if not (d.HasField("dim_value") and d.dim_value > 0):
                raise ModelError(
                    f"input {vi.name!r}: dim {d.dim_param or '?'} is dynamic; give --batch/--resolution "
                    "or --input-shape so every dim is fixed"
                )
            dims.append(int(d.dim_value))
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        specs.append(InputSpec(vi.name, tuple(dims), dtype))
    return specs


def synthetic_inputs(specs: list[InputSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """One seeded set of inputs, name -> array (conventions in the module docstring)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        dtype = np.dtype(spec.dtype)
        lname = spec.name.lower()
        if np.issubdtype(dtype, np.floating):
            out[spec.name] = rng.standard_normal(spec.shape, dtype=np.float32).astype(dtype)
        elif np.issubdtype(dtype, np.integer) or dtype == np.bool_:
            if "mask" in lname:
                out[spec.name] = np.ones(spec.shape, dtype)
            elif "token_type" in lname or "segment" in lname:
                out[spec.name] = np.zeros(spec.shape, dtype)
            else:
                out[spec.name] = rng.integers(0, TOKEN_ID_HIGH, spec.shape).astype(dtype)
        else:
            raise ModelError(f"input {spec.name!r}: dtype {spec.dtype} is not supported for synthetic inputs")
    return out


def calibration_inputs(proto: onnx.ModelProto, count: int = 8, seed: int = CALIBRATION_SEED) -> list[dict[str, np.ndarray]]:
    """``count`` seeded input sets for INT8 calibration (seeds ``seed``, ``seed+1``, ...)."""
    specs = input_specs(proto)
    return [synthetic_inputs(specs, seed + i) for i in range(count)]
