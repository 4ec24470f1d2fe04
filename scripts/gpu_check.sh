#!/usr/bin/env bash
# GPU check (issue 3): ResNet-50 at 224 and 2 MP, batch 1 and 32, fp32/fp16/int8 through the GPU paths
# the installed packages allow, with NVML power. Installs nothing from outside: onnxruntime-gpu (and any
# other wheel) may be carried in .whl/ and is installed from there with --no-index.
#   scripts/gpu_check.sh             run on a machine with an NVIDIA GPU (overall < 8 minutes)
#   scripts/gpu_check.sh --dry-run   check the script on a CPU-only machine (tiny sizes)
# Environment: PYTHON (default: python3), GPU_CHECK_BUDGET_S (default 450).
set -u
cd "$(dirname "$0")/.." || exit 2
PY="${PYTHON:-python3}"
BUDGET="${GPU_CHECK_BUDGET_S:-450}"
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; shift; fi

if [ -z "$DRY" ]; then
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader \
    || echo "gpu_check: nvidia-smi not found"
  if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    # onnxruntime-gpu and onnxruntime share the module name: the CPU wheel must go first.
    if ls .whl/onnxruntime_gpu-*.whl >/dev/null 2>&1; then
      "$PY" -m pip uninstall -y -q onnxruntime >/dev/null 2>&1 || true
    fi
    "$PY" -m pip install -q --no-index --find-links .whl .whl/*.whl \
      || echo "gpu_check: installing carried wheels from .whl/ failed; continuing with what is installed"
  fi
fi

# accelbench from this checkout, without installing it.
if ! "$PY" -c "import accelbench" >/dev/null 2>&1; then
  export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" - <<'PYEOF'
import importlib.util
print(" ".join(m for m in ("numpy", "onnx", "click", "rich", "psutil") if importlib.util.find_spec(m) is None))
PYEOF
)
if [ -n "$missing" ]; then
  echo "gpu_check: missing Python packages: $missing (carry their wheels in .whl/)"
  exit 2
fi

# The whole run stays under 8 minutes: the Python part keeps its own budget; this is the backstop.
timeout --kill-after=10 $((BUDGET + 30)) "$PY" scripts/gpu_check.py $DRY --budget-s "$BUDGET" "$@"
rc=$?
[ $rc -eq 124 ] && echo "gpu_check: stopped at the overall time limit"
exit $rc
