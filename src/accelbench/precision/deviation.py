"""Numeric deviation of a reduced-precision run from the FP32 reference on the same inputs.

Definitions (all computed in float64 over every output value, outputs flattened and concatenated):
- ``cosine_similarity`` = <y, r> / (|y| |r|); 1.0 is identical direction.
- ``max_abs_error`` = max |y_i - r_i|.
- ``max_relative_error`` = max |y_i - r_i| / max |r_i|: the worst error relative to the reference's
  largest magnitude (element-wise |y-r|/|r| explodes near zero, so it is not used).
- ``relative_l2_error`` = |y - r| / |r|.
- ``top1_agreement`` (classifiers only): fraction of rows of the first output, viewed as
  [rows, classes], whose argmax is the same in both runs.

With random weights or random inputs a classifier's outputs are nearly flat: the argmax flips on
noise, so top-1 agreement can read 0.0 beside a cosine of 0.9998. It is a finding only when both
the weights and the inputs are the user's (``top1_meaningful``); ``weights_source`` and
``inputs_source`` ("random" | "user") say which they were, and displays label it otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np

from accelbench.errors import UserError, choice_error

CLASSIFIER_TASKS = ("image-classification", "classification", "text-classification")
# Deviation checks run on seeds 2000, 2001, ...: never the inputs a model was calibrated on
# (calibration.CALIBRATION_SEED = 1000, ...). Pure numpy here: records import NumericDeviation.
DEVIATION_SEED = 2000
DATA_SOURCES = ("random", "user")  # where weights and inputs came from: generated, or the user's own
USER_SETS_COMPARED = 32  # the user's input sets a deviation check runs (top-1 agreement over their rows)


@dataclass(frozen=True)
class NumericDeviation:
    """How far a run's outputs are from the FP32 reference (definitions in the module docstring)."""

    cosine_similarity: float
    max_abs_error: float
    max_relative_error: float
    relative_l2_error: float
    top1_agreement: float | None  # None: not a classifier
    values_compared: int
    rows_compared: int | None = None  # classifier rows behind top1_agreement
    reference_precision: str = "fp32"
    reference: str = ""  # what produced the reference, e.g. "openvino CPU fp32"
    weights_source: str = "random"  # random (zoo, a torch factory's init) | user (a file, a checkpoint)
    inputs_source: str = "random"  # random (seeded) | user (inputs the user gave)
    # False when read from a record written before the sources were (both were random then): it is
    # written back without them, as it was stored.
    sources_recorded: bool = field(default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.values_compared < 1:
            raise UserError(f"values_compared: must be >= 1, got {self.values_compared}")
        if self.top1_agreement is not None and not 0.0 <= self.top1_agreement <= 1.0:
            raise UserError(f"top1_agreement: must be in [0, 1], got {self.top1_agreement}")
        for name in ("weights_source", "inputs_source"):
            if getattr(self, name) not in DATA_SOURCES:
                raise choice_error(name, getattr(self, name), DATA_SOURCES)

    @property
    def top1_meaningful(self) -> bool:
        """Top-1 agreement says something only on the user's weights and inputs (module docstring)."""
        return self.top1_agreement is not None and self.weights_source == "user" and self.inputs_source == "user"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sources_recorded"}
        if not self.sources_recorded:
            del data["weights_source"], data["inputs_source"]
            return data
        return {**data, "top1_meaningful": self.top1_meaningful}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NumericDeviation":
        known = {f.name for f in fields(cls)} - {"sources_recorded"}
        recorded = "weights_source" in data or "inputs_source" in data
        return cls(**{k: v for k, v in data.items() if k in known}, sources_recorded=recorded)


def _as_runs(outputs) -> list[list[np.ndarray]]:
    """Accept one array, a list of arrays (one run's outputs) or a list of such lists (several runs)."""
    if isinstance(outputs, np.ndarray):
        return [[outputs]]
    outputs = list(outputs)
    if outputs and isinstance(outputs[0], (list, tuple)):
        return [[np.asarray(o) for o in run] for run in outputs]
    return [[np.asarray(o) for o in outputs]]


def numeric_deviation(
    reference_outputs: Sequence[Any] | np.ndarray,
    outputs: Sequence[Any] | np.ndarray,
    task: str = "unknown",
    *,
    reference: str = "",
    weights_source: str = "random",
    inputs_source: str = "random",
) -> NumericDeviation:
    """Compare ``outputs`` with ``reference_outputs`` (same inputs, same output order).

    Either argument is one array, a list of arrays (the outputs of one run), or a list of runs
    (each a list of arrays). ``task`` decides whether top-1 agreement is computed.
    """
    ref_runs, out_runs = _as_runs(reference_outputs), _as_runs(outputs)
    if len(ref_runs) != len(out_runs) or any(len(a) != len(b) for a, b in zip(ref_runs, out_runs)):
        raise UserError("numeric deviation: reference and outputs differ in number of runs or outputs")
    ref_flat, out_flat = [], []
    for ref_run, out_run in zip(ref_runs, out_runs):
        for r, o in zip(ref_run, out_run):
            if r.size != o.size:
                raise UserError(f"numeric deviation: output sizes differ ({r.shape} vs {o.shape})")
            ref_flat.append(r.astype(np.float64).ravel())
            out_flat.append(o.astype(np.float64).ravel())
    r = np.concatenate(ref_flat) if ref_flat else np.zeros(0)
    y = np.concatenate(out_flat) if out_flat else np.zeros(0)
    if r.size == 0:
        raise UserError("numeric deviation: no output values to compare")
    diff = np.abs(y - r)
    norm_r, norm_y = float(np.linalg.norm(r)), float(np.linalg.norm(y))
    if norm_r == 0.0 and norm_y == 0.0:
        cosine = 1.0
    elif norm_r == 0.0 or norm_y == 0.0:
        cosine = 0.0
    else:
        cosine = float(np.dot(r, y) / (norm_r * norm_y))
    max_ref = float(np.max(np.abs(r)))
    max_abs = float(np.max(diff))
    max_rel = max_abs / max_ref if max_ref > 0 else (0.0 if max_abs == 0 else math.inf)
    rel_l2 = float(np.linalg.norm(y - r)) / norm_r if norm_r > 0 else (0.0 if norm_y == 0 else math.inf)

    top1, rows = None, None
    if task in CLASSIFIER_TASKS:
        agree = total = 0
        for ref_run, out_run in zip(ref_runs, out_runs):
            a, b = ref_run[0], out_run[0]
            a2 = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
            b2 = b.reshape(a2.shape)
            agree += int(np.sum(np.argmax(a2, axis=1) == np.argmax(b2, axis=1)))
            total += a2.shape[0]
        top1, rows = agree / total, total
    return NumericDeviation(cosine, max_abs, max_rel, rel_l2, top1, int(r.size), rows, "fp32", reference,
                            weights_source, inputs_source)


def deviation_vs_fp32(backend, model, task: str = "unknown", *, runs: int = 2, seed: int | None = None,
                      weights_source: str = "random", inputs_source: str = "random",
                      input_sets: Sequence[dict[str, np.ndarray]] | None = None):
    """Numeric deviation of a loaded ``backend`` from FP32 on the same inputs.

    The reference is the same backend class at fp32 (on CPU when that backend runs there, else on
    the same device), so only the precision differs. ``backend`` must already be loaded with
    ``model``; ``runs`` seeded input sets are compared (seeds from DEVIATION_SEED), or, when the
    user gave inputs, the first USER_SETS_COMPARED of ``input_sets`` (name -> array each; their
    source is then "user"). ``weights_source``/``inputs_source`` are recorded with the figures (see
    ``top1_meaningful``). Returns None when the backend itself runs fp32.
    """
    # A delegating backend (auto) runs the one it picked; the reference must come from that one.
    backend = backend.resolved()
    if backend.config.precision == "fp32":
        return None
    base_seed = DEVIATION_SEED if seed is None else seed
    ref_device = "cpu" if "fp32" in type(backend).supported().get("cpu", ()) else backend.config.device
    ref_config = replace(backend.config, precision="fp32", device=ref_device, streams=1)
    reference_backend = type(backend)(ref_config, backend.options)
    user_sets = list(input_sets or ())[:USER_SETS_COMPARED]
    if user_sets:
        inputs_source = "user"
    try:
        reference_backend.load(model)
        ref_runs, out_runs = [], []
        for i in range(len(user_sets) or runs):
            if user_sets:
                ref_in = reference_backend.inputs_from_arrays(user_sets[i])
                out_in = backend.inputs_from_arrays(user_sets[i])
            else:
                ref_in = reference_backend.prepare_inputs(base_seed + i)
                out_in = backend.prepare_inputs(base_seed + i)
            ref_runs.append(reference_backend.outputs_as_numpy(reference_backend.run(ref_in)))
            out_runs.append(backend.outputs_as_numpy(backend.run(out_in)))
        info = reference_backend.describe()
    finally:
        reference_backend.close()
    label = f"{info.runtime} {info.device} {info.precision_executed}"
    return numeric_deviation(ref_runs, out_runs, task, reference=label, weights_source=weights_source,
                             inputs_source=inputs_source)
