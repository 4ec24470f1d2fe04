"""The typed run summary (results/summary.py): it reads what the first version of `accelbench run`
stored (tests/data/run_summary_v1.json, written by that code on a tiny run with --model
mobilenet_v2) and writes back exactly the same JSON, key order included."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from accelbench.errors import UserError
from accelbench.results.summary import (
    ActivationRow, ClosestModel, LayerTime, MeasuredStageData, PeakFigure, PeakStageData, ProjectionEntry,
    RankCorrelation, RankEntry, RunSummary, StageSummary,
)
from accelbench.results.store import open_store

FIXTURE = Path(__file__).parent / "data" / "run_summary_v1.json"
# Stage 4 as the first version stored it when no --model was given.
SKIPPED_STAGE = {"stage": 4, "title": "your model", "lesson": "", "record_ids": [], "data": {},
                 "skipped": "no --model given: run `accelbench run --model PATH_OR_ZOO_NAME` to measure your own network"}


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(FIXTURE.read_text())


def test_summary_of_the_first_version_round_trips_exactly(stored):
    summary = RunSummary.from_dict(stored)
    assert summary.to_dict() == stored
    assert json.dumps(summary.to_dict()) == json.dumps(stored)  # same key order: `run --format json` unchanged


def test_summary_parts_read_as_attributes(stored):
    summary = RunSummary.from_dict(stored)
    assert [s.stage for s in summary.stages] == [1, 2, 3, 4]
    peaks = summary.stage(1).peak_data
    assert isinstance(peaks.peaks[0], PeakFigure) and {p.source for p in peaks.peaks} == {"theoretical", "measured",
                                                                                          "catalog"}
    assert peaks.rank_correlation is not None and -1 <= peaks.rank_correlation.best_batch <= 1
    resnet = summary.stage(2).measured_data
    assert resnet.model == "resnet50" and len(resnet.configs) == 4 and resnet.configs[0].record_id in summary.stage(2).record_ids
    assert isinstance(resnet.activations[0], ActivationRow) and resnet.activations[0].peak_live_activation_bytes > 0
    assert isinstance(resnet.layers[0], LayerTime) and resnet.layers[0].time_source == "projected:host"
    assert resnet.closest is None  # only stage 4 looks for the closest zoo model
    user = summary.stage(4).measured_data
    assert user.model == "mobilenet_v2" and isinstance(user.closest[0], ClosestModel)
    assert all(isinstance(e, RankEntry) for e in summary.ranking)
    ranked = [e.latency_s for e in summary.ranking if e.rank is not None]
    assert ranked == sorted(ranked) and {e.kind for e in summary.ranking} == {"measured", "projected"}
    assert all(e.record_id for e in summary.ranking if e.kind == "measured")
    proj = summary.projections[0]
    assert isinstance(proj, ProjectionEntry) and proj.bound.summary and proj.batches[0].batch == 1
    assert proj.label.startswith("mobilenet_v2") and not proj.extra


def test_skipped_stage_and_optional_keys_round_trip():
    stage = StageSummary.from_dict(SKIPPED_STAGE)
    assert stage.data is None and stage.skipped.startswith("no --model given")
    assert stage.to_dict() == SKIPPED_STAGE
    # Keys the first version left out stay out: a layer without projection has no "bound",
    # a measured ranking entry has a record id, a projected one has none.
    layer = {"name": "conv", "op": "Conv", "macs": 10, "output_bytes": 4, "time_s": None, "time_source": None}
    assert LayerTime.from_dict(layer).to_dict() == layer
    assert "record_id" not in RankEntry(label="t4", kind="projected", device="t4").to_dict()
    assert "arithmetic" not in PeakFigure(device="t4", name="T4", kind="GPU", precision="int8", peak_ops_per_s=1.0,
                                          source="catalog").to_dict()
    stage1 = PeakStageData()
    assert stage1.to_dict() == {"peaks": []}


def test_undefined_rank_correlation_is_json_null():
    data = PeakStageData(rank_correlation=RankCorrelation(best_batch=None, batch1=0.5))
    text = json.dumps(data.to_dict(), allow_nan=False)
    assert '"rank_correlation": null' in text and '"rank_correlation_batch1": 0.5' in text
    assert PeakStageData.from_dict(json.loads(text)) == data


def test_projection_entries_keep_unknown_keys(stored):
    raw = {**stored["projections"][0], "sparsity_speedup": 1.5}
    entry = ProjectionEntry.from_dict(raw)
    assert entry.extra == {"sparsity_speedup": 1.5}
    assert entry.to_dict() == raw


def test_bad_summaries_are_refused(stored):
    with pytest.raises(UserError, match="schema version 99 is not readable"):
        RunSummary.from_dict({**stored, "schema_version": 99})
    with pytest.raises(UserError, match="rank entry kind"):
        RankEntry(label="x", kind="guessed", device="t4")
    with pytest.raises(UserError, match="peak source"):
        PeakFigure(device="t4", name="T4", kind="GPU", precision="int8", peak_ops_per_s=1.0, source="rumour")
    with pytest.raises(UserError, match="PeakFigure cannot be read"):
        PeakFigure.from_dict({"device": "t4"})
    with pytest.raises(TypeError, match="stage data"):
        StageSummary(2, "ResNet-50", "", data={"model": "resnet50"})


def test_summary_survives_the_sqlite_store(tmp_path, stored):
    db = str(tmp_path / "s.db")
    summary = RunSummary.from_dict(stored)
    changed = replace(summary, stages=(summary.stages[0], StageSummary.from_dict(SKIPPED_STAGE)),
                      ranking=summary.ranking[:2])
    with open_store(db) as store:
        store.save_summary(changed)
    with open_store(db, read_only=True) as store:
        assert store.load_summary(summary.run_id) == changed
        assert store.load_summary("absent") is None


def test_measured_stage_data_reads_partial_dicts():
    data = MeasuredStageData.from_dict({"model": "m", "closest": [{"model": "resnet50", "distance": 0.3, "why": "x"}]})
    assert data.configs == () and data.closest[0].resolution is None
    assert data.to_dict()["closest"] == [{"model": "resnet50", "resolution": None, "distance": 0.3, "why": "x"}]


def test_summary_refuses_untyped_parts(stored):
    summary = RunSummary.from_dict(stored)
    with pytest.raises(TypeError, match="ranking must be a RankEntry"):
        replace(summary, ranking=({"label": "x", "kind": "measured"},))


def test_layer_measurement_and_closest_measured_round_trip_through_json():
    from accelbench.results.summary import (
        ClosestMeasured, LayerKindError, LayerMeasurement, LayerPoint, MeasuredStageData,
    )

    measurement = LayerMeasurement(
        record_id="r1", label="resnet50 @ 224", device="host", profiler="p", runs=10, mapped_share=0.99,
        unmapped_s=1e-5, overhead=0.04, collect_s=1.5,
        kinds=(LayerKindError(kind="conv", layers=53, measured_s=0.02, projected_s=0.015),),
        points=(LayerPoint(name="conv1", kind="conv", measured_s=1e-3, projected_s=8e-4),))
    stand_in = ClosestMeasured(model="resnet101", resolution="224", distance=0.9, why="yours has fewer layers",
                               record_ids=("a", "b"))
    layer = LayerTime(name="conv1", op="Conv", macs=5, time_s=1e-3, time_source="measured", bound="compute",
                      projected_s=8e-4, family="conv")
    data = MeasuredStageData(model="yolov3", layers=(layer,), layer_measurement=measurement, closest_measured=stand_in)
    back = MeasuredStageData.from_dict(json.loads(json.dumps(data.to_dict())))
    assert back == data
    assert back.layer_measurement.kinds[0].error == pytest.approx(-0.25)
    # absent, they leave no key behind (the first version's JSON is unchanged)
    plain = MeasuredStageData(model="m").to_dict()
    assert "layer_measurement" not in plain and "closest_measured" not in plain
