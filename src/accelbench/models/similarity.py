"""Which public (zoo) model is most like the user's? Stage 3 of the four stages: benchmark a public
model with your network's characteristics where your own cannot run yet.

Closeness is judged from static profiles only (no runtime), each zoo model profiled at the
**user's input size** where it accepts it: image models at the user's WxH (rounded to a multiple
of 32 when the model needs one), sequence models (tokens, frames, steps) at the user's sequence
length; a model that takes the other kind of input, or refuses the size, is profiled at its
default size and the result says so.

Features (``ModelFeatures``) and their weights in the distance (docs/models.md, "closest"):

- size, on a log scale (one decade = 1): MACs (weight 1), parameters (1), layer count (1),
  largest activation (0.5) and peak live activations (0.5);
- op-type mix: the share of MACs in each op family of ``accelbench.profile.kind`` (dense conv,
  depthwise/grouped conv, transposed conv, linear, attention, LSTM, GRU, RNN), weight 2 per
  family (a 100 % shift from one family to another adds 4);
- arithmetic-intensity distribution: the MAC-weighted 25th, 50th and 75th percentiles of the
  layers' MACs per byte, log scale, weight 1/3 each;
- network kind (cnn, detector, dense-prediction, rnn, transformer, ...; derived from the graph):
  weight 4, counting 1 for different families and 0.5 for two CNN kinds (cnn vs detector).

distance = sqrt(sum of weight x difference^2). Each result names the two or three features that
add most to it, in words ("yours has 3.0x more depthwise/grouped convolution MACs").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable

from accelbench.errors import UserError
from accelbench.models.loader import load_model
from accelbench.models.registry import ZooModel, zoo_models
from accelbench.profile import profile_model
from accelbench.profile.kind import FAMILY_WORDS, OP_FAMILIES, family_macs
from accelbench.profile.types import ModelProfile
from accelbench.shapes import parse_resolution, round_to_multiple

SIZE_WEIGHTS = {"macs": 1.0, "params": 1.0, "layers": 1.0, "largest_activation": 0.5, "peak_live_activations": 0.5}
SHARE_WEIGHT = 2.0
INTENSITY_WEIGHT = 1.0 / 3.0  # per quartile: a one-decade shift of the whole distribution counts 1
KIND_WEIGHT = 4.0
CNN_KINDS = frozenset({"cnn", "detector", "dense-prediction"})
IMAGE_MULTIPLE = 32  # the largest side multiple a zoo image model needs (yolov3, yolov5s)
QUARTILE_WORDS = ("25th-percentile", "median", "75th-percentile")
EXPLAIN_MIN = 0.01  # contributions below this are not worth a word
_SIZE_WORDS = {
    "macs": ("MACs", "more", "fewer"),
    "params": ("parameters", "more", "fewer"),
    "layers": ("layers", "more", "fewer"),
    "largest_activation": ("largest activation", "larger", "smaller"),
    "peak_live_activations": ("peak live activation memory", "larger", "smaller"),
}


@dataclass(frozen=True)
class InputSize:
    """The input size of a profile in zoo terms: ``image`` WxH or ``sequence`` length."""

    kind: str  # "image" or "sequence" (registry SIZE_KINDS)
    spec: str  # "1920x1088" or "384"


@dataclass(frozen=True)
class ModelFeatures:
    """What the distance compares; every figure from a static profile."""

    kind: str
    macs: int
    params: int
    layers: int
    largest_activation_bytes: int
    peak_live_activation_bytes: int
    family_macs: tuple[int, ...]  # MACs per family, in OP_FAMILIES order
    intensity_quartiles: tuple[float, float, float]  # MAC-weighted p25, p50, p75 of MACs/byte

    def share(self, family: str) -> float:
        return self.family_macs[OP_FAMILIES.index(family)] / self.macs if self.macs else 0.0

    def size(self, feature: str) -> int:
        return {"macs": self.macs, "params": self.params, "layers": self.layers,
                "largest_activation": self.largest_activation_bytes,
                "peak_live_activations": self.peak_live_activation_bytes}[feature]

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "macs": self.macs, "params": self.params, "layers": self.layers,
            "largest_activation_bytes": self.largest_activation_bytes,
            "peak_live_activation_bytes": self.peak_live_activation_bytes,
            "mac_share": {f: self.share(f) for f in OP_FAMILIES},
            "intensity_macs_per_byte": dict(zip(("p25", "p50", "p75"), self.intensity_quartiles)),
        }


@dataclass(frozen=True)
class FeatureDifference:
    """One feature's part of a distance: ``contribution`` = weight x difference^2."""

    feature: str  # "macs", "share:depthwise", "intensity", "kind", ...
    yours: float | str
    theirs: float | str
    contribution: float
    text: str

    def to_dict(self) -> dict:
        return {"feature": self.feature, "yours": self.yours, "theirs": self.theirs,
                "contribution": self.contribution, "text": self.text}


