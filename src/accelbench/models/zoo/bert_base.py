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

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, sequence_length
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


def bert_sequence_length(resolution: Resolution, model: str) -> int:
    """The sequence length a Resolution stands for (a plain integer up to the position table)."""
    return sequence_length(resolution, model, maximum=MAX_POSITIONS, limit_reason="its position table")


def _validate(resolution: Resolution) -> None:
    bert_sequence_length(resolution, "bert_base")


def _encoder_layer(b: GraphBuilder, x: str, mask: str, i: int, shape: BertShape) -> str:
    p = f"encoder.layer.{i}"
    att = f"{p}.attention.self"
    hidden = shape.hidden
    heads = {}
    for part in ("query", "key", "value"):
        projected = b.matmul_weight(x, hidden, hidden, name=f"{att}.{part}")
        heads[part] = b.split_heads(projected, shape.heads, shape.head_dim, keys=part == "key",
                                    name=f"{att}.{part}")
    ctx = b.attention(heads["query"], heads["key"], heads["value"], head_dim=shape.head_dim, width=hidden,
                      name=att, mask=mask)

    out = b.matmul_weight(ctx, hidden, hidden, name=f"{p}.attention.output.dense")
    out = b.add(out, x, name=f"{p}.attention.output.residual")
    x = b.layer_norm(out, hidden, eps=LAYER_NORM_EPS, name=f"{p}.attention.output.LayerNorm")

    out = b.feed_forward(x, hidden, shape.intermediate,
                         names=(f"{p}.intermediate.dense", f"{p}.intermediate.gelu", f"{p}.output.dense"))
    out = b.add(out, x, name=f"{p}.output.residual")
    return b.layer_norm(out, hidden, eps=LAYER_NORM_EPS, name=f"{p}.output.LayerNorm")


def build_encoder(b: GraphBuilder, batch: int, seq: int, shape: BertShape) -> str:
    """Inputs, embeddings, extended mask and ``shape.layers`` encoder layers; returns the output
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
    x = b.layer_norm(x, hidden, eps=LAYER_NORM_EPS, name="embeddings.LayerNorm")

    # extended attention mask: 0 where attended, MASK_FILL where padded; [b, 1, 1, s]
    m = b.node("Unsqueeze", [attention_mask, b.constant("mask.axes", np.array([1, 2], np.int64))],
               name="extended_mask.unsqueeze")
    m = b.node("Cast", [m], name="extended_mask.cast", to=TensorProto.FLOAT)
    m = b.node("Sub", [b.scalar("mask.one", 1.0), m], name="extended_mask.invert")
    mask = b.node("Mul", [m, b.scalar("mask.fill", MASK_FILL)], name="extended_mask")

    for i in range(shape.layers):
        x = _encoder_layer(b, x, mask, i, shape)
    b.nodes[-1].output[0] = "last_hidden_state"  # a stable tensor name; the caller decides the outputs
    return "last_hidden_state"


def build_bert_base(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """int64 ``input_ids``/``attention_mask``/``token_type_ids`` [batch, seq] ->
    ``last_hidden_state`` [batch, seq, 768] and ``pooler_output`` [batch, 768]."""
    seq = bert_sequence_length(resolution, "bert_base")
    check_batch(batch, "bert_base")
    b = GraphBuilder("bert_base", with_weights=with_weights, seed=seed)
    x = b.output(build_encoder(b, batch, seq, BERT_BASE), [batch, seq, HIDDEN])

    # pooler: dense + tanh on the first token
    first = b.node("Gather", [x, b.constant("pooler.first_token", np.array(0, np.int64))],
                   name="pooler.first_token", axis=1)  # [b, 768]
    pooled = b.linear(first, HIDDEN, HIDDEN, name="pooler.dense")
    b.node("Tanh", [pooled], name="pooler.activation")
    b.mark_output("pooler_output", [batch, HIDDEN])
    return b.build()


register_model(
    "bert_base",
    description="BERT-base encoder (12 x 768, 12 heads) as HF BertModel exports it, with pooler",
    default_resolution="128",
    accepts=f"a sequence length 1..{MAX_POSITIONS} (e.g. 128, 384)",
    task="language",
    validate=_validate,
    aliases=("bert-base", "bert", "bert-base-uncased"),
    stands_for="NLP encoders: search ranking, classification, question answering, embeddings (MLPerf BERT)",
    size_kind="sequence",
    source="HuggingFace transformers BertModel (bert-base-uncased config)",
)(build_bert_base)
