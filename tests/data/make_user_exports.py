"""Writes the user-style torch exports the shape tests profile (run with torch 2.13 installed:
`.venv/bin/python tests/data/make_user_exports.py`). The .onnx files are committed, so the tests
need no torch. All are exported the way most exports are done: the legacy TorchScript exporter
with dynamic_axes, which writes the shape arithmetic (Shape -> Gather -> Unsqueeze -> Concat ->
Reshape, positions from Range over the sequence length, padding computed from tensor sizes) into
the graph. Random weights, seed 0.

- transformer_encoder_dynamic.onnx: a BERT-style encoder written as HuggingFace writes it (token
  and learned position embeddings, per layer q/k/v Linear, view to heads, q @ k^T / sqrt(d),
  softmax, @ v, merge heads, output Linear, residual + LayerNorm, GELU feed-forward): 2 layers,
  hidden 32, 4 heads, feed-forward 64, vocabulary 100, 128 positions; input ids [batch, seq]
  (int64) with batch and seq dynamic.
- torch_mha_encoder.onnx: torch.nn.TransformerEncoder (2 layers, d_model 32, 4 heads,
  feed-forward 64, batch_first), input x [batch, seq, 32] with batch and seq dynamic. torch's
  exporter bakes the key length seen at export (16) into a Reshape constant of
  nn.MultiheadAttention: the graph only runs at seq 16 (onnxruntime fails in Reshape_4 at any
  other length), which the shape tests expect accelbench to say.
- unet_dynamic.onnx: a two-level U-Net in the layout of milesial/Pytorch-UNet (double 3x3 conv
  blocks, max-pool down, ConvTranspose 2x2 up, the skip padded to the upsampled size with F.pad
  from the tensors' sizes, concatenated); channels 8/16/32, 3 in, 2 classes; input [batch, 3, H, W]
  with batch, H and W dynamic.
"""

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
HIDDEN, HEADS, FEED_FORWARD, LAYERS, VOCAB, POSITIONS = 32, 4, 64, 2, 100, 128


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(HIDDEN, HIDDEN) for _ in range(3))
        self.output = nn.Linear(HIDDEN, HIDDEN)

    def heads(self, x):
        batch, seq, _ = x.size()
        return x.view(batch, seq, HEADS, HIDDEN // HEADS).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(HIDDEN // HEADS)
        context = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2)
        return self.output(context.reshape(x.size(0), x.size(1), HIDDEN))


class BertLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = SelfAttention()
        self.norm1, self.norm2 = nn.LayerNorm(HIDDEN), nn.LayerNorm(HIDDEN)
        self.intermediate, self.out = nn.Linear(HIDDEN, FEED_FORWARD), nn.Linear(FEED_FORWARD, HIDDEN)

    def forward(self, x):
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.out(F.gelu(self.intermediate(x))))


class BertEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(VOCAB, HIDDEN), nn.Embedding(POSITIONS, HIDDEN)
        self.layers = nn.ModuleList(BertLayer() for _ in range(LAYERS))

    def forward(self, ids):
        positions = torch.arange(ids.size(1), device=ids.device).unsqueeze(0)
        x = self.tokens(ids) + self.positions(positions)
        for layer in self.layers:
            x = layer(x)
        return x


class TorchEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(HIDDEN, HEADS, FEED_FORWARD, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)

    def forward(self, x):
        return self.encoder(x)


def double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = double_conv(cin, cout)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inc = double_conv(3, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), double_conv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), double_conv(16, 32))
        self.up1 = Up(32, 16)
        self.up2 = Up(16, 8)
        self.outc = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        return self.outc(self.up2(self.up1(x3, x2), x1))


def export(module, example, path, dynamic):
    # Not under no_grad: in eval mode that would take torch's fused encoder path, which has no ONNX export.
    torch.onnx.export(module.eval(), (example,), str(path), opset_version=17, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": dynamic, "y": dynamic}, do_constant_folding=True)


if __name__ == "__main__":
    torch.manual_seed(0)
    export(BertEncoder(), torch.randint(0, VOCAB, (2, 16)), HERE / "transformer_encoder_dynamic.onnx",
           {0: "batch", 1: "seq"})
    export(TorchEncoder(), torch.randn(2, 16, HIDDEN), HERE / "torch_mha_encoder.onnx", {0: "batch", 1: "seq"})
    export(UNet(), torch.randn(1, 3, 64, 64), HERE / "unet_dynamic.onnx", {0: "batch", 2: "height", 3: "width"})
