"""Pure parts of the four-stage run (accelbench.job): planning, ranking, rank correlation, lessons."""

import json

import pytest

from accelbench.errors import UserError
from accelbench.job.plan import make_plan
from accelbench.job.ranking import rank_entries, spearman
from accelbench.results.summary import ProjectionEntry


def test_spearman_known_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # d = (0, 0, 1, -1): rho = 1 - 6*2 / (4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    # ties get average ranks
    assert spearman([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)


def test_default_plan_has_the_stages_the_issue_asks_for():
    plan = make_plan(tiny=False, precisions=("fp32", "int8"))
    labels = [(c.stage, c.model, c.resolution, c.batch) for c in plan.configs]
    assert labels == [(2, "resnet50", "224", 8), (2, "resnet50", "2mp", 1), (3, "yolov3", "1mp", 1)]
    full = make_plan(tiny=False, full=True, precisions=("fp32", "int8"))
    assert [c.resolution for c in full.configs if c.stage == 3] == ["1mp", "2mp", "4mp"]
    assert full.estimated_duration_s() > plan.estimated_duration_s()
    # default: FP32 measurements and a reduced precision, 3 minutes budget on 2 cores
    assert plan.measurements == 6
    assert plan.estimated_duration_s() < 200


def test_plan_rejects_bad_options_before_anything_runs(tmp_path):
    with pytest.raises(UserError, match="objective"):
        make_plan(objective="fastest", tiny=True, precisions=("fp32",))
    with pytest.raises(UserError, match="model"):
        make_plan(model=str(tmp_path / "missing.onnx"), tiny=True, precisions=("fp32",))
    with pytest.raises(UserError, match="resolution"):
        make_plan(model="yolov3", resolution="417x416", tiny=True, precisions=("fp32",))


class _Stats:
    def __init__(self, p50_ns, ci_rel=None):
        self.p50_ns = p50_ns
        self.p99_ns = p50_ns
        self.confidence = 0.95
        # confidence intervals of the median and the mean (None: too few samples for one)
        self.median_ci_ns = None if ci_rel is None else (p50_ns * (1 - ci_rel), p50_ns * (1 + ci_rel))
        self.mean_ci_ns = self.median_ci_ns


class _Power:
    measured = False
    power_w = None


class _Record:
    """A stand-in with the fields rank_entries reads (records themselves are tested elsewhere)."""

    def __init__(self, rid, p50_ms, tput, per_w, ci_rel=None):
        self.record_id = rid
        self.ok = True
        self.runtime = "onnxruntime"
        self.config = type("C", (), {"backend": "onnxruntime"})()
        self.precision_executed = "fp32"
        self.inferences_per_query = 1
        self.loadgen_throughput_per_s = None
        self.stats = _Stats(p50_ms * 1e6, ci_rel)
        self.throughput_per_s = tput
        self.inferences_per_s_per_w = per_w
        self.inferences_per_s_per_usd = None
        self.price_usd = None
        self.power = _Power()


def test_ranking_orders_measured_and_projected_by_objective():
    from accelbench.job.plan import StageConfig
    from accelbench.job.stages import Measured

    cfg = StageConfig(3, "yolov3", "1mp", 1, "single-stream", "YOLOv3 @ 1mp")
    measured = [Measured(cfg, "fp32", _Record("a", 2000, 0.5, 0.01)),
                Measured(cfg, "int8", _Record("b", 500, 2.0, 0.04))]
    projections = [ProjectionEntry.from_dict({"device": "t4", "precision": "int8", "latency_s": 0.02,
                                              "throughput_per_s": 80.0, "throughput_per_w": 1.1,
                                              "throughput_per_usd": 0.04, "resolution": "1mp"})]
    by_latency = rank_entries(measured, projections, "latency")
    assert [e.record_id or e.device for e in by_latency] == ["t4", "b", "a"]
    assert [e.rank for e in by_latency] == [1, 2, 3]
    by_dollar = rank_entries(measured, projections, "per-dollar")
    # the host has no price: ranked last, unranked
    assert by_dollar[0].device == "t4" and by_dollar[-1].rank is None
    assert {e.kind for e in by_latency} == {"measured", "projected"}


def test_plan_refuses_precisions_and_backends_that_cannot_run_before_anything_runs():
    with pytest.raises(UserError, match="fp16.*cannot run on cpu"):
        make_plan(tiny=True, precisions=("fp32", "fp16"))
    with pytest.raises(UserError, match="torch backend cannot run"):
        make_plan(tiny=True, backend="torch", precisions=("fp32",))
    with pytest.raises(UserError, match="backend"):
        make_plan(tiny=True, backend="tensorflow", precisions=("fp32",))


def test_spearman_is_none_where_undefined():
    assert spearman([], []) is None
    assert spearman([3.0], [1.0]) is None  # one point: no order
    assert spearman([1, 2, 3], [5, 5, 5]) is None  # a constant side: no order to compare
    assert spearman([7, 7], [1, 2]) is None
    assert spearman([1, 2], [2, 1]) == pytest.approx(-1.0)  # two points are enough
    with pytest.raises(ValueError, match="3 x values but 2 y values"):
        spearman([1, 2, 3], [1, 2])


def _projection(device: str, throughput: float, latency_s: float, utilization: float = 0.3) -> ProjectionEntry:
    return ProjectionEntry(device=device, device_name=device.upper(), precision="int8", scenario="offline",
                           latency_s=latency_s, throughput_per_s=throughput, mac_utilization=utilization,
                           label="YOLOv3 @ 1mp, batch 1")


def test_rank_lesson_states_the_correlation_and_says_na_where_undefined():
    from accelbench.job.ranking import with_rank_lesson
    from accelbench.results.summary import PeakStageData, StageSummary

    stage1 = StageSummary(1, "peak TOPS", "peak says 83 GMAC/s FP32", data=PeakStageData())
    # Catalog INT8 peaks: H100 > A100 > T4; projected throughput in the same order, batch-1 rates reversed.
    same_order = [_projection("h100", 300.0, 0.003, 0.5), _projection("a100", 200.0, 0.002),
                  _projection("t4", 100.0, 0.001, 0.1)]
    lesson_stage = with_rank_lesson(stage1, same_order)
    assert lesson_stage.peak_data.rank_correlation.best_batch == pytest.approx(1.0)
    assert lesson_stage.peak_data.rank_correlation.batch1 == pytest.approx(-1.0)
    assert ("ranking 3 catalog devices by peak TOPS vs by projected YOLOv3 @ 1mp, batch 1 throughput: "
            "Spearman rho = +1.00 at the best batch, -1.00 at batch 1") in lesson_stage.lesson
    assert "projected MAC utilization (offline) runs from 10 % (T4) to 50 % (H100)" in lesson_stage.lesson
    flat = [_projection(d, 100.0, 0.01) for d in ("h100", "a100", "t4")]
    undefined = with_rank_lesson(stage1, flat)
    assert "Spearman rho = n/a at the best batch, n/a at batch 1" in undefined.lesson
    assert undefined.peak_data.rank_correlation.best_batch is None
    assert '"rank_correlation": null' in json.dumps(undefined.to_dict()["data"], allow_nan=False)
    assert with_rank_lesson(stage1, flat[:2]) is stage1  # two devices: too few to rank


def test_peak_lesson_in_display_units():
    from accelbench.job.stages import peak_lesson
    from accelbench.results.summary import PeakFigure

    def peak(source, ops):
        return PeakFigure(device="host", name="CPU", kind="CPU", precision="fp32", peak_ops_per_s=ops, source=source)

    lesson = peak_lesson([peak("theoretical", 166e9), peak("measured", 174e9)], 2)
    assert lesson.startswith("peak says 83.0 GMAC/s FP32 on this host (2 cores); a large FP32 GEMM achieved "
                             "87.0 GMAC/s (105 %) - above the theoretical peak")
    assert peak_lesson([], 2).startswith("this host's clock is unknown")


def test_plan_adds_the_closest_zoo_model_to_stage_3_and_one_layer_pass_per_stage():
    plan = make_plan(model="mobilenet_v2", resolution="64", tiny=True, precisions=("fp32", "int8"),
                     backend="onnxruntime")
    stage3 = [c for c in plan.configs if c.stage == 3]
    assert [c.model for c in stage3][0] == "yolov3" and len(stage3) == 2
    closest = stage3[1]
    assert closest.model not in ("yolov3", "mobilenet_v2") and closest.model == plan.closest.model
    assert closest.resolution == plan.closest.resolution and "the zoo model closest to yours" in closest.label
    assert plan.closest.why and plan.closest.distance > 0 and plan.closest.record_ids == ()
    # per-layer times: the last size of each stage's main model and the user's model
    assert [(c.stage, c.model) for c in plan.configs if c.layers] == [(2, "resnet50"), (3, "yolov3"),
                                                                      (4, "mobilenet_v2")]
    assert plan.layer_runs == 3 and plan.layer_configs == 3
    quiet = make_plan(model="mobilenet_v2", resolution="64", tiny=True, precisions=("fp32",), backend="onnxruntime",
                      layers=False)
    assert quiet.layer_runs is None and quiet.layer_configs == 0
    assert quiet.estimated_duration_s() < make_plan(model="mobilenet_v2", resolution="64", tiny=True,
                                                    precisions=("fp32",), backend="onnxruntime").estimated_duration_s()


def test_closest_to_a_zoo_model_never_picks_itself_nor_yolov3():
    from accelbench.job.plan import closest_to
    from accelbench.models.loader import load_model

    chosen, error = closest_to(load_model("yolov3", resolution="128x96", with_weights=False), exclude=("yolov3",))
    assert error is None and chosen.model != "yolov3" and chosen.resolution == "128x96"


def test_stage_lessons_for_layers_and_the_closest_model():
    from accelbench.job.stages import closest_lesson, layer_lesson
    from accelbench.results.summary import ClosestMeasured, LayerKindError, LayerMeasurement

    measurement = LayerMeasurement(record_id="r", label="l", device="host", profiler="p", runs=3, kinds=(
        LayerKindError(kind="conv", layers=50, measured_s=0.08, projected_s=0.04),
        LayerKindError(kind="linear", layers=1, measured_s=0.01, projected_s=0.03),
        LayerKindError(kind="other", layers=4, measured_s=0.001, projected_s=0.1)))
    # "other" holds ~1 % of the time: too little to be the kind the projection is furthest off on
    assert layer_lesson(measurement) == ("measured per layer, conv layers take 88 % of the time (projected 50 %"
                                         " lower); the projection is furthest off on linear layers (200 % higher)")
    stand_in = ClosestMeasured(model="resnet18", resolution="64", why="yours has 2.0x fewer layers",
                               size_note="at 64x64, the nearest size it takes")
    assert closest_lesson(stand_in, []) == ("closest zoo model to yours: resnet18 @ 64 (yours has 2.0x fewer layers),"
                                            " at 64x64, the nearest size it takes: its measurement failed")
