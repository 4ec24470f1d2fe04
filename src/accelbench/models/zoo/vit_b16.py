"""ViT-B/16 in torchvision's layout (torchvision.models.vit_b_16), built in code.

Patch size 16, 12 encoder layers, hidden 768, 12 heads of 64, MLP 3072, LayerNorm eps 1e-6,
1000 classes. The graph, in torchvision's order:

- ``conv_proj`` Conv 16x16/16 (with bias) 3 -> 768, Reshape + Transpose to [batch, tokens, 768];
- Concat of ``class_token`` [1, 1, 768] (expanded to the batch) in front: 1 + (H/16)(W/16) tokens;
- plus ``encoder.pos_embedding`` [1, 197, 768] (the 14 x 14 grid trained at 224 plus the class
  token's entry). At another size the grid part is resized to (H/16, W/16) with bicubic
  interpolation, align_corners (torchvision's ``interpolate_embeddings``, generalised to WxH),
  inside the graph: the parameter count is the same at every size, and the Resize works on a
  constant, so runtimes and the profiler fold it away;
- 12 ``EncoderBlock``s (pre-LN): x + self_attention(ln_1(x)), then x + mlp(ln_2(x)).
  ``nn.MultiheadAttention`` keeps Q, K and V in one packed ``in_proj`` [768 -> 2304] with bias,
  so it is one MatMul + Add followed by a Split; QK^T / sqrt(64), Softmax, x V, ``out_proj``
  Linear with bias; mlp: Linear(768, 3072), GELU (Erf form), Linear(3072, 768);
- ``encoder.ln``, the class token (Gather of token 0), ``heads.head`` Linear(768, 1000) ->
  ``logits`` [batch, 1000].

The resolution sets the token count: both sides must be multiples of 16 (torchvision asserts
``image_size % patch_size == 0``). Attention costs grow with tokens squared: 197 tokens at 224,
1 + 84 x 48 = 4033 at 1344x768 (1mp).

Reference: 86,567,656 parameters (torchvision ``ViT_B_16_Weights.IMAGENET1K_V1`` ``num_params``),
asserted in tests/test_zoo_new.py.
"""

from __future__ import annotations

import numpy as np
import onnx

from accelbench.models.builder import GraphBuilder
from accelbench.models.registry import register_model
from accelbench.models.zoo.common import check_batch, validate_image_size
from accelbench.shapes import Resolution

NAME = "vit_b16"
PATCH = 16
TRAINED_SIDE = 224  # pos_embedding holds (224 / 16)^2 + 1 = 197 entries
HIDDEN = 768
NUM_HEADS = 12
HEAD_DIM = HIDDEN // NUM_HEADS
NUM_LAYERS = 12
MLP_DIM = 3072
NUM_CLASSES = 1000
LAYER_NORM_EPS = 1e-6


def _validate(resolution: Resolution) -> None:
    validate_image_size(resolution, NAME, min_side=PATCH, multiple=PATCH)


def _position_embedding(b: GraphBuilder, grid_h: int, grid_w: int) -> str:
    """``encoder.pos_embedding`` [1, 197, 768], its 14x14 grid part resized to grid_h x grid_w when needed."""
    trained = TRAINED_SIDE // PATCH
    table = b.weight("encoder.pos_embedding", [1, trained * trained + 1, HIDDEN], init="normal")
    if (grid_h, grid_w) == (trained, trained):
        return table

    def piece(start: int, end: int, hint: str) -> str:
        return b.node("Slice", [table, b.constant(f"{hint}.starts", np.array([start], np.int64)),
                                b.constant(f"{hint}.ends", np.array([end], np.int64)),
                                b.constant("pos_embedding.token_axis", np.array([1], np.int64))],
                      name=f"encoder.pos_embedding.{hint}")

    token = piece(0, 1, "class_token")
    grid = b.node("Transpose", [piece(1, trained * trained + 1, "grid")], name="encoder.pos_embedding.channels_first",
                  perm=[0, 2, 1])
    grid = b.node("Reshape", [grid, b.constant("pos_embedding.grid_shape",
                                               np.array([1, HIDDEN, trained, trained], np.int64))],
                  name="encoder.pos_embedding.to_grid")
    sizes = b.constant("pos_embedding.new_size", np.array([1, HIDDEN, grid_h, grid_w], np.int64))
    grid = b.node("Resize", [grid, "", "", sizes], name="encoder.pos_embedding.interpolate", mode="cubic",
                  coordinate_transformation_mode="align_corners", cubic_coeff_a=-0.75)
    grid = b.node("Reshape", [grid, b.constant("pos_embedding.flat_shape",
                                               np.array([1, HIDDEN, grid_h * grid_w], np.int64))],
                  name="encoder.pos_embedding.flatten")
    grid = b.node("Transpose", [grid], name="encoder.pos_embedding.tokens_first", perm=[0, 2, 1])
    return b.concat([token, grid], axis=1, name="encoder.pos_embedding.resized")


