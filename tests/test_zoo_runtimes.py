"""Every zoo model added for issue 12 runs one forward pass on ONNX Runtime and on OpenVINO at a
tiny size (seeded random weights), and ``accelbench profile`` prints every zoo model without
unknown ops or unknown shapes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from zoo_helpers import random_feeds

from accelbench.cli import main
from accelbench.models.registry import get_zoo_model, zoo_models

NEW_MODELS = ("resnet18", "resnet101", "efficientnet_b0", "unet", "yolov5s", "vit_b16", "lstm", "gru",
              "whisper_tiny_encoder")
TINY = {"image": "32", "sequence": "8"}


@pytest.mark.parametrize("name", NEW_MODELS)
def test_runs_on_onnxruntime_and_openvino(name):
    ort = pytest.importorskip("onnxruntime")
    ov = pytest.importorskip("openvino")
    zoo = get_zoo_model(name)
    model = zoo.build(TINY[zoo.size_kind], batch=2, with_weights=True, seed=0)
    onnx.checker.check_model(model)
    feeds = random_feeds(model)
    data = model.SerializeToString()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # shared CI cores
    expected = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(None, feeds)

    core = ov.Core()
    compiled = core.compile_model(core.read_model(data), "CPU",
                                  {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(feeds)
    got = [result[port] for port in compiled.outputs]

    assert len(got) == len(expected) == len(model.graph.output)
    for reference, value in zip(expected, got):
        assert reference.shape == value.shape and reference.shape[0] == 2
        assert np.isfinite(reference).all() and np.abs(reference).max() > 0
        scale = np.abs(reference).max()
        np.testing.assert_allclose(value, reference, rtol=0, atol=1e-3 * scale)
    if len(expected) == 1 and expected[0].ndim == 2:
        assert not np.allclose(expected[0][0], expected[0][1])  # the two batch items differ


@pytest.mark.parametrize("name", [m.name for m in zoo_models()])
def test_profile_cli_prints_every_zoo_model_without_unknown_ops(capsys, name):
    zoo = get_zoo_model(name)
    with pytest.raises(SystemExit) as info:
        main(["profile", name, "--resolution", TINY[zoo.size_kind], "--top", "3"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "unknown ops" not in out and "unknown shapes" not in out and "warning" not in err
    assert "network kind" in out and f"{zoo.name}  precision fp32" in out
