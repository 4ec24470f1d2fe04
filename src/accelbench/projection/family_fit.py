"""Fit device-family parameters on a published table, and validate them leave-one-device-out.

The fitted figures are a family's ``compute_efficiency``, ``dram_efficiency`` and
``layer_overhead_s`` (params.FITTED_FIELDS). Families form a tree (projection/device_params.toml):
the root (``nvidia_tensor_core``) is fitted on every row of its devices; a child (a tensor-core
generation) on its own devices' rows, pulled towards its parent's figures by ``FAMILY_PRIOR_WEIGHT``
(a family with few rows stays near its parent; one with none is its parent). A device is projected
with the figures of the deepest family on its chain that had rows to fit.

Workloads whose harness removes padding (MLPerf bert-99: NVIDIA's variable-sequence-length BERT)
get one fitted **work share** per scenario: the published seconds per sample over the padded graph's
projected ones, the geometric mean over that model's rows. It belongs to the benchmark's data (the
real token counts of SQuAD), never to a device, and it is refitted in every leave-one-device-out fold.

Workloads whose benchmark times post-processing that the zoo graph leaves out (MLPerf RetinaNet
returns detections, so its SUT runs NMS) get one fitted **post-processing time** per implementation
the rows name (published.py: ``postprocess``; TensorRT's EfficientNMS plugin in v2.1, NVIDIA's
NMS_OPT_TRT plugin in v3.1), added to the SingleStream latency at batch 1 and paid in clock cycles as
the per-layer overhead is. Like the work shares it belongs to the benchmark's software, never to a
device: refitted in every fold, and an implementation without rows in a fold adds nothing. Offline
rows carry none: a per-sample Offline term was tried and bought nothing out of sample (it is
confounded with the compute efficiency; docs/projection.md).

Loss: mean squared log error of seconds per sample (Offline: 1 / throughput at the best batch;
SingleStream: batch-1 latency), as calibrate.py; the per-layer terms come from
``calibrate.split_terms`` (compute at efficiency 1, on-chip, DRAM at efficiency 1), so a fit is array
arithmetic. Leave-one-device-out: every fitted figure, the work shares included, is refitted without
the device's rows, then the device's rows are projected with ``model.project``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog
from accelbench.hardware.spec import DeviceSpec
from accelbench.projection.api import load_profile
from accelbench.projection.calibrate import CalibrationPoint, nelder_mead, split_terms
from accelbench.projection.intervals import Residual
from accelbench.projection.model import batch_candidates, project
from accelbench.projection.params import FITTED_FIELDS, DeviceParams, ParamsFile, load_params_file
from accelbench.projection.published import PublishedRow, PublishedTable

FAMILY_PRIOR_WEIGHT = 0.05  # per fitted figure, on (log ratio to the parent's)^2, next to a mean squared log error
ROOT_PRIOR_WEIGHT = 1e-6  # a tie-breaker towards the shipped defaults where the rows say nothing
OVERHEAD_FLOOR_S = 1e-7  # layer overhead is fitted as log(o + floor)
WORK_SHARE_ROUNDS = 3  # alternations of (family figures, work shares and post-processing times)
POSTPROCESS_GRID_S = np.linspace(0.0, 20e-3, 4001)  # candidate post-processing times, 5 us apart
BOUNDS = ("compute", "sram", "dram", "overhead")


@dataclass
class _RowTerms:
    """One published row's per-layer terms at every batch the fit may pick (Offline) or batch 1."""

    row: PublishedRow
    chain: tuple[str, ...]
    batches: tuple[int, ...]
    compute: np.ndarray  # all batches' layers, concatenated
    sram: np.ndarray
    dram: np.ndarray
    starts: np.ndarray  # start index of each batch's layers
    layers: float  # layers paying the per-layer overhead, x the device's overhead_scale (clock cycles)
    overhead_scale: float  # DeviceParams.overhead_scale at the device's clock: what a cycle-paid term costs it


@dataclass(frozen=True)
class FamilyFit:
    """Fitted figures per family and work share per (model, scenario)."""

    values: dict[str, dict[str, float]]  # family -> {compute_efficiency, dram_efficiency, layer_overhead_s}
    rows_per_family: dict[str, int]
    work_share: dict[tuple[str, str], float] = field(default_factory=dict)  # (model, scenario) -> share
    # (post-processing implementation, scenario) -> seconds per sample at the overhead reference clock
    postprocess_s: dict[tuple[str, str], float] = field(default_factory=dict)

    def values_for(self, chain: tuple[str, ...]) -> tuple[str, dict[str, float]] | tuple[str, None]:
        """(family, figures) of the deepest family on ``chain`` that was fitted; ("", None) if none was."""
        for name in reversed(chain):
            if name in self.values:
                return name, self.values[name]
        return "", None


