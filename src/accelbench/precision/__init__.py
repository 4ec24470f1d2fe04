"""Numeric precisions: names and sizes. Pure (no runtime imports, no backend names); conversion,
quantization, calibration inputs and numeric deviation live in sibling modules that import their
runtime only when used. What a backend loads for a precision is its own ``Backend.prepare``."""

from __future__ import annotations

from accelbench.errors import choice_error

# Storage bytes per element of weights and activations at each precision.
BYTES_PER_ELEMENT: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "int16": 2, "int8": 1}
PRECISIONS: tuple[str, ...] = tuple(BYTES_PER_ELEMENT)


def parse_precision(value: str) -> str:
    key = str(value).strip().lower()
    aliases = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16", "i8": "int8"}
    key = aliases.get(key, key)
    if key not in BYTES_PER_ELEMENT:
        raise choice_error("precision", value, PRECISIONS)
    return key


def bytes_per_element(precision: str) -> int:
    return BYTES_PER_ELEMENT[parse_precision(precision)]


def peak_precision(executed: str) -> str:
    """The precision whose peak (and projection) a run is judged by: what ran, where mixed int8+fp32
    graphs ("int8+fp32") count as int8 (the lower utilization, not the flattering one)."""
    return "int8" if executed.startswith("int8") else executed
