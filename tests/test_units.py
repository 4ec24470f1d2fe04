"""The fixed dialects of the terminal views, now in report/units.py: exactly what each view printed
before the formatting helpers moved there (figures worked out by hand)."""

from __future__ import annotations

from accelbench.hardware.host import CpuPeak
from accelbench.report.units import (
    MISSING, fmt_binary_bytes, fmt_core_arithmetic, fmt_count, fmt_duration, fmt_hz, fmt_memory_size, fmt_ms, fmt_ns,
    fmt_value,
)


def test_bench_record_view():
    assert fmt_ns(1_234_567) == "1.235 ms" and fmt_ns(2.5e9) == "2.500 s" and fmt_ns(950) == "950 ns"
    assert fmt_ns(12_000) == "12.000 us" and fmt_ns(None) == "-"
    assert fmt_value(12.3456, ".2f", " inferences/s") == "12.35 inferences/s" and fmt_value(None, ".2f") == "-"
    assert fmt_value(3, "d") == "3"


def test_projection_views():
    assert fmt_ms(0.0123) == "12.300 ms" and fmt_ms(12.5) == "12.50 s"


def test_profile_table():
    assert fmt_binary_bytes(1000) == "1000 B" and fmt_binary_bytes(1536) == "1.5 KiB"
    assert fmt_binary_bytes(33_423_360) == "31.9 MiB"
    assert fmt_count(4_089_184_256) == "4.09 G" and fmt_count(25_557_032, "B") == "25.56 MB" and fmt_count(999) == "999"


def test_catalog_views():
    assert fmt_memory_size(4 * 2**20) == "4 MiB" and fmt_memory_size(80 * 10**9) == "80 GB"
    assert fmt_memory_size(512 * 1024) == "512 KiB" and fmt_memory_size(None) == "-"
    assert fmt_hz(0.933e9) == "933 MHz" and fmt_hz(2.6e9) == "2.6 GHz"


def test_cpu_peak_arithmetic():
    peak = CpuPeak("fp32", 2 * 2.6e9 * 32 * 2, 32, "2 FMA x 16 lanes", "AVX-512 FMA", 2, 2.6e9)
    assert fmt_core_arithmetic(peak) == "2 cores x 2.6 GHz x 32 MACs/cycle (2 FMA x 16 lanes) x 2 = 333 GFLOPS"


def test_sweep_durations():
    assert fmt_duration(44.6) == "45 s" and fmt_duration(59.4) == "59 s" and fmt_duration(750) == "12.5 min"
    assert fmt_duration(3600) == "1.0 h" and fmt_duration(8280) == "2.3 h"
    assert fmt_duration(None) == MISSING and fmt_duration(float("nan"), missing="n/a") == "n/a"
