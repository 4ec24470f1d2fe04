"""accelbench: which inference accelerator is best for *your* neural network, measured.

The Python API (``accelbench.profile``, ``bench``, ``project``, ``rank``, ``run``, ``calibrate``,
``results``, ``report``, ``compare``: docs/api.md) lives in accelbench.api and is imported on first
use, so that ``import accelbench`` stays light. Three API names are also the names of subpackages
(``profile``, ``report``, ``results``): on the package the API function wins, always (the package
attribute the import system sets for a subpackage would shadow it); the subpackages are imported by
their full names (``from accelbench.profile import profile_model``), never as attributes of the package.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

API = ("profile", "bench", "project", "rank", "run", "plan_run", "calibrate", "results", "report", "compare",
       "constraints", "Projections", "Ranking")
__all__ = ["__version__", *API]


class _Package(types.ModuleType):
    """This package's module type: its API names resolve to accelbench.api, imported when first asked."""

    def __getattribute__(self, name: str):
        if name in API:
            return getattr(importlib.import_module("accelbench.api"), name)
        return super().__getattribute__(name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *API})


sys.modules[__name__].__class__ = _Package
