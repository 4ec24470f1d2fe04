"""Models: the zoo (built in code at any input size) and loaders for user ONNX files."""

from accelbench.models.registry import ZooModel, find_zoo_model, get_zoo_model, register_model, zoo_models

__all__ = ["ZooModel", "find_zoo_model", "get_zoo_model", "register_model", "zoo_models"]