def _encoder_block(b: GraphBuilder, x: str, i: int) -> str:
    p = f"encoder.layers.encoder_layer_{i}"
    att = f"{p}.self_attention"
    h = b.layer_norm(x, HIDDEN, eps=LAYER_NORM_EPS, name=f"{p}.ln_1")
    qkv = b.matmul_weight(h, HIDDEN, 3 * HIDDEN, name=f"{att}.in_proj")
    parts = b.node("Split", [qkv, b.constant("in_proj.split", np.array([HIDDEN] * 3, np.int64))],
                   name=f"{att}.split", n_outputs=3, axis=-1)
    q, k, v = (b.split_heads(t, NUM_HEADS, HEAD_DIM, keys=part == "key", name=f"{att}.{part}")
               for t, part in zip(parts, ("query", "key", "value")))
    ctx = b.attention(q, k, v, head_dim=HEAD_DIM, width=HIDDEN, name=att)
    x = b.add(x, b.matmul_weight(ctx, HIDDEN, HIDDEN, name=f"{att}.out_proj"), name=f"{p}.attention_residual")
    h = b.layer_norm(x, HIDDEN, eps=LAYER_NORM_EPS, name=f"{p}.ln_2")
    h = b.feed_forward(h, HIDDEN, MLP_DIM, names=(f"{p}.mlp.0", f"{p}.mlp.1", f"{p}.mlp.3"))
    return b.add(x, h, name=f"{p}.mlp_residual")


def build_vit_b16(resolution: Resolution, batch: int, with_weights: bool, seed: int) -> onnx.ModelProto:
    """NCHW float32 input ``input`` [batch, 3, H, W] -> ``logits`` [batch, 1000]."""
    _validate(resolution)
    check_batch(batch, NAME)
    grid_h, grid_w = resolution.height // PATCH, resolution.width // PATCH
    b = GraphBuilder(NAME, with_weights=with_weights, seed=seed)
    x = b.input("input", [batch, 3, resolution.height, resolution.width])
    x = b.conv(x, 3, HIDDEN, PATCH, stride=PATCH, pad=0, bias=True, name="conv_proj")
    x = b.node("Reshape", [x, b.constant("patches.shape", np.array([0, HIDDEN, grid_h * grid_w], np.int64))],
               name="patches.reshape")
    x = b.node("Transpose", [x], name="patches.permute", perm=[0, 2, 1])  # [batch, tokens, 768]
    token = b.weight("class_token", [1, 1, HIDDEN], init="zeros")
    token = b.node("Expand", [token, b.constant("class_token.shape", np.array([batch, 1, HIDDEN], np.int64))],
                   name="class_token.expand")
    x = b.concat([token, x], axis=1, name="class_token.cat")
    x = b.add(x, _position_embedding(b, grid_h, grid_w), name="encoder.pos_embedding.add")
    for i in range(NUM_LAYERS):
        x = _encoder_block(b, x, i)
    x = b.layer_norm(x, HIDDEN, eps=LAYER_NORM_EPS, name="encoder.ln")
    x = b.node("Gather", [x, b.constant("class_token.index", np.array(0, np.int64))], name="class_token.select",
               axis=1)  # x[:, 0]
    b.linear(x, HIDDEN, NUM_CLASSES, name="heads.head")
    b.mark_output("logits", [batch, NUM_CLASSES])
    return b.build()


register_model(
    NAME,
    description="ViT-B/16, torchvision layout (16x16 patches, 12 pre-LN layers of 768, 12 heads)",
    default_resolution="224",
    accepts=f"WxH with both sides multiples of {PATCH} (224, 384, 1344x768 = 1mp); tokens = 1 + HW/256",
    task="image-classification",
    validate=_validate,
    aliases=("vit-b16", "vit_b_16", "vit-base"),
    stands_for="vision transformers: classification and the image encoders of CLIP/VLMs, DINO, SAM-style backbones",
    source="torchvision torchvision/models/vision_transformer.py (vit_b_16, interpolate_embeddings)",
)(build_vit_b16)
