"""How much of a model the static profiler could not see: layers whose shapes or ops stayed unknown.

A layer with an unknown shape counts 0 bytes for it; a MAC layer (Conv, MatMul, Gemm, ...) whose
shapes stayed unknown counts 0 MACs, so every figure divided by MACs (MAC/s, MAC utilization,
projections) is off. Profiles (accelbench.profile) compute it; records keep it beside their MAC count.
Pure data, no imports: any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class UnknownLayers:
    """Counts of layers the profiler could not resolve, out of the model's layers."""

    layers: int  # layers with an unknown shape or an op the profiler does not know
    total_layers: int
    mac_layers: int  # MAC layers whose MACs could not be counted (counted as 0)
    total_mac_layers: int  # layers whose op carries MACs (Conv, ConvTranspose, Gemm, MatMul, Einsum, RNNs)
    unknown_ops: tuple[str, ...] = ()  # ops the profiler does not know (counted as 0 MACs)
    macs: int | None = None  # the MACs that were counted

    def __post_init__(self) -> None:
        if not 0 <= self.layers <= self.total_layers or not 0 <= self.mac_layers <= self.total_mac_layers:
            raise ValueError(f"unknown layers: counts out of range: {self}")
        object.__setattr__(self, "unknown_ops", tuple(self.unknown_ops))

    @property
    def share(self) -> float:
        """Unknown layers as a share of all layers (0..1)."""
        return self.layers / self.total_layers if self.total_layers else 0.0

    @property
    def macs_complete(self) -> bool:
        """Every MAC layer was counted and no op is unknown: the MAC count stands for the whole model."""
        return self.mac_layers == 0 and not self.unknown_ops

    @property
    def macs_counted(self) -> bool:
        """False when no MAC was counted at all (0 MACs): nothing divided by MACs means anything."""
        return bool(self.macs)

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "total_layers": self.total_layers, "share": self.share,
                "mac_layers": self.mac_layers, "total_mac_layers": self.total_mac_layers,
                "unknown_ops": list(self.unknown_ops), "macs": self.macs, "macs_complete": self.macs_complete}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "UnknownLayers | None":
        if not data:
            return None
        return cls(int(data["layers"]), int(data["total_layers"]), int(data["mac_layers"]),
                   int(data["total_mac_layers"]), tuple(data.get("unknown_ops") or ()), data.get("macs"))
