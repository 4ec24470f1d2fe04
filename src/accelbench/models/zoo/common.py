"""Checks every zoo builder shares: batch, image sizes and sequence lengths, each failing with one
UserError line that names the model, what it accepts and the value received. Registers no model."""

from __future__ import annotations

from accelbench.errors import UserError
from accelbench.shapes import Resolution, require_multiple


def check_batch(batch: int, model: str) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch: {model} needs a positive integer batch such as 1 or 32; got {batch!r}")


def validate_image_size(resolution: Resolution, model: str, *, min_side: int = 32, multiple: int = 1) -> None:
    """Any width and height of at least ``min_side`` pixels; with ``multiple`` > 1 both sides must be
    multiples of it (strided networks whose feature maps are concatenated or patched)."""
    if multiple > 1:
        require_multiple(resolution, multiple, model)
    if resolution.width < min_side or resolution.height < min_side:
        raise UserError(
            f"resolution: {model} needs both sides >= {min_side} pixels (any WxH from"
            f" {min_side}x{min_side} up, e.g. 224 or 2mp); got {resolution}"
        )


def sequence_length(resolution: Resolution, model: str, *, maximum: int, unit: str = "sequence length",
                    multiple: int = 1, examples: str = "128 or 384", limit_reason: str = "") -> int:
    """The length a Resolution stands for in a sequence model: a plain integer 1..``maximum`` (a
    multiple of ``multiple``); WxH specs and megapixel presets are refused."""
    spec = resolution.spec.strip()
    allowed = f"{unit} 1..{maximum}" if multiple == 1 else f"{unit} that is a multiple of {multiple}, up to {maximum}"
    if not spec.isdigit():
        raise UserError(f"resolution: {model} needs an integer {allowed} (e.g. {examples}), not an image size;"
                        f" got {resolution.spec!r}")
    length = resolution.width
    if not 1 <= length <= maximum or length % multiple:
        reason = f" ({limit_reason})" if limit_reason else ""
        raise UserError(f"resolution: {model} takes a {allowed}{reason}; got {length}")
    return length