@dataclass(frozen=True)
class RowResult:
    """A published row against its projection: residual = log(projected / published seconds per sample)."""

    row: PublishedRow
    projected_time_s: float
    fitted_family: str  # whose figures projected it ("" = the kind's defaults)
    bound: dict[str, float]  # share of projected time per bound at the scenario's batch

    @property
    def residual(self) -> float:
        return math.log(self.projected_time_s / self.row.time_s)

    @property
    def error(self) -> float:
        """projected / published - 1 on the row's own metric (throughput or latency)."""
        ratio = self.row.time_s / self.projected_time_s if self.row.scenario == "offline" else \
            self.projected_time_s / self.row.time_s
        return ratio - 1.0

    @property
    def factor(self) -> float:
        return math.exp(abs(self.residual))


class PublishedFitter:
    """Everything needed to fit and validate on one table: devices, base params, profiles, terms."""

    def __init__(self, table: PublishedTable, params_file: ParamsFile | None = None, catalog: dict | None = None,
                 *, model_postprocess: bool = True, postprocess_scenarios: tuple[str, ...] = ("single-stream",)):
        self.table = table
        # False: fit and project the network alone (benchmarks/projection_accuracy.py shows what the term buys)
        self.model_postprocess = model_postprocess
        self.postprocess_scenarios = postprocess_scenarios  # ("single-stream", "offline"): the variant not kept
        self.params_file = params_file or load_params_file()
        catalog = catalog if catalog is not None else load_catalog()
        unknown = sorted({r.device for r in table.rows} - set(catalog))
        if unknown:
            raise UserError(f"published results: device(s) {', '.join(unknown)} are not in the catalog")
        self.devices: dict[str, DeviceSpec] = {d: catalog[d] for d in table.devices}
        self.base: dict[str, DeviceParams] = {d: self.params_file.params_for(d, spec.kind)
                                              for d, spec in self.devices.items()}
        self.profiles = {m: load_profile(m, resolution=w.resolution, precision=w.precision)
                         for m, w in table.workloads.items()}
        self.terms = [self._row_terms(r) for r in table.rows]

    def _row_terms(self, row: PublishedRow) -> _RowTerms:
        device, params = self.devices[row.device], self.base[row.device]
        profile = self.profiles[row.model]
        batches = (1,) if row.scenario == "single-stream" else batch_candidates(profile, device, params)[0]
        parts = [split_terms(CalibrationPoint(profile, b, row.time_s), device, params) for b in batches]
        starts = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
        return _RowTerms(row, params.family_chain, tuple(batches), np.concatenate([p[0] for p in parts]),
                         np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
                         starts, parts[0][3], params.overhead_scale(device.clock_hz))

    def _postprocess_key(self, row: PublishedRow) -> tuple[str, str] | None:
        """(implementation, scenario) of the post-processing time this row's projection carries (None: none)."""
        if not self.model_postprocess or not row.postprocess or row.scenario not in self.postprocess_scenarios:
            return None
        return row.postprocess, row.scenario

    # -- the fit -------------------------------------------------------------------------------------
    def _times(self, terms: list[_RowTerms], thetas: list[tuple[float, float, float]],
               shares: list[float], post: dict[tuple[str, str], float] | None = None) -> np.ndarray:
        """Seconds per sample of each row (best batch) with figures (ce, de, o) per row, plus the
        post-processing time of its implementation and scenario (``post``)."""
        out = np.empty(len(terms))
        for i, (t, (ce, de, o), share) in enumerate(zip(terms, thetas, shares)):
            body = np.maximum(np.maximum(t.compute / ce, t.sram), t.dram / de)
            per_batch = (np.add.reduceat(body, t.starts) + t.layers * o) / np.array(t.batches)
            out[i] = per_batch.min() * share + (post or {}).get(self._postprocess_key(t.row), 0.0) * t.overhead_scale
        return out

    def _fit_one(self, terms: list[_RowTerms], shares: list[float], prior: tuple[float, float, float],
                 weight: float, post: dict[tuple[str, str], float]) -> tuple[float, float, float]:
        targets = np.log([t.row.time_s for t in terms])
        log_prior = np.array([math.log(prior[0]), math.log(prior[1]), math.log(prior[2] + OVERHEAD_FLOOR_S)])

        def unpack(x):
            return (min(math.exp(x[0]), 1.0), min(math.exp(x[1]), 1.0), max(math.exp(x[2]) - OVERHEAD_FLOOR_S, 0.0))

        def loss(x):
            theta = unpack(x)
            times = self._times(terms, [theta] * len(terms), shares, post)
            misfit = float(np.mean((np.log(times) - targets) ** 2))
            return misfit + weight * float(np.sum((np.asarray(x) - log_prior) ** 2))

        # a coarse grid for the start (the loss has kinks where a layer changes bound), then Nelder-Mead
        grid = [(c, d, o) for c in np.log([0.15, 0.3, 0.5, 0.8]) for d in np.log([0.4, 0.7, 1.0])
                for o in np.log(np.array([1e-6, 4e-6, 15e-6]) + OVERHEAD_FLOOR_S)]
        start = min(grid, key=loss)
        return unpack(nelder_mead(loss, np.array(start), step=0.2, iterations=250))

    def fit(self, exclude_device: str | None = None) -> FamilyFit:
        """Fit every family with rows (and the work shares) on the table without ``exclude_device``."""
        terms = [t for t in self.terms if t.row.device != exclude_device]
        if not terms:
            raise UserError("published results: no rows left to fit")
        families = sorted({name for t in terms for name in t.chain}, key=lambda n: (self._depth(n), n))
        share_keys = {(t.row.model, t.row.scenario) for t in terms
                      if self.table.workloads[t.row.model].variable_length}
        work_share = {key: 1.0 for key in share_keys}
        post_keys = sorted({self._postprocess_key(t.row) for t in terms} - {None})
        post: dict[tuple[str, str], float] = {}
        values: dict[str, dict[str, float]] = {}
        for _ in range(WORK_SHARE_ROUNDS):
            values = {}
            for family in families:
                members = [t for t in terms if family in t.chain]
                parent = self.params_file.families.get(family, {}).get("parent", "")
                if parent in values:
                    prior, weight = tuple(values[parent][k] for k in FITTED_FIELDS), FAMILY_PRIOR_WEIGHT
                else:
                    base = self.base[members[0].row.device]
                    prior, weight = (base.compute_efficiency, base.dram_efficiency, base.layer_overhead_s), ROOT_PRIOR_WEIGHT
                shares = [work_share.get((t.row.model, t.row.scenario), 1.0) for t in members]
                values[family] = dict(zip(FITTED_FIELDS, self._fit_one(members, shares, prior, weight, post)))
            fit = FamilyFit(values, {f: sum(1 for t in terms if f in t.chain) for f in families}, work_share)
            if not share_keys and not post_keys:
                break
            # each post-processing time: the one that best closes the gap of its rows (log error)
            for key in post_keys:
                rows = [t for t in terms if self._postprocess_key(t.row) == key]
                body = self._times(rows, [self._theta(fit, t.chain, t.row.device) for t in rows],
                                   [work_share.get((t.row.model, t.row.scenario), 1.0) for t in rows])
                scale = np.array([t.overhead_scale for t in rows])
                target = np.log([t.row.time_s for t in rows])
                loss = ((np.log(body[None, :] + POSTPROCESS_GRID_S[:, None] * scale[None, :]) - target) ** 2).sum(axis=1)
                post[key] = float(POSTPROCESS_GRID_S[int(np.argmin(loss))])
            # each work share: geometric mean of published / projected-at-full-work seconds per sample
            for key in share_keys:
                rows = [t for t in terms if (t.row.model, t.row.scenario) == key]
                times = self._times(rows, [self._theta(fit, t.chain, t.row.device) for t in rows], [1.0] * len(rows), post)
                work_share[key] = float(np.exp(np.mean(np.log([t.row.time_s for t in rows]) - np.log(times))))
        return FamilyFit(values, {f: sum(1 for t in terms if f in t.chain) for f in families}, dict(work_share),
                         dict(post))

    def _depth(self, family: str) -> int:
        return len(self.params_file.family_chain(family))

    def _theta(self, fit: FamilyFit, chain: tuple[str, ...], device: str) -> tuple[float, float, float]:
        _, figures = fit.values_for(chain)
        base = self.base[device]
        figures = figures or {k: getattr(base, k) for k in FITTED_FIELDS}
        return tuple(figures[k] for k in FITTED_FIELDS)

    # -- projecting rows with a fit ------------------------------------------------------------------
    def params_with(self, fit: FamilyFit, device: str) -> tuple[DeviceParams, str]:
        family, figures = fit.values_for(self.base[device].family_chain)
        if figures is None:
            return self.base[device], ""
        return replace(self.base[device], **figures), family

    def project_rows(self, fit: FamilyFit, device: str | None = None) -> list[RowResult]:
        """Every row (of ``device``, or all) projected with ``model.project`` and the fit's figures."""
        results, cache = [], {}
        for row in self.table.rows:
            if device is not None and row.device != device:
                continue
            params, family = self.params_with(fit, row.device)
            key = (row.model, row.device, row.scenario)
            if key not in cache:
                cache[key] = project(self.profiles[row.model], self.devices[row.device], params,
                                     scenario=row.scenario, with_interval=False)
            proj = cache[key]
            seconds = proj.latency_s if row.scenario == "single-stream" else 1.0 / proj.throughput_per_s
            share = fit.work_share.get((row.model, row.scenario), 1.0)
            post = fit.postprocess_s.get(self._postprocess_key(row), 0.0) * params.overhead_scale(self.devices[row.device].clock_hz)
            results.append(RowResult(row, seconds * share + post, family, {b: proj.bound.get(b, 0.0) for b in BOUNDS}))
        return results

    def in_sample(self) -> tuple[FamilyFit, list[RowResult]]:
        fit = self.fit()
        return fit, self.project_rows(fit)

    def leave_one_device_out(self) -> tuple[list[RowResult], dict[str, FamilyFit]]:
        """Each device's rows projected with every figure refitted without them."""
        results, fits = [], {}
        for device in self.table.devices:
            fits[device] = self.fit(exclude_device=device)
            results.extend(self.project_rows(fits[device], device))
        return results, fits


