"""Renderers for a ModelProfile (`accelbench profile`): a plain-text table and CSV. Profiles know
nothing of this; units come from report/units.py."""

from __future__ import annotations

import csv
import io

from accelbench.profile.types import LayerProfile, ModelProfile
from accelbench.report.units import fmt_binary_bytes, fmt_count

# Short names so that "Conv+BN+Relu" fits a column.
_SHORT_OPS = {
    "BatchNormalization": "BN",
    "LeakyRelu": "LRelu",
    "LayerNormalization": "LayerNorm",
    "GlobalAveragePool": "GAvgPool",
    "QuantizeLinear": "Q",
    "DequantizeLinear": "DQ",
}

CSV_FIELDS = (
    "index", "name", "op", "fused_ops", "output_shape", "macs", "other_ops", "params", "weight_bytes",
    "input_bytes", "output_bytes", "arithmetic_intensity", "gemm_m", "gemm_n", "gemm_k", "gemm_groups",
    "unknown_op", "shape_unknown",
)


def _op_text(layer: LayerProfile) -> str:
    ops = [_SHORT_OPS.get(o, o) for o in layer.fused_ops] or [layer.op]
    text = "+".join(ops)
    if layer.unknown_op:
        text = "!" + text
    if layer.shape_unknown:
        text += "?"
    return text


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "?"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _clip_left(text: str, width: int) -> str:
    # Layer names differ at their end (encoder.layer.3.attention.self.query): keep the tail.
    return text if len(text) <= width else "~" + text[-(width - 1):]


def select_layers(profile: ModelProfile, top: int | None) -> list[tuple[int, LayerProfile]]:
    """(1-based index, layer) in execution order; with ``top``, the ``top`` layers with most MACs
    (then most bytes moved), still listed in execution order."""
    rows = list(enumerate(profile.layers, start=1))
    if top is not None and top < len(rows):
        heaviest = sorted(rows, key=lambda r: (r[1].macs, r[1].bytes_moved), reverse=True)[:top]
        rows = sorted(heaviest, key=lambda r: r[0])
    return rows


def format_profile_table(profile: ModelProfile, top: int | None = None) -> str:
    """Per-layer rows then model totals, human units. ``top`` limits rows to the heaviest layers."""
    headers = ("#", "layer", "op", "output", "MACs", "params", "weights", "in", "out", "MAC/B")
    rows = []
    for index, layer in select_layers(profile, top):
        rows.append((
            str(index), _clip_left(layer.name, 36), _clip(_op_text(layer), 26), _clip(_shape_text(layer.output_shape), 20),
            fmt_count(layer.macs) if layer.macs else "-",
            fmt_count(layer.params) if layer.params else "-",
            fmt_binary_bytes(layer.weight_bytes) if layer.weight_bytes else "-",
            fmt_binary_bytes(layer.input_bytes), fmt_binary_bytes(layer.output_bytes),
            f"{layer.arithmetic_intensity:.1f}" if layer.macs else "-",
        ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    right = {0, 4, 5, 6, 7, 8, 9}

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    inputs = ", ".join(f"{k} {_shape_text(v)}" for k, v in profile.input_shapes.items())
    out = [f"{profile.model}  precision {profile.precision}  batch {profile.batch}  inputs: {inputs}", ""]
    out.append(line(headers).rstrip())
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r).rstrip() for r in rows)
    if top is not None and top < profile.layer_count:
        out.append(f"(showing the {top} layers with most MACs of {profile.layer_count}; totals are for all layers)")
    out.append("")
    totals = [
        ("MACs", f"{profile.macs / 1e9:,.3f} G ({profile.macs:,})"),
        ("other ops", f"{profile.other_ops / 1e9:,.3f} G ({profile.other_ops:,})"),
        ("parameters", f"{fmt_count(profile.params)} ({profile.params:,})"),
        ("weight bytes", f"{fmt_binary_bytes(profile.weight_bytes)} ({profile.weight_bytes:,} B)"),
        ("layers", f"{profile.layer_count}"),
        ("network kind", profile.network_kind or "-"),
        ("largest activation",
         f"{profile.largest_activation_elements:,} elements, {fmt_binary_bytes(profile.largest_activation_bytes)}"),
        ("peak live activations", f"{fmt_binary_bytes(profile.peak_live_activation_bytes)}"
                                  f" ({profile.peak_live_activation_bytes:,} B)"),
        ("input / output bytes", f"{fmt_binary_bytes(profile.input_bytes)} / {fmt_binary_bytes(profile.output_bytes)}"),
    ]
    if profile.unknown_ops:
        totals.append(("unknown ops (0 MACs, marked !)", ", ".join(profile.unknown_ops)))
    unknown = profile.unknown_layers
    if any(layer.shape_unknown for layer in profile.layers):
        count = sum(1 for layer in profile.layers if layer.shape_unknown)
        totals.append(("unknown shapes (0 bytes, marked ?)",
                       f"{count} layers of {unknown.total_layers} ({count / max(unknown.total_layers, 1):.0%})"))
    if unknown.mac_layers:
        totals.append(("MACs not counted (shapes unknown)",
                       f"{unknown.mac_layers} of {unknown.total_mac_layers} MAC layers: the MAC total is too low"))
    key_width = max(len(k) for k, _ in totals)
    out.extend(f"{k.ljust(key_width)}  {v}" for k, v in totals)
    return "\n".join(out)


def format_profile_csv(profile: ModelProfile) -> str:
    """One row per layer with a header; raw integers (bytes, MACs), no units."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for index, layer in enumerate(profile.layers, start=1):
        g = layer.gemm
        writer.writerow([
            index, layer.name, layer.op, "+".join(layer.fused_ops), _shape_text(layer.output_shape),
            layer.macs, layer.other_ops, layer.params, layer.weight_bytes, layer.input_bytes,
            layer.output_bytes, f"{layer.arithmetic_intensity:.4f}",
            g.m if g else "", g.n if g else "", g.k if g else "", g.groups if g else "",
            int(layer.unknown_op), int(layer.shape_unknown),
        ])
    return buf.getvalue()
