"""Static analysis of an ONNX graph: per-layer MACs, parameters, bytes, liveness, intensity.

``profile_model(model, precision)`` returns a ModelProfile (accelbench.profile.types); its table
and CSV are rendered by accelbench.report.profile_table.
"""

from accelbench.profile.profiler import profile_model
from accelbench.profile.types import GemmDims, LayerProfile, ModelProfile

__all__ = [
    "GemmDims",
    "LayerProfile",
    "ModelProfile",
    "profile_model",
]