def median_abs_error(results: list[RowResult]) -> float:
    return float(np.median([abs(r.error) for r in results])) if results else float("nan")


def worst_factor(results: list[RowResult]) -> float:
    return max((r.factor for r in results), default=float("nan"))


# -- what ships: the fitted figures in device_params.toml and the residuals for the intervals ------
FITTED_MARK = "#FITTED "
FITTED_END = "#END FITTED"


def fitted_block(fit: FamilyFit, family: str, devices: list[str]) -> str:
    """The TOML lines of one family's fitted figures (3 significant digits) with their sources."""
    values = fit.values[family]
    rows = fit.rows_per_family[family]
    lines = [f"{key} = {float(f'{values[key]:.3g}')!r}" for key in FITTED_FIELDS]
    for key in FITTED_FIELDS:  # dotted keys: the family table may carry other sources before the block
        lines.append(f'sources.{key} = "fitted in-sample on {rows} published MLPerf rows of {", ".join(devices)}'
                     f' (tests/data/published/mlperf_inference.toml; benchmarks/projection_accuracy.py --write)"')
    return "\n".join(lines)


def render_params_file(text: str, fit: FamilyFit, members: dict[str, list[str]]) -> str:
    """``text`` (device_params.toml) with every ``#FITTED <family>`` block replaced by the fit's figures;
    a family the fit has no figures for gets an empty block (it inherits its parent's)."""
    out, skipping = [], False
    for line in text.splitlines():
        if skipping:
            skipping = line.strip() != FITTED_END
            continue
        if line.startswith(FITTED_MARK):
            family = line[len(FITTED_MARK):].strip()
            out.append(line)
            if family in fit.values:
                out.append(fitted_block(fit, family, members.get(family, [])))
            out.append(FITTED_END)
            skipping = True
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def render_residuals(results: list[RowResult], fit: FamilyFit, chains: dict[str, tuple[str, ...]], table_path: str) -> str:
    """lodo_residuals.toml: every leave-one-device-out residual with what the intervals weigh it by."""
    lines = ["# Leave-one-device-out residuals of the family fit: generated by",
             "# `python benchmarks/projection_accuracy.py --write`; do not edit (tests check it is current).",
             "# residual = log(projected / published seconds per sample), the device's figures fitted without it.",
             f'table = "{table_path}"', "", "[work_share]",
             "# published / projected seconds per sample of the padded graph (in-sample; refitted in every fold)"]
    for (model, scenario), share in sorted(fit.work_share.items()):
        lines.append(f'"{model}/{scenario}" = {share:.4f}')
    lines += ["", "[postprocess_s]",
              "# post-processing seconds per sample at the overhead reference clock, per implementation and scenario"
              " (in-sample; refitted in every fold)"]
    for (name, scenario), seconds in sorted(fit.postprocess_s.items()):
        lines.append(f'"{name}/{scenario}" = {seconds:.6g}')
    for r in results:
        chain = ", ".join(f'"{c}"' for c in chains[r.row.device])
        bound = ", ".join(f"{b} = {r.bound.get(b, 0.0):.4f}" for b in BOUNDS)
        lines += ["", "[[residual]]", f'device = "{r.row.device}"', f"family_chain = [{chain}]",
                  f'model = "{r.row.model}"', f'scenario = "{r.row.scenario}"', f"residual = {r.residual:.5f}",
                  f"published = {r.row.value!r}", f'fitted_family = "{r.fitted_family}"', f"bound = {{ {bound} }}"]
    return "\n".join(lines) + "\n"


def family_members(fitter: PublishedFitter) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for device, params in fitter.base.items():
        for family in params.family_chain:
            members.setdefault(family, []).append(device)
    return {k: sorted(v) for k, v in members.items()}


def residuals_from(results: list[RowResult], chains: dict[str, tuple[str, ...]]):
    """RowResults as intervals.Residual records."""
    return tuple(Residual(r.row.device, chains[r.row.device], r.row.model, r.row.scenario, r.residual, dict(r.bound))
                 for r in results)
