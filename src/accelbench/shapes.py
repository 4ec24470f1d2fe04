"""Input-shape specs, parsed in one place and used everywhere.

Resolutions: ``224`` (square), ``416x416`` or ``1920x1088`` (width x height), and the 16:9
megapixel presets ``1mp`` / ``2mp`` / ``4mp`` whose sides are multiples of 32. For sequence
models (e.g. ``bert_base``) the "resolution" is a single integer: the sequence length.
Explicit input shapes: ``name=1x3x720x1280`` (NCHW for images).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from accelbench.errors import UserError

# 16:9 presets; every side a multiple of 32 so that strided CNNs (YOLOv3: stride 32) accept them.
MEGAPIXEL_PRESETS: dict[str, tuple[int, int]] = {
    "1mp": (1344, 768),
    "2mp": (1920, 1088),
    "4mp": (2688, 1536),
}

RESOLUTION_HELP = (
    "a square side like 224, WxH like 1920x1088, or one of " + ", ".join(MEGAPIXEL_PRESETS)
)

MAX_SIDE = 65536  # the largest side of --resolution and the largest dim of --input-shape (also --batch's bound)
MAX_RANK = 8  # the most dims an --input-shape may have


@dataclass(frozen=True)
class Resolution:
    """An input size: width and height in pixels (or sequence length in ``width``, height 1)."""

    width: int
    height: int
    spec: str  # as the user wrote it, normalised to lower case

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def megapixels(self) -> float:
        return self.pixels / 1e6

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_resolution(spec: str | int | Resolution) -> Resolution:
    """Parse ``224``, ``416x416``, ``1920x1088``, ``1mp``/``2mp``/``4mp`` into a Resolution."""
    if isinstance(spec, Resolution):
        return spec
    text = str(spec).strip().lower()
    if text in MEGAPIXEL_PRESETS:
        width, height = MEGAPIXEL_PRESETS[text]
        return Resolution(width, height, text)
    match = re.fullmatch(r"(\d+)(?:[x*](\d+))?", text)
    if not match:
        raise UserError(f"resolution: {spec!r} is not a size; use {RESOLUTION_HELP}")
    sides = [g for g in match.groups() if g]
    # len() first: int() of thousands of digits is itself an error (and slow)
    width, height = (int(sides[0]), int(sides[-1])) if max(len(g) for g in sides) <= 9 else (0, 0)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise UserError(
            f"resolution: {spec!r} has a side outside 1..{MAX_SIDE}; use {RESOLUTION_HELP}"
        )
    return Resolution(width, height, text)


def parse_whole_number(value: str | int, *, field: str, minimum: int, examples: str) -> int:
    """A whole number >= ``minimum`` from CLI text; a UserError names the field and what is allowed."""
    allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UserError(f"{field}: {value!r} is not a whole number; use {allowed} such as {examples}") from None
    if number < minimum:
        raise UserError(f"{field}: {value!r} must be {allowed} such as {examples}")
    return number


def parse_batch(value: str | int) -> int:
    """A batch size: a positive integer."""
    return parse_whole_number(value, field="batch", minimum=1, examples="1 or 32")


def parse_dims(text: str, *, field: str = "shape") -> tuple[int, ...]:
    """``1x3x720x1280`` -> (1, 3, 720, 1280); every dim a positive integer."""
    parts = text.strip().lower().replace("*", "x").split("x")
    try:
        if any(len(p.strip()) > 9 for p in parts):
            raise ValueError("too many digits")
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UserError(
            f"{field}: {text!r} is not a shape; use positive integers joined by 'x', e.g. 1x3x720x1280"
        ) from None
    if not dims or any(d < 1 for d in dims):
        raise UserError(f"{field}: {text!r} has a dimension below 1; every dimension must be a positive integer")
    if len(dims) > MAX_RANK or any(d > MAX_SIDE for d in dims):
        # the bounds of --resolution (a side) and of --batch: whether the size fits in memory is
        # estimated from the model's profile before anything runs (measure/memory.py)
        raise UserError(f"{field}: {text!r} is outside the bounds: at most {MAX_RANK} dimensions, each from 1 to "
                        f"{MAX_SIDE:,}")
    return dims


def parse_input_shapes(specs: list[str] | tuple[str, ...] | None) -> dict[str, tuple[int, ...]]:
    """``["input=1x3x720x1280", ...]`` -> {"input": (1, 3, 720, 1280)}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs or ():
        name, sep, dims = spec.partition("=")
        if not sep or not name.strip():
            raise UserError(
                f"input-shape: {spec!r} must look like NAME=1x3x720x1280 (an input name, '=', then the dims)"
            )
        if not name.strip().isprintable():  # a newline or control character would break the one-line messages
            raise UserError(f"input-shape: {spec!r} has an input name with control characters; give the name as"
                            " the model spells it")
        shapes[name.strip()] = parse_dims(dims, field=f"input-shape {name.strip()}")
    return shapes


def require_multiple(resolution: Resolution, multiple: int, model: str) -> None:
    """Raise a UserError when a side is not a multiple of ``multiple`` (strided CNNs need this)."""
    if resolution.width % multiple or resolution.height % multiple:
        raise UserError(
            f"resolution: {model} needs both sides to be multiples of {multiple}; got {resolution}"
            f" (try {round_to_multiple(resolution, multiple)} or 1mp/2mp/4mp)"
        )


def round_to_multiple(resolution: Resolution, multiple: int) -> str:
    w = max(multiple, round(resolution.width / multiple) * multiple)
    h = max(multiple, round(resolution.height / multiple) * multiple)
    return f"{w}x{h}"
