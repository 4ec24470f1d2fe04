"""BERT-Large for SQuAD question answering, as MLPerf Inference runs it (``bert-99``), built in code.

The MLPerf reference (mlcommons/inference ``language/bert``: ``bert_config.json`` and
``pytorch_SUT.py``) is HuggingFace ``BertForQuestionAnswering``: 24 layers, hidden 1024, 16 heads
of 64, intermediate 4096, vocab 30522, 512 positions, 2 token types, GELU; no pooler; a
``qa_outputs`` Linear(1024, 2) whose two columns are the start and end logits. MLPerf feeds
sequences of 384 tokens, the default "resolution" here (a plain integer 1..512, as bert_base).

The encoder is bert_base's builder at these sizes (same node order and HF module names). Head:
``qa_outputs`` MatMul + Add -> [batch, seq, 2], Split on the last axis, Squeeze -> outputs
``start_logits`` and ``end_logits`` [batch, seq].

Reference: 334,094,338 parameters (``sum(p.numel() for p in BertForQuestionAnswering(config)
.parameters())`` with the MLPerf config), asserted in tests/test_zoo_mlperf.py. MACs at sequence
length s: 24 x (4 s 1024^2 + 2 s 1024 x 4096 + 2 s^2 1024) + 2 s 1024; s = 384: 123,212,660,736.
"""

from __future__ import annotations

import numpy as np
import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.bert_base import BertShape, bert_sequence_length, build_encoder
from accelbench.models.zoo.common import check_batch
from accelbench.shapes import Resolution

NAME = "bert_large"
BERT_LARGE = BertShape(NAME, layers=24, hidden=1024, heads=16, intermediate=4096)
MLPERF_SEQUENCE_LENGTH = 384
QA_OUTPUTS = 2  # start and end logit per token


def build_bert_qa(shape: BertShape, resolution: Resolution, batch: int, with_weights: bool,
                  seed: int) -> onnx.ModelProto:
    """An HF ``BertForQuestionAnswering`` graph of ``shape``: int64 ``input_ids``/``attention_mask``/
    ``token_type_ids`` [batch, seq] -> ``start_logits``, ``end_logits`` [batch, seq]."""
    seq = bert_sequence_length(resolution, shape.model)
    check_batch(batch, shape.model)
    b = GraphBuilder(shape.model, with_weights=with_weights, seed=seed)
    x = build_encoder(b, batch, seq, shape)
    logits = b.matmul_weight(x, shape.hidden, QA_OUTPUTS, name="qa_outputs")  # [b, s, 2]
    start, end = b.node("Split", [logits], name="qa_outputs.split", n_outputs=2, axis=-1)
    axes = b.constant("qa_outputs.squeeze_axes", np.array([-1], np.int64))
    b.node("Squeeze", [start, axes], name="start_logits")
    b.node("Squeeze", [end, axes], name="end_logits")
    b.output("start_logits", [batch, seq])
    b.output("end_logits", [batch, seq])
    return b.build()


def build_bert_large(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    return build_bert_qa(BERT_LARGE, resolution, batch, with_weights, seed)


def _validate(resolution: Resolution) -> None:
    bert_sequence_length(resolution, NAME)


register_model(
    NAME,
    description="BERT-Large for SQuAD (24 x 1024, 16 heads, QA head) as MLPerf Inference runs it (bert-99)",
    default_resolution=str(MLPERF_SEQUENCE_LENGTH),
    accepts="a sequence length 1..512 (MLPerf: 384)",
    task="language",
    validate=_validate,
    aliases=("bert-large", "bert-99", "bert_large_squad"),
    stands_for="question answering and other encoder-only NLP at server scale (MLPerf bert-99)",
    size_kind="sequence",
    source="HuggingFace transformers BertForQuestionAnswering (bert-large config), MLPerf bert-99",
)(build_bert_large)
