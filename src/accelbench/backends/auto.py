"""``auto``: the fastest installed backend for this model, device and precision, by a short trial.

Every installed backend that supports the device and precision loads the model and runs it for
``trial_s`` seconds (option, default 1.0) after ``warmup`` runs (option, default 2); the one with
the lowest median latency wins and is kept loaded; the others are closed. Backends that cannot run
the model (e.g. torch with a zoo model) are skipped, with their reason kept. ``describe()`` is the
winner's, with ``extra["auto"]`` holding the pick and every trial's figures (noisy: a 1 s trial on
a shared machine separates backends that differ by more than ~10 %, not less).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any

from accelbench.backends.base import Backend, BackendConfig, RunInfo, backend_names, get_backend, register_backend
from accelbench.errors import BackendUnavailable, UserError


@register_backend
class AutoBackend(Backend):
    name = "auto"

    def __init__(self, config: BackendConfig, *, clock=time.perf_counter_ns):
        super().__init__(config)
        opts = dict(config.options)
        self.trial_s = float(opts.get("trial_s", 1.0))
        self.warmup = int(opts.get("warmup", 2))
        if self.trial_s <= 0 or self.warmup < 0:
            raise UserError(f"auto: trial_s must be > 0 and warmup >= 0, got {self.trial_s}, {self.warmup}")
        only = opts.get("candidates")
        self.candidates = tuple(only) if only else None
        self._clock = clock
        self.chosen: Backend | None = None
        self.trials: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _others() -> list[type[Backend]]:
        out = []
        for name in backend_names():
            if name == AutoBackend.name:
                continue
            try:
                out.append(get_backend(name))
            except UserError:
                continue  # not installed
        return out

    @classmethod
    def is_available(cls) -> bool:
        return bool(cls._others())

    @classmethod
    def supported(cls) -> dict[str, tuple[str, ...]]:
        union: dict[str, list[str]] = {}
        for other in cls._others():
            for device, precisions in other.supported().items():
                bucket = union.setdefault(device, [])
                bucket.extend(p for p in precisions if p not in bucket)
        return {d: tuple(p) for d, p in union.items()}

    def load(self, model) -> None:
        device, precision = self.config.device.lower(), self.config.precision
        eligible = [c for c in self._others() if precision in c.supported().get(device, ())]
        if self.candidates is not None:
            eligible = [c for c in eligible if c.name in self.candidates]
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
        backend.load(model)
        inputs = backend.prepare_inputs(0)
        for _ in range(self.warmup):
            backend.run(inputs)
        latencies: list[int] = []
        deadline = self._clock() + int(self.trial_s * 1e9)
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

    def outputs_as_numpy(self, outputs: Any):
        return self._require().outputs_as_numpy(outputs)

    def describe(self) -> RunInfo:
        chosen = self._require()
        info = chosen.describe()
        auto = {"picked": chosen.name, "trial_s": self.trial_s, "trials": self.trials,
                "rule": "lowest median latency in the trial"}
        return replace(info, extra={**info.extra, "auto": auto})

    def close(self) -> None:
        if self.chosen is not None:
            self.chosen.close()
            self.chosen = None
