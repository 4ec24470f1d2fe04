"""``auto``: the fastest installed backend for this model, device and precision, by a short trial.

Every installed backend that supports the device and precision and accepts the model's source
(``Backend.accepts``) loads the model and runs it for ``AutoOptions.trial_s`` seconds (default 1.0)
after ``warmup`` runs (default 2); the one with the lowest median latency wins and is kept loaded;
the others are closed. Backends that do not accept the model's source (e.g. a zoo model on a
backend that runs only torch modules) or fail to load it are skipped, with their reason kept.
``describe()`` is the winner's, with ``extra["auto"]`` holding the pick and every trial's figures
(noisy: a 1 s trial on a shared machine separates backends that differ by more than ~10 %, not less).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx

from accelbench.backends.base import (
    Backend,
    BackendConfig,
    PreparedModel,
    onnx_proto_of,
    register_backend,
    registered_backends,
)
from accelbench.errors import BackendUnavailable, UserError, choice_error
from accelbench.models.loader import model_source
from accelbench.results.records import RunInfo
from accelbench.shapes import parse_whole_number
from accelbench.sources import MODEL_SOURCES


@dataclass(frozen=True)
class AutoOptions:
    """How auto picks: trial length, warm-up runs, and optionally which backends may take part."""

    trial_s: float = 1.0  # seconds of timed runs per candidate
    warmup: int = 2  # untimed runs before each trial
    candidates: tuple[str, ...] | None = None  # backend names; None: every installed one

    def __post_init__(self) -> None:
        if isinstance(self.trial_s, bool) or not isinstance(self.trial_s, (int, float)) \
                or not math.isfinite(self.trial_s) or self.trial_s <= 0:
            raise UserError(f"trial_s: must be a positive number of seconds; got {self.trial_s!r}")
        object.__setattr__(self, "warmup", parse_whole_number(self.warmup, field="warmup", minimum=0,
                                                              examples="0 or 2"))
        if self.candidates is not None:
            names = (self.candidates,) if isinstance(self.candidates, str) else tuple(self.candidates)
            allowed = [cls.name for cls in registered_backends() if not cls.delegates]
            for name in names:
                if name not in allowed:
                    raise choice_error("candidates", name, allowed)
            if not names:
                raise UserError(f"candidates: name at least one backend ({', '.join(allowed)}) or leave it None")
            object.__setattr__(self, "candidates", names)


@register_backend
class AutoBackend(Backend):
    name = "auto"
    options_class = AutoOptions
    accepts = tuple(MODEL_SOURCES)  # whatever one of the installed backends accepts
    delegates = True
    options: AutoOptions

    def __init__(self, config: BackendConfig, options: AutoOptions | None = None, *, clock=time.perf_counter_ns):
        super().__init__(config, options)
        self._clock = clock
        self._calibration_data: list[dict[str, np.ndarray]] | None = None
        self.chosen: Backend | None = None
        self.trials: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _others(source: str | None = None) -> list[type[Backend]]:
        """Installed backends that run a model themselves (and accept ``source``, when given)."""
        return [cls for cls in registered_backends()
                if not cls.delegates and (source is None or source in cls.accepts) and cls.is_available()]

    @classmethod
    def is_available(cls) -> bool:
        return bool(cls._others())

    @classmethod
    def supported(cls) -> dict[str, tuple[str, ...]]:
        return cls.supported_for(None)

    @classmethod
    def supported_for(cls, source: str | None = None) -> dict[str, tuple[str, ...]]:
        """The union of what the installed backends that accept ``source`` can run."""
        union: dict[str, list[str]] = {}
        for other in cls._others(source):
            for device, precisions in other.supported().items():
                bucket = union.setdefault(device, [])
                bucket.extend(p for p in precisions if p not in bucket)
        return {d: tuple(p) for d, p in union.items()}

    def prepare(self, model: onnx.ModelProto,
                calibration_data: list[dict[str, np.ndarray]] | None = None) -> PreparedModel:
        """The graph as it is: each candidate prepares it in its trial (with ``calibration_data``)."""
        self._calibration_data = calibration_data
        return PreparedModel(model, self.name, self.config.device.lower(), self.config.precision, "deferred",
                             notes=("prepared by each candidate backend in its trial",))

    def load(self, model) -> None:
        device, precision = self.config.device.lower(), self.config.precision
        if isinstance(model, PreparedModel):
            model = self.prepared(model).model
        source = model_source(model)
        eligible = [c for c in self._others() if precision in c.supported().get(device, ())]
        if self.options.candidates is not None:
            eligible = [c for c in eligible if c.name in self.options.candidates]
        if not eligible:
            can = self.supported().get(device, ())
            raise BackendUnavailable(
                f"precision: no installed backend runs {precision!r} on {device!r} here; "
                f"on {device} they can run: {', '.join(can) or 'nothing'}"
            )
        best: Backend | None = None
        best_median = None
        for cls in eligible:
            backend = cls(self.config)
            try:
                cls.check_runs(device, precision, source)
                median_ns, runs = self._trial(backend, model)
            except UserError as exc:
                self.trials[cls.name] = {"error": str(exc)}
                backend.close()
                continue
            self.trials[cls.name] = {"median_latency_ns": median_ns, "runs": runs,
                                     "throughput_per_s": self.config.batch * 1e9 / median_ns}
            if best_median is None or median_ns < best_median:
                if best is not None:
                    best.close()
                best, best_median = backend, median_ns
            else:
                backend.close()
        if best is None:
            reasons = "; ".join(f"{k}: {v['error']}" for k, v in self.trials.items())
            raise UserError(f"backend: auto found no backend that runs this model ({reasons})")
        self.chosen = best

    def _trial(self, backend: Backend, model) -> tuple[int, int]:
        if self._calibration_data is not None:
            backend.load(backend.prepare(onnx_proto_of(model, backend.name), self._calibration_data))
        else:
            backend.load(model)
        inputs = backend.prepare_inputs(0)
        for _ in range(self.options.warmup):
            backend.run(inputs)
        latencies: list[int] = []
        deadline = self._clock() + int(self.options.trial_s * 1e9)
        while len(latencies) < 3 or self._clock() < deadline:
            start = self._clock()
            backend.run(inputs)
            latencies.append(self._clock() - start)
        return int(statistics.median(latencies)), len(latencies)

    def _require(self) -> Backend:
        if self.chosen is None:
            raise UserError("auto backend: call load(model) first")
        return self.chosen

    def prepare_inputs(self, seed: int = 0) -> Any:
        return self._require().prepare_inputs(seed)

    def run(self, inputs: Any) -> Any:
        return self._require().run(inputs)

    def inputs_from_arrays(self, arrays: dict[str, np.ndarray]) -> Any:
        return self._require().inputs_from_arrays(arrays)

    def request_runners(self, inputs: list[Any]) -> list:
        return self._require().request_runners(inputs)

    def outputs_as_numpy(self, outputs: Any):
        return self._require().outputs_as_numpy(outputs)

    def profile_layers(self, inputs: Any, runs: int, warmup: int = 1):
        return self._require().profile_layers(inputs, runs, warmup)

    def resolved(self) -> Backend:
        return self.chosen or self

    def describe(self) -> RunInfo:
        chosen = self._require()
        info = chosen.describe()
        auto = {"picked": chosen.name, "trial_s": self.options.trial_s, "trials": self.trials,
                "rule": "lowest median latency in the trial"}
        return replace(info, extra={**info.extra, "auto": auto})

    def close(self) -> None:
        if self.chosen is not None:
            self.chosen.close()
            self.chosen = None
