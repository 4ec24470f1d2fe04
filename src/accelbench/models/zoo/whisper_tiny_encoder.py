"""The audio encoder of Whisper tiny, as openai/whisper ``whisper/model.py`` ``AudioEncoder`` builds it.

Dimensions of the ``tiny`` checkpoint (``ModelDimensions``): n_mels 80, n_audio_ctx 1500,
n_audio_state 384, n_audio_head 6, n_audio_layer 4. The graph, in the source's order:

- input ``mel`` [batch, 80, frames] (log-mel spectrogram, 10 ms per frame);
- ``conv1`` Conv1d(80, 384, 3, padding 1) + GELU, ``conv2`` Conv1d(384, 384, 3, stride 2,
  padding 1) + GELU (exact GELU in its Erf form; opset 17 has no Gelu), permute to
  [batch, frames/2, 384];
- plus the sinusoidal ``positional_embedding`` (``sinusoids(n_ctx, 384)``: sin and cos of
  position x exp(-log(10000)/191 x channel)). It is a registered buffer, not a parameter, so
  the graph computes it from Range nodes (constant-folded by runtimes and by the profiler)
  instead of storing 1500 x 384 floats that would count as weights;
- 4 ``ResidualAttentionBlock``s (pre-LayerNorm): x + attn(attn_ln(x)), then
  x + mlp(mlp_ln(x)). Attention: ``query``/``value``/``out`` Linear with bias, ``key`` Linear
  without bias, 6 heads of 64, Q and K each scaled by 64^-0.25 before QK^T (``qkv_attention``),
  no mask in the encoder; mlp: Linear(384, 1536), GELU, Linear(1536, 384); LayerNorm eps 1e-5;
- ``ln_post`` LayerNorm -> ``audio_features`` [batch, frames/2, 384].

The "resolution" is the number of mel frames: an even integer 2..3000 (whisper pads every input
to 3000 = 30 s and its encoder asserts that length; shorter windows are what streaming ports
run, and the positional table is the first frames/2 rows of the same sinusoids).

Reference: 7,632,384 parameters (conv1 92,544 + conv2 442,752 + 4 x 1,774,080 + ln_post 768),
derived from the source above in tests/test_zoo_new.py; the sinusoid buffer is not counted.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, sequence_length
from accelbench.shapes import Resolution

NAME = "whisper_tiny_encoder"
N_MELS = 80
N_STATE = 384
N_HEAD = 6
HEAD_DIM = N_STATE // N_HEAD  # 64
N_LAYER = 4
N_MLP = 4 * N_STATE
MAX_FRAMES = 3000  # 30 s: n_audio_ctx 1500 after the stride-2 conv
LAYER_NORM_EPS = 1e-5
MAX_TIMESCALE = 10000.0


def _frames(resolution: Resolution) -> int:
    return sequence_length(resolution, NAME, maximum=MAX_FRAMES, unit="number of mel frames", multiple=2,
                           examples="3000 = 30 s or 1000 = 10 s", limit_reason="whisper's 30 s window")


def _validate(resolution: Resolution) -> None:
    _frames(resolution)


def _sinusoids(b: GraphBuilder, length: int, channels: int) -> str:
    """whisper's ``sinusoids(length, channels)`` [length, channels], computed in the graph."""
    half = channels // 2
    increment = math.log(MAX_TIMESCALE) / (half - 1)
    positions = b.node("Range", [b.scalar("pos.start", 0.0), b.scalar("pos.length", float(length)),
                                 b.scalar("pos.step", 1.0)], name="positional_embedding.positions")
    channel = b.node("Range", [b.scalar("pos.start", 0.0), b.scalar("pos.half", float(half)),
                               b.scalar("pos.step", 1.0)], name="positional_embedding.channels")
    inv_timescales = b.node("Exp", [b.node("Mul", [channel, b.scalar("pos.increment", -increment)],
                                           name="positional_embedding.log_inv_timescales")],
                            name="positional_embedding.inv_timescales")
    column = b.node("Unsqueeze", [positions, b.constant("axes.1", np.array([1], np.int64))],
                    name="positional_embedding.column")
    row = b.node("Unsqueeze", [inv_timescales, b.constant("axes.0", np.array([0], np.int64))],
                 name="positional_embedding.row")
    scaled = b.node("Mul", [column, row], name="positional_embedding.scaled_time")
    return b.concat([b.node("Sin", [scaled], name="positional_embedding.sin"),
                     b.node("Cos", [scaled], name="positional_embedding.cos")], axis=1, name="positional_embedding")


def _block(b: GraphBuilder, x: str, i: int) -> str:
    p = f"blocks.{i}"
    h = b.layer_norm(x, N_STATE, eps=LAYER_NORM_EPS, name=f"{p}.attn_ln")
    heads = {}
    for part in ("query", "key", "value"):
        projected = b.matmul_weight(h, N_STATE, N_STATE, bias=part != "key", name=f"{p}.attn.{part}")
        heads[part] = b.split_heads(projected, N_HEAD, HEAD_DIM, keys=part == "key", name=f"{p}.attn.{part}")
    ctx = b.attention(heads["query"], heads["key"], heads["value"], head_dim=HEAD_DIM, width=N_STATE,
                      name=f"{p}.attn", scale_q_and_k=True)
    x = b.add(x, b.matmul_weight(ctx, N_STATE, N_STATE, name=f"{p}.attn.out"), name=f"{p}.attn.residual")
    h = b.layer_norm(x, N_STATE, eps=LAYER_NORM_EPS, name=f"{p}.mlp_ln")
    h = b.feed_forward(h, N_STATE, N_MLP, names=(f"{p}.mlp.0", f"{p}.mlp.1", f"{p}.mlp.2"))
    return b.add(x, h, name=f"{p}.mlp.residual")


def build_whisper_tiny_encoder(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """float32 ``mel`` [batch, 80, frames] -> ``audio_features`` [batch, frames/2, 384]."""
    frames = _frames(resolution)
    check_batch(batch, NAME)
    tokens = frames // 2
    b = GraphBuilder(NAME, with_weights=with_weights, seed=seed)
    x = b.input("mel", [batch, N_MELS, frames])
    x = b.gelu_erf(b.conv1d(x, N_MELS, N_STATE, 3, name="conv1"), name="conv1.gelu")
    x = b.gelu_erf(b.conv1d(x, N_STATE, N_STATE, 3, stride=2, name="conv2"), name="conv2.gelu")
    x = b.node("Transpose", [x], name="permute", perm=[0, 2, 1])  # [batch, tokens, 384]
    x = b.add(x, _sinusoids(b, tokens, N_STATE), name="positional_embedding.add")
    for i in range(N_LAYER):
        x = _block(b, x, i)
    b.layer_norm(x, N_STATE, eps=LAYER_NORM_EPS, name="ln_post")
    b.mark_output("audio_features", [batch, tokens, N_STATE])
    return b.build()


register_model(
    NAME,
    description="Whisper tiny audio encoder, openai/whisper layout (2 Conv1d + 4 pre-LN blocks of 384, 6 heads)",
    default_resolution=str(MAX_FRAMES),
    accepts=f"an even number of mel frames 2..{MAX_FRAMES} (3000 = 30 s, whisper's window)",
    task="speech",
    validate=_validate,
    aliases=("whisper-tiny-encoder", "whisper_tiny", "whisper"),
    stands_for="transformer audio encoders: speech recognition and translation, audio tagging, voice assistants",
    size_kind="sequence",
    source="openai/whisper whisper/model.py (AudioEncoder; tiny: 80 mels, 384 wide, 6 heads, 4 layers)",
)(build_whisper_tiny_encoder)
