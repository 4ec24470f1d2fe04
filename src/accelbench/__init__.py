"""accelbench: which inference accelerator is best for *your* neural network, measured.

The Python API (``accelbench.profile``, ``bench``, ``project``, ``rank``, ``run``, ``calibrate``,
``results``, ``report``, ``compare``: docs/api.md) lives in accelbench.api and is imported on first
use, so that ``import accelbench`` stays light. Three API names are also the names of subpackages
(``profile``, ``report``, ``results``): on the package each is a ``_SharedName``, which calls the API
function and hands any other attribute on to the subpackage, so that ``accelbench.profile(...)``
profiles while ``import accelbench.report.html as html`` and ``accelbench.results.store`` still reach
the modules (the attribute the import system sets for a subpackage would otherwise shadow the function).
"""

import importlib
import os
import sys
import types

__version__ = "0.1.0"

# The runtimes' telemetry is off wherever accelbench runs (the CLI, the measurement worker, the API):
# ONNX Runtime's (ORT_DISABLE_TELEMETRY: no upload, no device id in ~/.cache/Microsoft, no $TMPDIR/.ses)
# and OpenVINO's and NNCF's (both use the openvino_telemetry package when it imports; marked missing
# here, they fall back to their no-op stubs: no event sent, nothing written to ~/intel). Set before
# either runtime is imported; docs/files.md lists every path accelbench and its runtimes write.
RUNTIME_TELEMETRY_ENV = {"ORT_DISABLE_TELEMETRY": "1"}
for _name, _value in RUNTIME_TELEMETRY_ENV.items():
    os.environ.setdefault(_name, _value)
sys.modules.setdefault("openvino_telemetry", None)

API = ("profile", "bench", "project", "rank", "run", "plan_run", "calibrate", "results", "report", "compare",
       "constraints", "Projections", "Ranking")
__all__ = ["__version__", *API]


SUBPACKAGE_NAMES = ("profile", "report", "results")  # API names that are also subpackages


class _SharedName:
    """An API function that shares its name with a subpackage: calling it calls the function
    (accelbench.api), any other attribute is the subpackage's (imported when first asked)."""

    def __init__(self, name: str):
        self._name = name

    def _function(self):
        return getattr(importlib.import_module("accelbench.api"), self._name)

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(f"accelbench.{self._name}"), attr)

    @property
    def __doc__(self):  # help(accelbench.profile) shows the function's documentation
        return self._function().__doc__

    def __repr__(self) -> str:
        return f"<accelbench.{self._name}: the API function accelbench.api.{self._name} and the subpackage>"


_SHARED = {name: _SharedName(name) for name in SUBPACKAGE_NAMES}


class _Package(types.ModuleType):
    """This package's module type: its API names resolve to accelbench.api, imported when first asked."""

    def __getattribute__(self, name: str):
        if name in _SHARED:
            return _SHARED[name]
        if name in API:
            return getattr(importlib.import_module("accelbench.api"), name)
        return super().__getattribute__(name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *API})


sys.modules[__name__].__class__ = _Package
