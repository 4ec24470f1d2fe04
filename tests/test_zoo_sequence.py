"""Zoo sequence models added for issue 12: lstm and gru (torch.nn.LSTM/GRU(80, 512, 2) conventions,
ONNX LSTM/GRU ops) and whisper_tiny_encoder (openai/whisper AudioEncoder, tiny dimensions).

Parameter counts by the reference conventions, derived here by hand; MACs by hand for every time
step (the profiler counts both gate matmuls of a recurrent op at every step, and attention's
QK^T and AV), checked against the built graph and the profiler.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto
from zoo_helpers import conv_matmul_macs, inferred_shapes, trainable_params

from accelbench.errors import UserError
from accelbench.models.loader import load_model
from accelbench.models.registry import get_zoo_model
from accelbench.profile import profile_model

FEATURES, HIDDEN, LAYERS = 80, 512, 2
GATES = {"lstm": 4, "gru": 3}


def torch_rnn_params(gates: int, inputs: int, hidden: int, layers: int) -> int:
    """torch.nn.LSTM/GRU parameters(): per layer weight_ih [g*H, in], weight_hh [g*H, H], bias_ih and
    bias_hh [g*H] (two bias vectors per gate; ONNX's B [1, 2*g*H] holds both)."""
    total = 0
    for layer in range(layers):
        size = inputs if layer == 0 else hidden
        total += gates * hidden * (size + hidden) + 2 * gates * hidden
    return total


def rnn_macs_by_hand(gates: int, seq: int, batch: int = 1) -> int:
    """Per layer, per direction: seq x gates*hidden x (input + hidden) multiply-accumulates."""
    return sum(seq * batch * gates * HIDDEN * ((FEATURES if layer == 0 else HIDDEN) + HIDDEN) for layer in range(LAYERS))


def whisper_tiny_encoder_params_by_hand() -> int:
    """conv1 Conv1d(80, 384, 3) + conv2 Conv1d(384, 384, 3) with bias; per block: query/value/out
    Linear(384, 384) with bias, key without, attn_ln, mlp Linear(384, 1536) + Linear(1536, 384), mlp_ln;
    ln_post. The sinusoidal positional_embedding is a buffer."""
    d = 384
    convs = (80 * d * 3 + d) + (d * d * 3 + d)
    block = 3 * (d * d + d) + d * d + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * d
    return convs + 4 * block + 2 * d


def whisper_macs_by_hand(frames: int) -> int:
    d, t = 384, frames // 2
    convs = frames * d * 80 * 3 + t * d * d * 3
    block = 4 * t * d * d + 2 * t * t * d + 2 * t * d * 4 * d  # Q, K, V, out; QK^T and AV; MLP
    return convs + 4 * block


# -- lstm / gru -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_parameters_follow_torch_convention(name):
    expected = torch_rnn_params(GATES[name], FEATURES, HIDDEN, LAYERS)
    assert expected == {"lstm": 3_317_760, "gru": 2_488_320}[name]
    assert trainable_params(get_zoo_model(name).build("100", with_weights=False)) == expected
    assert profile_model(load_model(name, with_weights=False)).params == expected


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("seq, batch", [(100, 1), (37, 3)])
def test_recurrent_macs_every_step(name, seq, batch):
    expected = rnn_macs_by_hand(GATES[name], seq, batch)
    model = get_zoo_model(name).build(str(seq), batch=batch, with_weights=False)
    assert conv_matmul_macs(model) == expected
    profile = profile_model(load_model(name, resolution=str(seq), batch=batch, with_weights=False))
    assert profile.macs == expected and not profile.unknown_ops and not profile.warnings
    cells = [layer for layer in profile.layers if layer.macs]
    assert [layer.op for layer in cells] == [name.upper()] * LAYERS
    # LSTM MACs = seq x 4 x hidden x (input + hidden) per layer
    assert cells[0].macs == seq * batch * GATES[name] * HIDDEN * (FEATURES + HIDDEN)
    assert (cells[1].gemm.m, cells[1].gemm.groups) == (batch, seq)  # one (batch x g*H x in+H) GEMM per step
    if (name, seq, batch) == ("lstm", 100, 1):
        assert expected == 330_956_800


def test_recurrent_graph_uses_native_onnx_ops():
    lstm = get_zoo_model("lstm").build("20", batch=2, with_weights=False)
    assert [n.op_type for n in lstm.graph.node] == ["Transpose", "LSTM", "Squeeze", "LSTM", "Squeeze", "Transpose"]
    shapes = inferred_shapes(lstm)
    assert shapes["features"] == [2, 20, 80] and shapes["output"] == [2, 20, 512]
    assert shapes["lstm.l0.W"] == [1, 2048, 80] and shapes["lstm.l1.R"] == [1, 2048, 512]
    gru = get_zoo_model("gru").build("20", with_weights=False)
    cell = next(n for n in gru.graph.node if n.op_type == "GRU")
    assert {a.name: a.i for a in cell.attribute}["linear_before_reset"] == 1  # what torch's GRU computes


@pytest.mark.parametrize("name", ["lstm", "gru", "whisper_tiny_encoder"])
@pytest.mark.parametrize("spec", ["224x224", "2mp", "16x1"])
def test_sequence_models_refuse_image_sizes(name, spec):
    with pytest.raises(UserError) as err:
        load_model(name, resolution=spec, with_weights=False)
    message = str(err.value)
    assert name in message and "\n" not in message and err.value.exit_code == 2


# -- whisper tiny encoder -------------------------------------------------------------------------
def test_whisper_tiny_encoder_parameters_by_hand():
    expected = whisper_tiny_encoder_params_by_hand()
    assert expected == 7_632_384
    model = get_zoo_model("whisper_tiny_encoder").build("3000", with_weights=False)
    assert trainable_params(model) == expected
    assert profile_model(load_model("whisper_tiny_encoder", with_weights=False)).params == expected


@pytest.mark.parametrize("frames", [3000, 200])
def test_whisper_tiny_encoder_macs_by_hand(frames):
    expected = whisper_macs_by_hand(frames)
    model = get_zoo_model("whisper_tiny_encoder").build(str(frames), with_weights=False)
    assert conv_matmul_macs(model) == expected
    profile = profile_model(load_model("whisper_tiny_encoder", resolution=str(frames), with_weights=False))
    assert profile.macs == expected and not profile.unknown_ops and not profile.warnings
    tokens = frames // 2
    attention = [layer for layer in profile.layers if layer.op == "MatMul" and layer.params == 0]
    assert len(attention) == 8 and all(layer.macs == 6 * tokens * tokens * 64 for layer in attention)
    if frames == 3000:
        assert expected == 18_468_864_000


def test_whisper_tiny_encoder_layout():
    model = get_zoo_model("whisper_tiny_encoder").build("100", with_weights=False)
    shapes = inferred_shapes(model)
    assert shapes["mel"] == [1, 80, 100] and shapes["audio_features"] == [1, 50, 384]
    assert shapes["positional_embedding"] == [50, 384]
    names = {n.name for n in model.graph.node}
    assert {"conv1", "conv2", "blocks.3.attn.key.matmul", "blocks.0.mlp.2.matmul", "ln_post"} <= names
    assert "blocks.0.attn.key.bias_add" not in names  # whisper's key projection has no bias
    assert all(t.data_type != TensorProto.FLOAT or np.prod(t.dims) != 50 * 384 for t in model.graph.initializer)


@pytest.mark.parametrize("spec, expected", [("3002", "3000"), ("101", "multiple of 2")])
def test_whisper_frames_are_checked(spec, expected):
    with pytest.raises(UserError, match=expected):
        load_model("whisper_tiny_encoder", resolution=spec, with_weights=False)


def test_whisper_positional_embedding_is_whispers_sinusoids():
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = get_zoo_model("whisper_tiny_encoder").build("8", with_weights=False)
    model.graph.output.append(onnx.helper.make_tensor_value_info("positional_embedding", TensorProto.FLOAT, [4, 384]))
    # only the sinusoid branch has data in a weightless build: run that subgraph alone
    model = onnx.utils.Extractor(model).extract_model([], ["positional_embedding"])
    (table,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {})
    increment = np.log(10000) / (384 // 2 - 1)  # whisper.model.sinusoids
    scaled = np.arange(4)[:, None] * np.exp(-increment * np.arange(192))[None, :]
    np.testing.assert_allclose(table, np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1), rtol=1e-5, atol=1e-6)
