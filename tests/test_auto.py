"""auto: picks an installed backend by a short trial and says which, with the trial figures."""

from __future__ import annotations

import pytest

from accelbench.backends.auto import AutoOptions
from accelbench.backends.base import BackendConfig, backend_names, get_backend
from accelbench.errors import UserError
from test_precision import tiny_cnn


def test_auto_picks_and_reports_trials():
    auto = get_backend("auto")(BackendConfig(batch=2), AutoOptions(trial_s=0.2))
    auto.load(tiny_cnn())
    info = auto.describe()
    picked = info.extra["auto"]["picked"]
    trials = info.extra["auto"]["trials"]
    assert picked == info.runtime and picked in trials
    timed = {k: v for k, v in trials.items() if "median_latency_ns" in v}
    assert picked == min(timed, key=lambda k: timed[k]["median_latency_ns"])
    assert all(v["runs"] >= 3 and v["median_latency_ns"] > 0 for v in timed.values())
    if "torch" in trials:  # an ONNX graph without a torch spec cannot run on torch: skipped with reason
        assert "not supported on torch" in trials["torch"]["error"]
    out = auto.outputs_as_numpy(auto.run(auto.prepare_inputs(0)))[0]
    assert out.shape == (2, 10)


def test_auto_restricted_candidates_and_refusal():
    pytest.importorskip("openvino")
    auto = get_backend("auto")(BackendConfig(), AutoOptions(trial_s=0.05, candidates=("openvino",)))
    auto.load(tiny_cnn(batch=1))
    assert auto.describe().runtime == "openvino"
    with pytest.raises(UserError, match="no installed backend runs 'fp16' on 'cpu'"):
        get_backend("auto")(BackendConfig(precision="fp16")).load(tiny_cnn())


def test_unknown_backend_lists_auto_once():
    with pytest.raises(UserError) as info:
        get_backend("tensorflow")
    message = str(info.value)
    assert message.count("auto") == 1 and "openvino" in message
    assert "auto" in backend_names()
