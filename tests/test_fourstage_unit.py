"""Pure parts of the four-stage run: planning, ranking, rank correlation."""

import pytest

from accelbench.errors import UserError
from accelbench.fourstage import make_plan, rank_entries, spearman


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
    def __init__(self, p50_ns):
        self.p50_ns = p50_ns


class _Power:
    measured = False


class _Record:
    """A stand-in with the fields rank_entries reads (records themselves are tested elsewhere)."""

    def __init__(self, rid, p50_ms, tput, per_w):
        self.record_id = rid
        self.ok = True
        self.run_info = {"runtime": "onnxruntime"}
        self.config = type("C", (), {"backend": "onnxruntime"})()
        self.precision_executed = "fp32"
        self.stats = _Stats(p50_ms * 1e6)
        self.throughput_per_s = tput
        self.inferences_per_s_per_w = per_w
        self.inferences_per_s_per_usd = None
        self.power = _Power()


def test_ranking_orders_measured_and_projected_by_objective():
    from accelbench.fourstage import StageConfig, _Measured

    cfg = StageConfig(3, "yolov3", "1mp", 1, "single-stream", "YOLOv3 @ 1mp")
    measured = [_Measured(cfg, "fp32", _Record("a", 2000, 0.5, 0.01)),
                _Measured(cfg, "int8", _Record("b", 500, 2.0, 0.04))]
    projections = [{"device": "t4", "precision": "int8", "latency_s": 0.02, "throughput_per_s": 80.0,
                    "throughput_per_w": 1.1, "throughput_per_usd": 0.04, "resolution": "1mp"}]
    by_latency = rank_entries(measured, projections, "latency")
    assert [e.get("record_id", e["device"]) for e in by_latency] == ["t4", "b", "a"]
    assert [e["rank"] for e in by_latency] == [1, 2, 3]
    by_dollar = rank_entries(measured, projections, "per-dollar")
    # the host has no price: ranked last, unranked
    assert by_dollar[0]["device"] == "t4" and by_dollar[-1]["rank"] is None
    assert {e["kind"] for e in by_latency} == {"measured", "projected"}


def test_plan_refuses_precisions_and_backends_that_cannot_run_before_anything_runs():
    with pytest.raises(UserError, match="fp16.*cannot run on cpu"):
        make_plan(tiny=True, precisions=("fp32", "fp16"))
    with pytest.raises(UserError, match="torch backend cannot run"):
        make_plan(tiny=True, backend="torch", precisions=("fp32",))
    with pytest.raises(UserError, match="backend"):
        make_plan(tiny=True, backend="tensorflow", precisions=("fp32",))