@dataclass(frozen=True)
class Similarity:
    """A zoo model ranked against the user's: ``why`` joins the texts of the largest differences."""

    model: str
    resolution: str  # the size the zoo model was profiled at
    distance: float
    why: str
    kind: str = ""
    differences: tuple[FeatureDifference, ...] = ()  # largest contribution first
    size_note: str = ""  # set when the zoo model could not take the user's size

    def to_dict(self) -> dict:
        return {"model": self.model, "resolution": self.resolution, "distance": self.distance, "why": self.why,
                "kind": self.kind, "size_note": self.size_note,
                "differences": [d.to_dict() for d in self.differences]}


def profile_features(profile: ModelProfile) -> ModelFeatures:
    """The features of a profile (see the module docstring)."""
    per_family = family_macs(profile.layers)
    weighted = sorted((layer.arithmetic_intensity, layer.macs) for layer in profile.layers if layer.macs)
    return ModelFeatures(
        kind=profile.network_kind,
        macs=profile.macs,
        params=profile.params,
        layers=profile.layer_count,
        largest_activation_bytes=profile.largest_activation_bytes,
        peak_live_activation_bytes=profile.peak_live_activation_bytes,
        family_macs=tuple(per_family[f] for f in OP_FAMILIES),
        intensity_quartiles=tuple(_weighted_quantile(weighted, q) for q in (0.25, 0.5, 0.75)),
    )


def _weighted_quantile(sorted_pairs: list[tuple[float, int]], q: float) -> float:
    """The value below which a fraction ``q`` of the total weight lies (pairs sorted by value)."""
    total = sum(w for _, w in sorted_pairs)
    if not total:
        return 0.0
    running = 0
    for value, w in sorted_pairs:
        running += w
        if running >= q * total:
            return value
    return sorted_pairs[-1][0]


def _log_ratio(a: float, b: float) -> float:
    return math.log10(max(a, 1e-12)) - math.log10(max(b, 1e-12))


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


def _share(fraction: float) -> str:
    return f"{fraction:.0%}" if fraction >= 0.01 else f"{fraction:.1%}"


