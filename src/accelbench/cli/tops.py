"""`accelbench devices` and `accelbench tops DEVICE|host`: the catalog and stage 1 (peak TOPS)."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from accelbench.cli import app
from accelbench.cli.common import check_format, echo_json, format_option, number_option
from accelbench.errors import UserError
from accelbench.hardware.catalog import load_catalog
from accelbench.hardware.devices import get_device
from accelbench.hardware.spec import DeviceSpec
from accelbench.report.terminal import make_console
from accelbench.report.units import fmt_core_arithmetic, fmt_mac_arithmetic, fmt_memory_size, fmt_ops, fmt_pct

TOPS_FORMATS = ("table", "json")
DERIVED_MARK = "~"


def _mark(spec: DeviceSpec, field: str, text: str, precision: str | None = None) -> str:
    return f"{DERIVED_MARK}{text}" if spec.is_figure_derived(field, precision) else text


def _device_row(spec: DeviceSpec) -> dict:
    return {
        "id": spec.id, "name": spec.name, "vendor": spec.vendor, "kind": spec.kind,
        "peak_ops_per_s": dict(spec.peak_ops_per_s), "macs_per_clock": dict(spec.macs_per_clock),
        "clock_hz": spec.clock_hz, "onchip_sram_bytes": spec.onchip_sram_bytes,
        "dram_bw_bytes_per_s": spec.dram_bw_bytes_per_s, "dram_capacity_bytes": spec.dram_capacity_bytes,
        "tdp_w": spec.tdp_w, "price_usd": spec.price_usd, "mac_organization": spec.mac_organization,
        "derived": list(spec.derived), "sources": dict(spec.sources), "notes": spec.notes,
    }


@app.command("devices")
@format_option(TOPS_FORMATS)
def devices_command(output_format: str) -> None:
    """List the device catalog: peaks per precision, on-chip SRAM, DRAM bandwidth, TDP, price.

    Figures marked ~ are derived or assumed, not vendor-published (`accelbench tops DEVICE` shows how).
    """
    output_format = check_format(output_format, TOPS_FORMATS)
    catalog = load_catalog()
    if output_format == "json":
        echo_json([_device_row(spec) for spec in catalog.values()])
        return
    table = Table(title="accelbench device catalog (dense peaks, 2 ops per MAC)")
    for column in ("id", "name", "kind", "peak per precision", "on-chip SRAM", "DRAM BW", "TDP", "price"):
        table.add_column(column, overflow="fold")
    for spec in catalog.values():
        peaks = "\n".join(_mark(spec, "peak_ops_per_s", f"{p} {fmt_ops(v, p)}", p)
                          for p, v in spec.peak_ops_per_s.items())
        bw = f"{spec.dram_bw_bytes_per_s / 1e9:,.4g} GB/s" if spec.dram_bw_bytes_per_s else "-"
        table.add_row(
            spec.id, spec.name, spec.kind, peaks,
            _mark(spec, "onchip_sram_bytes", fmt_memory_size(spec.onchip_sram_bytes)) if spec.onchip_sram_bytes else "-",
            _mark(spec, "dram_bw_bytes_per_s", bw) if spec.dram_bw_bytes_per_s else "-",
            _mark(spec, "tdp_w", f"{spec.tdp_w:g} W") if spec.tdp_w else "-",
            _mark(spec, "price_usd", f"${spec.price_usd:,.0f}" if spec.price_usd == int(spec.price_usd) else f"${spec.price_usd:,.2f}") if spec.price_usd else "-",
        )
    console = make_console()
    console.print(table)
    console.print(f"{DERIVED_MARK} derived or assumed, not vendor-published. On-chip SRAM: L2 for GPUs, "
                  "L2+L3 for CPUs. Sources: accelbench devices --format json.")


def _catalog_rows(spec: DeviceSpec, precisions: list[str]) -> list[dict]:
    rows = []
    for precision in precisions:
        ops = spec.peak_ops_per_s[precision]
        derived = spec.is_figure_derived("peak_ops_per_s", precision)
        macs = spec.macs_per_clock.get(precision)
        if macs and spec.clock_hz:
            arithmetic = fmt_mac_arithmetic(macs, spec.clock_hz, precision)
            if not derived:
                arithmetic += f" (vendor-published: {fmt_ops(ops, precision)})"
        elif derived:
            arithmetic = f"derived: {fmt_ops(ops, precision)} ({spec.sources.get('peak_ops_per_s', '')})"
        else:
            arithmetic = f"vendor-published: {fmt_ops(ops, precision)}"
        rows.append({"device": spec.id, "precision": precision, "peak_ops_per_s": ops, "source": "catalog",
                     "arithmetic": arithmetic, "derived": derived})
    return rows


def _host_rows(peaks) -> list[dict]:
    """The JSON rows of `tops host`: each theoretical peak, then each measured one (with the peak
    remembered for later records when an earlier, higher or quieter one stays)."""
    theoretical = {p.precision: p.ops_per_s for p in peaks.theoretical}
    rows = [{"device": "host", "precision": p.precision, "peak_ops_per_s": p.ops_per_s, "source": "theoretical",
             "arithmetic": fmt_core_arithmetic(p), "derived": True, "via": p.via} for p in peaks.theoretical]
    for m in peaks.measured:
        row = {"device": "host", "precision": m.precision, "peak_ops_per_s": m.ops_per_s,
               "source": "measured", "runtime": m.runtime, "precision_executed": m.precision_executed,
               "matrix_size": m.n, "runs": len(m.run_times_ns), "run_times_ns": list(m.run_times_ns),
               "spread": m.spread, "measured_at": m.measured_at, "note": m.note}
        remembered = peaks.remembered.get(m.precision)
        if remembered is not None and m.ops_per_s and remembered.measured_at != m.measured_at:
            # An earlier measurement was higher and at least as quiet: later records divide by it.
            row["remembered"] = remembered.to_dict()
        if m.ops_per_s and theoretical.get(m.precision):
            row["utilization"] = m.ops_per_s / theoretical[m.precision]
        rows.append(row)
    return rows


def _print_host(rows: list[dict], info) -> None:
    console = make_console()
    console.print(f"host: {info.cpu_model} ({info.vendor_id} family {info.cpu_family} "
                  f"model {info.cpu_model_number}), {info.physical_cores} physical / {info.logical_cores} "
                  f"logical cores, {info.sockets} socket(s)", markup=False)
    clock = f"{info.clock_hz / 1e9:.3f} GHz" if info.clock_hz else "unknown"
    console.print(f"clock: {clock}  ({info.clock_source})", markup=False)
    console.print(f"ISA: {' '.join(info.isa_flags) or 'none of AVX2/AVX-512/VNNI/AMX'}"
                  + ("" if info.has("amx_tile") else "  (no AMX)"), markup=False)
    for gpu in info.gpus:
        console.print(f"gpu{gpu.index}: {gpu.name} (NVML)  -> accelbench tops gpu{gpu.index}", markup=False)
    table = Table(title="peak per precision (2 ops per MAC)")
    for column in ("precision", "theoretical", "arithmetic", "measured", "utilization", "how measured"):
        table.add_column(column, overflow="fold")
    measured = {r["precision"]: r for r in rows if r["source"] == "measured"}
    over = False
    for row in (r for r in rows if r["source"] == "theoretical"):
        p = row["precision"]
        m = measured.get(p)
        if m is None:
            got, util, how = "-", "-", "not measured" if p not in ("fp32", "bf16", "int8") else "--no-measure"
        elif m["peak_ops_per_s"] is None:
            got, util, how = "-", "-", m["note"]
        else:
            got = fmt_ops(m["peak_ops_per_s"], p, prefix="G")
            util = f"{m['utilization']:.0%}" if "utilization" in m else "-"
            over = over or m.get("utilization", 0) > 1
            how = (f"{m['runtime']} {m['matrix_size']}^3 GEMM, best of {m['runs']}, ran as "
                   f"{m['precision_executed']}, spread {fmt_pct(m['spread'])}")
            if "remembered" in m:
                kept = m["remembered"]
                how += (f"; kept the earlier {fmt_ops(kept['ops_per_s'], p, prefix='G')} "
                        f"(spread {fmt_pct(kept['spread'])}, {kept['measured_at'] or 'date not recorded'})")
        table.add_row(*(escape(c) for c in (p, fmt_ops(row["peak_ops_per_s"], p, prefix="G"), row["arithmetic"], got, util, how)))
    console.print(table)
    if over:
        console.print("note: measured above theoretical means the clock used (see 'clock') is below the real "
                      "(turbo) clock, or the FMA-unit assumption is too low.")
    console.print("Measurements on a shared machine are noisy; theoretical figures are derived, not vendor-published.")


@app.command("tops")
@click.argument("device", metavar="DEVICE")
@click.option("--precision", "-p", default=None, help="One precision (fp32, fp16, bf16, int16, int8); default all.")
@format_option(TOPS_FORMATS)
@click.option("--no-measure", is_flag=True, help="host: skip the GEMM measurement (theoretical peaks only).")
@number_option("--size", default="2048", show_default=True, help="host: side of the square GEMM measured.")
@number_option("--budget", "budget_s", default="2.0", show_default=True,
               help="host: seconds of timed runs per precision (after one warm-up).")
def tops_command(device: str, precision: str | None, output_format: str, no_measure: bool, size: int,
                 budget_s: float) -> None:
    """Peak TOPS of DEVICE per precision, with the arithmetic (MACs x GHz x 2; 1K MACs at 1 GHz = 2 TOPS).

    DEVICE is a catalog id (accelbench devices), "host" (this machine: detected, theoretical and measured
    GEMM peak side by side) or gpu0, gpu1... (NVIDIA GPUs found through NVML).
    """
    output_format = check_format(output_format, TOPS_FORMATS)
    if device.strip().lower() == "host":
        # The one import inside a command: measuring loads the backends and their ONNX stack (a second
        # or more), which `devices` and `tops <catalog id>`, the same module, never need.
        from accelbench.measure.gemm_peak import host_peaks

        peaks = host_peaks(precision, measure=not no_measure, n=size, budget_s=budget_s)
        rows = _host_rows(peaks)
        if output_format == "json":
            echo_json([r for r in rows if r["peak_ops_per_s"] is not None])
            for r in rows:
                if r["peak_ops_per_s"] is None:
                    click.echo(f"warning: {r['precision']} {r['note']}", err=True)
        else:
            _print_host(rows, peaks.info)
        return
    spec = get_device(device)
    if not spec.peak_ops_per_s:
        raise UserError(f"device {spec.id}: no peak figures known ({spec.notes})")
    rows = _catalog_rows(spec, spec.precisions_for(precision))
    if output_format == "json":
        echo_json(rows)
        return
    click.echo(f"{spec.id}: {spec.name} ({spec.vendor} {spec.kind})"
               + (f"; {spec.mac_organization}" if spec.mac_organization else ""))
    width = max(len(r["precision"]) for r in rows)
    for row in rows:
        click.echo(f"  {row['precision']:<{width}}  {row['arithmetic']}"
                   + ("  [derived]" if row["derived"] else ""))
    if spec.notes:
        click.echo(f"notes: {spec.notes}")
