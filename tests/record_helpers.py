"""Typed record parts built by hand for store and export tests (imported as a plain module)."""

from __future__ import annotations

from accelbench.results.layers import LayerTimes, MeasuredLayer, RuntimeNodeTime


def small_layer_times() -> LayerTimes:
    """Per-layer times of two layers (one fused elsewhere) and an unmapped runtime node, as
    `bench --layers` records them."""
    return LayerTimes("onnxruntime session profiling", 2, (
        MeasuredLayer(0, "conv1", "Conv", "conv", 118_013_952, 410_000.0, ("conv1_fused",), ("name",)),
        MeasuredLayer(1, "fc", "Gemm", "gemm", 512_000, 0.0)),
        unmapped=(RuntimeNodeTime("copy_in", "MemcpyToHost", 1_500.0),), profiled_latency_ns=(500_000, 520_000),
        collect_wall_ns=90_000_000, notes=("one layer fused elsewhere",))
