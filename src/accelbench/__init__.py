"""accelbench: which inference accelerator is best for *your* neural network, measured."""

import os
import sys

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
