"""Find the zoo model closest to a user's model (stage 3 -> stage 4 of the four stages).

Closeness is judged on what stresses an accelerator, from the static profile only (no runtime):
MACs per inference, parameters, peak live activation memory, layer count (all on a log scale),
and the operator mix (share of MACs in dense convolutions, depthwise/grouped convolutions and
matmuls/attention). Each feature is scaled so that a factor of 10 in size or a 100 % shift in
the mix counts the same; the distance is Euclidean over those features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelbench.profile.types import ModelProfile

FEATURES = ("log10_macs", "log10_params", "log10_peak_activation", "log10_layers",
            "share_conv", "share_depthwise", "share_matmul")


@dataclass(frozen=True)
class Similarity:
    model: str
    resolution: str
    distance: float
    why: str  # the largest differences, in words

    def to_dict(self) -> dict:
        return {"model": self.model, "resolution": self.resolution, "distance": self.distance, "why": self.why}


def profile_features(profile: ModelProfile) -> dict[str, float]:
    """The feature vector of a profile (see the module docstring)."""
    macs = profile.macs
    conv = depthwise = matmul = 0
    for layer in profile.layers:
        if not layer.macs:
            continue
        if layer.op in ("Conv", "ConvTranspose"):
            gemm = layer.gemm
            if gemm is not None and gemm.groups > 1 and gemm.n <= 1:
                depthwise += layer.macs
            else:
                conv += layer.macs
        else:
            matmul += layer.macs
    total = macs or 1
    return {
        "log10_macs": math.log10(max(macs, 1)),
        "log10_params": math.log10(max(profile.params, 1)),
        "log10_peak_activation": math.log10(max(profile.peak_live_activation_bytes, 1)),
        "log10_layers": math.log10(max(profile.layer_count, 1)),
        "share_conv": conv / total,
        "share_depthwise": depthwise / total,
        "share_matmul": matmul / total,
    }


def feature_distance(a: dict[str, float], b: dict[str, float]) -> tuple[float, str]:
    diffs = {k: b[k] - a[k] for k in FEATURES}
    distance = math.sqrt(sum(d * d for d in diffs.values()))
    words = []
    for key, diff in sorted(diffs.items(), key=lambda kv: -abs(kv[1]))[:2]:
        if abs(diff) < 0.05:
            continue
        if key.startswith("log10_"):
            words.append(f"{key[6:].replace('_', ' ')} x{10 ** diff:.2g}")
        else:
            words.append(f"{key[6:]} share {diff:+.0%}")
    return distance, ", ".join(words) or "nearly identical profile"


def closest_zoo_models(user: ModelProfile, *, resolution: str | None = None, exclude: str | None = None,
                       limit: int = 3) -> list[Similarity]:
    """Zoo models ranked by distance to ``user``; each zoo model is profiled (weightless) at
    ``resolution`` when it accepts it, else at its default size."""
    from accelbench.errors import UserError
    from accelbench.models.loader import load_model
    from accelbench.models.registry import zoo_models
    from accelbench.profile import profile_model

    target = profile_features(user)
    found = []
    for zoo in zoo_models():
        if zoo.name == exclude:
            continue
        loaded = None
        for size in (resolution, zoo.default_resolution):
            if size is None:
                continue
            try:
                loaded = load_model(zoo.name, resolution=size, batch=user.batch, with_weights=False)
                break
            except UserError:
                continue
        if loaded is None:
            continue
        profile = profile_model(loaded, precision=user.precision)
        distance, why = feature_distance(target, profile_features(profile))
        found.append(Similarity(zoo.name, loaded.resolution.spec if loaded.resolution else "default", distance, why))
    return sorted(found, key=lambda s: s.distance)[:limit]