def _kind_gap(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return 0.5 if a in CNN_KINDS and b in CNN_KINDS else 1.0


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" or word in ("rnn", "mlp") else "a"


def compare_features(yours: ModelFeatures, theirs: ModelFeatures, theirs_name: str) -> tuple[float, list[FeatureDifference]]:
    """Distance of ``theirs`` from ``yours`` and every feature's part of it, largest first."""
    diffs: list[FeatureDifference] = []
    for feature, weight in SIZE_WEIGHTS.items():
        a, b = yours.size(feature), theirs.size(feature)
        gap = _log_ratio(max(a, 1), max(b, 1))
        noun, more, fewer = _SIZE_WORDS[feature]
        ratio = 10 ** abs(gap)
        if feature in ("macs", "params", "layers"):
            text = f"yours has {_times(ratio)} {more if gap > 0 else fewer} {noun}"
        else:
            text = f"your {noun} is {_times(ratio)} {more if gap > 0 else fewer}"
        diffs.append(FeatureDifference(feature, a, b, weight * gap * gap, text))
    for family in OP_FAMILIES:
        a, b = yours.share(family), theirs.share(family)
        if not a and not b:
            continue
        words = FAMILY_WORDS[family]
        if min(a, b) >= 0.01:
            ratio = a / b
            text = (f"yours spends {_times(ratio if ratio >= 1 else 1 / ratio)} {'more' if ratio >= 1 else 'less'}"
                    f" of its MACs on {words} ({_share(a)} vs {_share(b)})")
        elif a:
            text = f"yours spends {_share(a)} of its MACs on {words}, {theirs_name} {_share(b) if b else 'none'}"
        else:
            text = f"yours has no {words} MACs ({theirs_name}: {_share(b)})"
        diffs.append(FeatureDifference(f"share:{family}", a, b, SHARE_WEIGHT * (a - b) ** 2, text))
    gaps = [_log_ratio(max(a, 1e-6), max(b, 1e-6)) for a, b in zip(yours.intensity_quartiles, theirs.intensity_quartiles)]
    widest = max(range(3), key=lambda i: abs(gaps[i]))  # the quartile that differs most speaks for all three
    diffs.append(FeatureDifference(
        "intensity", yours.intensity_quartiles[1], theirs.intensity_quartiles[1],
        INTENSITY_WEIGHT * sum(g * g for g in gaps),
        f"your {QUARTILE_WORDS[widest]} arithmetic intensity is {_times(10 ** abs(gaps[widest]))}"
        f" {'higher' if gaps[widest] > 0 else 'lower'} ({yours.intensity_quartiles[widest]:.3g} vs"
        f" {theirs.intensity_quartiles[widest]:.3g} MACs/byte)"))
    gap = _kind_gap(yours.kind, theirs.kind)
    diffs.append(FeatureDifference("kind", yours.kind, theirs.kind, KIND_WEIGHT * gap * gap,
                                   f"yours is {_article(yours.kind)} {yours.kind} network, {theirs_name}"
                                   f" {_article(theirs.kind)} {theirs.kind}"))
    distance = math.sqrt(sum(d.contribution for d in diffs))
    diffs = _merge_swapped_families(diffs, theirs_name)
    diffs.sort(key=lambda d: -d.contribution)
    return distance, diffs


def _merge_swapped_families(diffs: list[FeatureDifference], theirs_name: str) -> list[FeatureDifference]:
    """When your MACs sit in a family theirs lacks and theirs in one you lack (LSTM vs GRU), the two
    share differences say one thing: keep one line for both, with both contributions."""
    shares = [d for d in diffs if d.feature.startswith("share:")]
    only_yours = [d for d in shares if d.yours and not d.theirs]
    only_theirs = [d for d in shares if d.theirs and not d.yours]
    if not only_yours or not only_theirs:
        return diffs
    a = max(only_yours, key=lambda d: d.contribution)
    b = max(only_theirs, key=lambda d: d.contribution)
    words_a, words_b = (FAMILY_WORDS[d.feature.split(":", 1)[1]] for d in (a, b))
    merged = FeatureDifference(
        f"{a.feature}+{b.feature.split(':', 1)[1]}", a.yours, b.theirs, a.contribution + b.contribution,
        f"yours spends {_share(a.yours)} of its MACs on {words_a}, {theirs_name} {_share(b.theirs)} on {words_b}")
    return [d for d in diffs if d is not a and d is not b] + [merged]


def _explain(diffs: list[FeatureDifference], count: int = 3) -> tuple[FeatureDifference, ...]:
    return tuple(d for d in diffs[:count] if d.contribution >= EXPLAIN_MIN)


def input_size_of(profile: ModelProfile) -> InputSize | None:
    """The user's input size in zoo terms, from the profile's (static) input shapes.

    A 4-D input is an image (NCHW, or NHWC when its last dim is <= 4 behind two larger ones): WxH.
    A 2-D input [batch, seq] (token ids) gives its sequence length; a 3-D input gives its time axis:
    [batch, channels, time] when the first MAC layer is a convolution (a Conv1d front end),
    [time, batch, features] when only the second dim equals the batch, else [batch, time, features].
    None when no input fits (scalars, 5-D video): every zoo model is then taken at its default size.
    """
    shapes = list(profile.input_shapes.values())
    images = [s for s in shapes if len(s) == 4]
    if images:
        s = max(images, key=math.prod)
        height, width = (s[1], s[2]) if s[3] <= 4 < min(s[1], s[2]) else (s[2], s[3])
        return InputSize("image", f"{width}x{height}")
    first_mac = next((layer for layer in profile.layers if layer.macs), None)
    conv_front = first_mac is not None and first_mac.op in ("Conv", "ConvInteger", "QLinearConv")
    lengths = []
    for s in shapes:
        if len(s) == 2:
            lengths.append(s[1])
        elif len(s) == 3:
            if conv_front:
                lengths.append(s[2])
            elif s[1] == profile.batch and s[0] != profile.batch:
                lengths.append(s[0])
            else:
                lengths.append(s[1])
    return InputSize("sequence", str(max(lengths))) if lengths else None


def _candidate_sizes(zoo: ZooModel, user: InputSize | None) -> list[tuple[str, str]]:
    """(size, note) to try for a zoo model, best first; the note says why it is not the user's size."""
    default = zoo.default_resolution
    if user is None:
        return [(default, "")]
    if zoo.size_kind != user.kind:
        return [(default, f"at its default size {default} (it takes {zoo.size_kind} sizes, yours is"
                          f" {_article(user.kind)} {user.kind})")]
    if user.kind == "image":
        nearest = round_to_multiple(parse_resolution(user.spec), IMAGE_MULTIPLE)
    else:
        nearest = str(int(user.spec) + int(user.spec) % 2)  # whisper takes even frame counts
    return [(user.spec, ""), (nearest, f"at {nearest}, the nearest size it takes"),
            (default, f"at its default size {default} (it does not take {user.spec})")]


@functools.lru_cache(maxsize=256)
def zoo_features(name: str, size: str, batch: int, precision: str) -> ModelFeatures:
    """Features of zoo model ``name`` built weightless at ``size`` (cached: profiles are deterministic)."""
    loaded = load_model(name, resolution=size, batch=batch, with_weights=False)
    return profile_features(profile_model(loaded, precision=precision))


def _accepts(zoo: ZooModel, size: str) -> bool:
    try:
        resolution = parse_resolution(size)
        if zoo.validate is not None:
            zoo.validate(resolution)
    except UserError:
        return False
    return True


def closest_zoo_models(user: ModelProfile, *, resolution: str | None = None,
                       exclude: str | Iterable[str] | None = None, limit: int = 3) -> list[Similarity]:
    """Zoo models ranked by distance to ``user`` (nearest first, at most ``limit``).

    Each zoo model is profiled weightless at the user's input size (``resolution`` when given, else
    read from the profile's input shapes, see ``input_size_of``) where it accepts it, at the user's
    batch and precision. ``exclude``: zoo names to leave out (the user's own model)."""
    excluded = {exclude} if isinstance(exclude, str) else set(exclude or ())
    size = input_size_of(user)
    if resolution is not None:
        kind = size.kind if size is not None else ("sequence" if str(resolution).strip().isdigit() else "image")
        size = InputSize(kind, str(resolution).strip().lower())
    target = profile_features(user)
    found = []
    for zoo in zoo_models():
        if zoo.name in excluded:
            continue
        chosen = next(((s, note) for s, note in _candidate_sizes(zoo, size) if _accepts(zoo, s)), None)
        if chosen is None:
            continue
        features = zoo_features(zoo.name, chosen[0], user.batch, user.precision)
        distance, diffs = compare_features(target, features, zoo.name)
        top = _explain(diffs)
        why = "; ".join(d.text for d in top) or "nearly identical profile"
        found.append(Similarity(zoo.name, chosen[0], distance, why, features.kind, top, chosen[1]))
    return sorted(found, key=lambda s: (s.distance, s.model))[:limit]
