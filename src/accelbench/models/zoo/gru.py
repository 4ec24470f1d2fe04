"""A 2-layer GRU over speech features: ``torch.nn.GRU(80, 512, num_layers=2, batch_first=True)``,
the GRU variant of ``lstm`` (models/zoo/lstm.py has the graph and why this size).

ONNX ``GRU`` with ``linear_before_reset=1`` (torch's GRU applies the reset gate after the
recurrent matmul; this is what torch.onnx exports). W [1, 3*512, input], R [1, 3*512, 512] and
B [1, 6*512] hold torch's weight_ih, weight_hh, bias_ih and bias_hh, so

    parameters = 3*512*(80 + 512) + 3072 + 3*512*(512 + 512) + 3072 = 2,488,320
    MACs       = seq * (3*512*(80 + 512) + 3*512*(512 + 512))  (3/4 of the LSTM's)
"""

from __future__ import annotations

from accelbench.models.zoo.lstm import register_recurrent

register_recurrent("GRU", aliases=("gru2", "gru-512"),
                   stands_for="lighter recurrent models: on-device speech enhancement, wake words,"
                              " streaming sequence tagging")
