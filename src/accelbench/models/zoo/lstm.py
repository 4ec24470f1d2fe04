"""A 2-layer LSTM over speech features, as ``torch.nn.LSTM(80, 512, num_layers=2, batch_first=True)``
exports it to ONNX (opset 17), built in code; ``gru`` (models/zoo/gru.py) is the same network with GRU cells.

Why this size: 80 log-mel filterbank features per 10 ms frame is the front end of current speech
models (openai/whisper's ``n_mels`` = 80; Kaldi/ESPnet fbank), and 2 x 512 hidden units is the size
of keyword-spotting and streaming-ASR recurrent stacks (and of LSTM time-series forecasters) that
run on CPUs and NPUs at the edge. The "resolution" is the sequence length in frames (an integer;
the default 100 = 1 s of audio at a 10 ms hop, a keyword-spotting window).

Graph: input ``features`` [batch, seq, 80] -> Transpose to [seq, batch, 80] -> LSTM (hidden 512)
-> Squeeze of the direction axis -> LSTM (hidden 512) -> Squeeze -> Transpose -> ``output``
[batch, seq, 512] (the top layer's hidden state at every frame, torch's ``output``). Each ONNX
``LSTM`` node holds W [1, 4*512, input], R [1, 4*512, 512] and B [1, 8*512]: the same elements as
torch's weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k} and bias_hh_l{k} (torch keeps two bias vectors
per gate; ONNX's B holds both), so the counts match torch's convention exactly:

    parameters = sum over layers of gates*hidden*(input + hidden) + 2*gates*hidden
               = 4*512*(80 + 512) + 4096 + 4*512*(512 + 512) + 4096 = 3,317,760
    MACs       = seq * sum over layers of gates*hidden*(input + hidden)  (33,095,680 per 10 frames)

Runtimes execute the ``LSTM`` op natively (ONNX Runtime's and OpenVINO's LSTM kernels), so the
recurrence is measured as a user's exported LSTM would be.
"""

from __future__ import annotations

import numpy as np
import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, sequence_length
from accelbench.shapes import MAX_SIDE, Resolution

INPUT_FEATURES = 80  # log-mel filterbank bins per frame
HIDDEN = 512
NUM_LAYERS = 2
MAX_FRAMES = MAX_SIDE  # no position table: any length the size parser accepts


def validate_frames(resolution: Resolution, model: str) -> int:
    return sequence_length(resolution, model, maximum=MAX_FRAMES, unit="sequence length in frames",
                           examples="100 or 3000")


def build_recurrent(op: str, name: str, resolution: Resolution, batch: int, with_weights: bool,
                    seed: int) -> onnx.ModelProto:
    """``features`` [batch, seq, 80] -> ``output`` [batch, seq, 512] through NUM_LAYERS ``op`` layers."""
    seq = validate_frames(resolution, name)
    check_batch(batch, name)
    b = GraphBuilder(name, with_weights=with_weights, seed=seed)
    x = b.input("features", [batch, seq, INPUT_FEATURES])
    x = b.node("Transpose", [x], name=f"{name}.to_time_major", perm=[1, 0, 2])  # batch_first=True
    direction_axis = b.constant("squeeze.direction_axis", np.array([1], np.int64))
    size = INPUT_FEATURES
    for layer in range(NUM_LAYERS):
        y = b.recurrent(op, x, size, HIDDEN, name=f"{name}.l{layer}")  # [seq, 1, batch, hidden]
        x = b.node("Squeeze", [y, direction_axis], name=f"{name}.l{layer}.squeeze")
        size = HIDDEN
    b.node("Transpose", [x], name=f"{name}.to_batch_major", perm=[1, 0, 2])
    b.mark_output("output", [batch, seq, HIDDEN])
    return b.build()


def register_recurrent(op: str, *, stands_for: str, aliases: tuple[str, ...]) -> None:
    """Register the NUM_LAYERS x HIDDEN network of ``op`` cells (LSTM or GRU) under ``op.lower()``."""
    name = op.lower()

    def build(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
        return build_recurrent(op, name, resolution, batch, with_weights, seed)

    def validate(resolution: Resolution) -> None:
        validate_frames(resolution, name)

    build.__name__ = f"build_{name}"
    register_model(
        name,
        description=f"{NUM_LAYERS}-layer {op}, {INPUT_FEATURES} log-mel features -> hidden {HIDDEN}"
                    f" (torch.nn.{op} layout)",
        default_resolution="100",
        accepts=f"a sequence length in frames 1..{MAX_FRAMES} (e.g. 100 = 1 s at a 10 ms hop)",
        task="speech",
        validate=validate,
        aliases=aliases,
        stands_for=stands_for,
        size_kind="sequence",
        source=f"torch.nn.{op}({INPUT_FEATURES}, {HIDDEN}, num_layers={NUM_LAYERS}, batch_first=True)"
               f" parameter convention; ONNX {op} op",
    )(build)


register_recurrent("LSTM", aliases=("lstm2", "lstm-512"),
                   stands_for="recurrent speech and time-series models: keyword spotting, streaming ASR,"
                              " sensor forecasting")
