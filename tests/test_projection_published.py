"""Projections vs published MLPerf Inference ResNet-50 v1.5 results (INT8), shipped parameters.

Band (docs/projection.md): median |error| < 25 % over all rows and every row within a factor of
1.5, Offline and SingleStream, with one set of device parameters for every model. The same
parameters must also project other models without touching them (checked: YOLOv3 and BERT stay
finite and ordered by device size).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelbench.projection.api import load_profile
from accelbench.projection.validation import (FACTOR_BAND, MEDIAN_ERROR_BAND, compare_published,
                                              format_comparison_table, load_published, median_abs_error)

PUBLISHED = Path(__file__).parent / "data" / "published" / "mlperf_resnet50.toml"


@pytest.fixture(scope="module")
def rows():
    published = load_published(PUBLISHED)
    profile = load_profile(published.model, resolution=published.resolution, precision=published.precision)
    return compare_published(published, profile, use_calibration=False)


def test_published_file_has_sources_for_every_figure():
    published = load_published(PUBLISHED)
    devices = {(r.device, r.scenario) for r in published.results}
    assert {("t4", "offline"), ("t4", "single-stream"), ("a100", "offline"), ("a100", "single-stream"),
            ("h100", "offline"), ("l4", "offline"), ("l4", "single-stream")} == devices
    values = {(r.device, r.scenario): r.value for r in published.results}
    assert values[("t4", "offline")] == 6035.6 and values[("l4", "single-stream")] == pytest.approx(0.349e-3)
    assert all("mlcommons/inference_results_v" in r.source for r in published.results)


def test_projection_within_documented_band(rows):
    table = format_comparison_table(rows)
    assert median_abs_error(rows) < MEDIAN_ERROR_BAND, table
    assert all(r.factor <= FACTOR_BAND for r in rows), table
    offline = [r for r in rows if r.scenario == "offline"]
    single = [r for r in rows if r.scenario == "single-stream"]
    assert len(offline) == 4 and len(single) == 3
    assert median_abs_error(offline) < MEDIAN_ERROR_BAND and median_abs_error(single) < MEDIAN_ERROR_BAND


def test_band_check_can_fail(rows):
    # the same comparison against figures 2x off must leave the band (the test is not vacuous)
    from dataclasses import replace

    doubled = [replace(r, reference=r.reference * 2) for r in rows]
    assert not all(r.factor <= FACTOR_BAND for r in doubled)


@pytest.mark.parametrize("model,resolution", [("yolov3", "416"), ("mobilenet_v2", "224"), ("bert_base", "128")])
def test_same_parameters_serve_other_models(model, resolution):
    from accelbench.hardware.devices import get_device
    from accelbench.projection.api import device_params
    from accelbench.projection.model import project

    profile = load_profile(model, resolution=resolution, precision="int8")
    thr = {}
    for dev in ("t4", "h100"):
        device = get_device(dev)
        p = project(profile, device, device_params(device, use_calibration=False)[0])
        assert 0 < p.mac_utilization <= 1
        thr[dev] = p.throughput_per_s
    assert thr["h100"] > thr["t4"]
