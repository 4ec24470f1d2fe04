"""Static analysis of an ONNX graph: per-layer MACs, parameters, bytes, liveness, intensity.

``profile_model(model, precision)`` returns a ModelProfile (accelbench.profile.types); the display
helpers (tables, CSV, human units) live apart in accelbench.profile.display.
"""

from accelbench.profile.display import format_profile_csv, format_profile_table, human_bytes, human_count
from accelbench.profile.profiler import profile_model
from accelbench.profile.types import GemmDims, LayerProfile, ModelProfile

__all__ = [
    "GemmDims",
    "LayerProfile",
    "ModelProfile",
    "format_profile_csv",
    "format_profile_table",
    "human_bytes",
    "human_count",
    "profile_model",
]
