"""BERT-base encoder as HuggingFace ``BertModel`` exports it to ONNX (opset 17), built in code.

12 layers, hidden 768, 12 heads of 64, intermediate 3072, vocab 30522, 512 positions, 2 token
types, LayerNorm eps 1e-12. The "resolution" of this model is the sequence length: a plain
integer 1..512 (``--resolution 384``); WxH specs and megapixel presets are refused.

Graph, in the order the HF exporter emits it:
- inputs ``input_ids``, ``attention_mask``, ``token_type_ids``: int64 [batch, seq];
- embeddings: Gather (word, position, token type), Add, Add, LayerNormalization;
- extended mask: (1 - mask) * -10000 broadcast as [batch, 1, 1, seq] (HF's older constant;
  finfo.min would turn into -inf under an FP16 conversion);
- per layer: Q/K/V MatMul+Add, Reshape [b, s, 12, 64] + Transpose to heads (K transposed to
  [b, 12, 64, s]), attention MatMul QK^T, Div by sqrt(64), Add mask, Softmax, MatMul with V,
  Transpose + Reshape back, output dense MatMul+Add, residual Add, LayerNormalization, FFN
  MatMul+Add -> GELU in its Erf form (x * 0.5 * (1 + erf(x / sqrt 2)); opset 17 has no Gelu) ->
  MatMul+Add, residual Add, LayerNormalization;
- pooler: Gather of token 0, Gemm 768->768, Tanh.
Outputs ``last_hidden_state`` [batch, seq, 768] and ``pooler_output`` [batch, 768].

Node and weight names follow HF's module names (``encoder.layer.3.attention.self.query``).

Reference: 109,482,240 parameters (HF bert-base-uncased BertModel including the pooler),
asserted in tests/test_zoo_yolo_bert.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto

from accelbench.errors import UserError
from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.shapes import Resolution

NUM_LAYERS = 12
HIDDEN = 768
NUM_HEADS = 12
HEAD_DIM = HIDDEN // NUM_HEADS  # 64
INTERMEDIATE = 3072
VOCAB = 30522
MAX_POSITIONS = 512
TYPE_VOCAB = 2
LAYER_NORM_EPS = 1e-12
MASK_FILL = -10000.0
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class BertShape:
    """The sizes that tell one BERT encoder from another (vocab, positions and types are shared)."""

    model: str  # the zoo name, used in error messages
    layers: int
    hidden: int
    heads: int
    intermediate: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


BERT_BASE = BertShape("bert_base", NUM_LAYERS, HIDDEN, NUM_HEADS, INTERMEDIATE)


def sequence_length(resolution: Resolution, model: str = "bert_base") -> int:
    """The sequence length a Resolution stands for (its width; the spec must be a plain integer)."""
    validate_sequence_length(resolution, model)
    return resolution.width


def validate_sequence_length(resolution: Resolution, model: str) -> None:
    spec = resolution.spec.strip()
    if not spec.isdigit():
        raise UserError(
            f"resolution: {model} needs an integer sequence length 1..{MAX_POSITIONS}"
            f" (e.g. 128 or 384), not an image size; got {resolution.spec!r}"
        )
    if not 1 <= resolution.width <= MAX_POSITIONS:
        raise UserError(
            f"resolution: {model} takes a sequence length 1..{MAX_POSITIONS} (its position table);"
            f" got {resolution.width}"
        )


def _validate(resolution: Resolution) -> None:
    validate_sequence_length(resolution, "bert_base")


def _check_batch(batch: int, model: str = "bert_base") -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch: {model} needs a positive integer batch such as 1 or 32; got {batch!r}")


def _layer_norm(b: GraphBuilder, x: str, name: str, hidden: int = HIDDEN) -> str:
    scale = b.weight(f"{name}.weight", [hidden], init="ones")
    bias = b.weight(f"{name}.bias", [hidden], init="zeros")
    return b.node("LayerNormalization", [x, scale, bias], name=name, axis=-1, epsilon=LAYER_NORM_EPS)


def _scalar(b: GraphBuilder, hint: str, value: float) -> str:
    return b.constant(hint, np.array(value, np.float32))


def _to_heads(b: GraphBuilder, x: str, split_shape: str, perm: list[int], name: str) -> str:
    y = b.node("Reshape", [x, split_shape], name=f"{name}.reshape")
    return b.node("Transpose", [y], name=f"{name}.transpose", perm=perm)


def _gelu_erf(b: GraphBuilder, x: str, name: str) -> str:
    # HF's exported erf GELU: x * 0.5 * (1 + erf(x / sqrt(2))), in this node order
    y = b.node("Div", [x, _scalar(b, "gelu.sqrt2", math.sqrt(2.0))], name=f"{name}.div")
    y = b.node("Erf", [y], name=f"{name}.erf")
    y = b.node("Add", [y, _scalar(b, "gelu.one", 1.0)], name=f"{name}.add")
    y = b.node("Mul", [x, y], name=f"{name}.mul")
    return b.node("Mul", [y, _scalar(b, "gelu.half", 0.5)], name=f"{name}.mul_half")


def _encoder_layer(b: GraphBuilder, x: str, mask: str, split_shape: str, merge_shape: str, i: int,
                   shape: BertShape) -> str:
    p = f"encoder.layer.{i}"
    att = f"{p}.attention.self"
    hidden = shape.hidden
    q = _to_heads(b, b.matmul_weight(x, hidden, hidden, name=f"{att}.query"), split_shape, [0, 2, 1, 3],
                  f"{att}.query")
    # K goes straight to [b, h, d, s] so that QK^T is a plain MatMul, as the exporter emits it
    k = _to_heads(b, b.matmul_weight(x, hidden, hidden, name=f"{att}.key"), split_shape, [0, 2, 3, 1],
                  f"{att}.key")
    v = _to_heads(b, b.matmul_weight(x, hidden, hidden, name=f"{att}.value"), split_shape, [0, 2, 1, 3],
                  f"{att}.value")
    scores = b.node("MatMul", [q, k], name=f"{att}.scores")  # [b, h, s, s]
    scores = b.node("Div", [scores, _scalar(b, "attention.scale", math.sqrt(shape.head_dim))],
                    name=f"{att}.scale")
    scores = b.node("Add", [scores, mask], name=f"{att}.mask_add")
    probs = b.node("Softmax", [scores], name=f"{att}.softmax", axis=-1)
    ctx = b.node("MatMul", [probs, v], name=f"{att}.context")  # [b, h, s, d]
    ctx = b.node("Transpose", [ctx], name=f"{att}.context.transpose", perm=[0, 2, 1, 3])
    ctx = b.node("Reshape", [ctx, merge_shape], name=f"{att}.context.reshape")

    out = b.matmul_weight(ctx, hidden, hidden, name=f"{p}.attention.output.dense")
    out = b.add(out, x, name=f"{p}.attention.output.residual")
    x = _layer_norm(b, out, f"{p}.attention.output.LayerNorm", hidden)

    h = b.matmul_weight(x, hidden, shape.intermediate, name=f"{p}.intermediate.dense")
    h = _gelu_erf(b, h, f"{p}.intermediate.gelu")
    out = b.matmul_weight(h, shape.intermediate, hidden, name=f"{p}.output.dense")
    out = b.add(out, x, name=f"{p}.output.residual")
    return _layer_norm(b, out, f"{p}.output.LayerNorm", hidden)


def build_encoder(b: GraphBuilder, batch: int, seq: int, shape: BertShape) -> str:
    """Inputs, embeddings, extended mask and ``shape.layers`` encoder layers; returns the tensor
    ``last_hidden_state`` [batch, seq, hidden] (HF ``BertModel`` without its pooler)."""
    hidden = shape.hidden
    input_ids, attention_mask, token_type_ids = (b.input(n, [batch, seq], TensorProto.INT64) for n in INPUT_NAMES)

    # embeddings
    word = b.weight("embeddings.word_embeddings.weight", [VOCAB, hidden], init="normal")
    pos = b.weight("embeddings.position_embeddings.weight", [MAX_POSITIONS, hidden], init="normal")
    typ = b.weight("embeddings.token_type_embeddings.weight", [TYPE_VOCAB, hidden], init="normal")
    position_ids = b.constant("embeddings.position_ids", np.arange(seq, dtype=np.int64)[None, :])
    x = b.node("Gather", [word, input_ids], name="embeddings.word_embeddings", axis=0)
    t = b.node("Gather", [typ, token_type_ids], name="embeddings.token_type_embeddings", axis=0)
    x = b.add(x, t, name="embeddings.add_token_type")
    p = b.node("Gather", [pos, position_ids], name="embeddings.position_embeddings", axis=0)
    x = b.add(x, p, name="embeddings.add_position")
    x = _layer_norm(b, x, "embeddings.LayerNorm", hidden)

    # extended attention mask: 0 where attended, MASK_FILL where padded; [b, 1, 1, s]
    m = b.node("Unsqueeze", [attention_mask, b.constant("mask.axes", np.array([1, 2], np.int64))],
               name="extended_mask.unsqueeze")
    m = b.node("Cast", [m], name="extended_mask.cast", to=TensorProto.FLOAT)
    m = b.node("Sub", [_scalar(b, "mask.one", 1.0), m], name="extended_mask.invert")
    mask = b.node("Mul", [m, _scalar(b, "mask.fill", MASK_FILL)], name="extended_mask")

    # 0 in a Reshape target copies that input dim, so the graph does not hard-code batch/seq
    split_shape = b.constant("heads.split_shape", np.array([0, 0, shape.heads, shape.head_dim], np.int64))
    merge_shape = b.constant("heads.merge_shape", np.array([0, 0, hidden], np.int64))
    for i in range(shape.layers):
        x = _encoder_layer(b, x, mask, split_shape, merge_shape, i, shape)
    b.nodes[-1].output[0] = "last_hidden_state"
    return "last_hidden_state"


def build_bert_base(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """int64 ``input_ids``/``attention_mask``/``token_type_ids`` [batch, seq] ->
    ``last_hidden_state`` [batch, seq, 768] and ``pooler_output`` [batch, 768]."""
    seq = sequence_length(resolution)
    _check_batch(batch)
    b = GraphBuilder("bert_base", with_weights=with_weights, seed=seed)
    x = build_encoder(b, batch, seq, BERT_BASE)

    # pooler: dense + tanh on the first token
    first = b.node("Gather", [x, b.constant("pooler.first_token", np.array(0, np.int64))],
                   name="pooler.first_token", axis=1)  # [b, 768]
    pooled = b.linear(first, HIDDEN, HIDDEN, name="pooler.dense")
    b.node("Tanh", [pooled], name="pooler.activation")
    b.nodes[-1].output[0] = "pooler_output"

    b.output("last_hidden_state", [batch, seq, HIDDEN])
    b.output("pooler_output", [batch, HIDDEN])
    return b.build()


register_model(
    "bert_base",
    description="BERT-base encoder (12 x 768, 12 heads) as HF BertModel exports it, with pooler",
    default_resolution="128",
    accepts=f"a sequence length 1..{MAX_POSITIONS} (e.g. 128, 384)",
    task="language",
    validate=_validate,
    aliases=("bert-base", "bert", "bert-base-uncased"),
)(build_bert_base)
