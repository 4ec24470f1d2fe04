"""Device catalog, peak arithmetic, host detection and the measured GEMM peak."""

from __future__ import annotations

import pytest

from accelbench.errors import UserError
from accelbench.hardware.catalog import device_from_dict, load_catalog, load_device_file, match_device_name
from accelbench.hardware.devices import get_device
from accelbench.hardware.host import detect_host, host_device_spec, theoretical_peaks
from accelbench.hardware.peak import peak_ops_per_s
from accelbench.report.units import fmt_mac_arithmetic, fmt_ops

REQUIRED_IDS = {"t4", "a100", "h100", "h200", "l4", "jetson_agx_xavier", "jetson_agx_orin", "jetson_orin_nano",
                "coral_edge_tpu", "hailo8", "inferx_x1", "myriad_x", "qualcomm_cloud_ai100", "xeon_8480plus"}


def test_1k_macs_at_1ghz_is_2_tops():
    assert peak_ops_per_s(1024, 1e9) == 2.048e12
    assert peak_ops_per_s(1000, 1e9) == 2e12


def test_inferx_x1_peak_from_macs_and_clock():
    spec = get_device("inferx_x1")
    assert spec.macs_per_clock["int8"] == 4 * 1024
    assert spec.peak_ops_per_s["int8"] == pytest.approx(4096 * 0.933e9 * 2)  # 7.643 TOPS
    assert spec.peak_ops_per_s["bf16"] == pytest.approx(spec.peak_ops_per_s["int8"] / 2)  # half rate
    assert spec.is_figure_derived("peak_ops_per_s", "int8")
    assert fmt_mac_arithmetic(4096, 0.933e9) == "4,096 MACs x 0.933 GHz x 2 = 7.64 TOPS"


@pytest.mark.parametrize("device,int8_tops,fp16_tflops", [
    ("t4", 130, 65), ("a100", 624, 312), ("h100", 1979, 989), ("h200", 1979, 989), ("l4", 242, 121),
])
def test_reference_gpu_peaks(device, int8_tops, fp16_tflops):
    spec = get_device(device)
    assert spec.peak_ops_per_s["int8"] == int8_tops * 1e12
    assert spec.peak_ops_per_s["fp16"] == fp16_tflops * 1e12
    assert not spec.is_figure_derived("peak_ops_per_s", "int8")


def test_reference_memory_figures():
    cat = load_catalog()
    assert cat["t4"].dram_bw_bytes_per_s == 320e9 and cat["t4"].onchip_sram_bytes == 4 * 2**20
    assert cat["a100"].dram_bw_bytes_per_s == 2039e9 and cat["a100"].tdp_w == 400
    assert cat["h100"].dram_bw_bytes_per_s == 3.35e12 and cat["h200"].dram_bw_bytes_per_s == 4.8e12
    assert cat["l4"].onchip_sram_bytes == 48 * 2**20 and cat["l4"].tdp_w == 72
    assert cat["coral_edge_tpu"].peak_ops_per_s["int8"] == 4e12
    assert cat["hailo8"].peak_ops_per_s["int8"] == 26e12 and cat["hailo8"].tdp_w == 2.5


def test_catalog_complete_and_sourced():
    cat = load_catalog()
    assert REQUIRED_IDS <= set(cat)
    for spec in cat.values():
        assert spec.peak_ops_per_s, spec.id
        assert all(v > 0 for v in spec.peak_ops_per_s.values())
        assert spec.sources, spec.id


def test_xeon_amx_peaks_from_cores_clock_units():
    spec = get_device("xeon_8480plus")
    assert spec.peak_ops_per_s["bf16"] == pytest.approx(56 * 2.0e9 * 1024 * 2)  # 229.4 TFLOPS
    assert spec.peak_ops_per_s["int8"] == pytest.approx(56 * 2.0e9 * 2048 * 2)
    assert spec.peak_ops_per_s["fp32"] == pytest.approx(56 * 2.0e9 * 2 * 16 * 2)  # 7.17 TFLOPS
    assert spec.is_figure_derived("macs_per_clock")


GOOD = {"id": "x", "name": "X", "vendor": "V", "kind": "NPU", "peak_ops_per_s": {"int8": 1e12},
        "dram_bw_bytes_per_s": 1e9, "sources": {"peak_ops_per_s": "u", "dram_bw_bytes_per_s": "u"}}


def _write(tmp_path, text, name="x.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_catalog_file_roundtrip(tmp_path):
    path = _write(tmp_path, 'id="x"\nname="X"\nvendor="V"\nkind="NPU"\n[peak_ops_per_s]\nint8=1e12\n'
                            '[sources]\npeak_ops_per_s="u"\n')
    assert load_device_file(path).peak_ops_per_s == {"int8": 1e12}
    assert set(load_catalog(tmp_path)) == {"x"}


def test_missing_field_names_file_and_field(tmp_path):
    path = _write(tmp_path, 'id="x"\nvendor="V"\nkind="NPU"\n[peak_ops_per_s]\nint8=1e12\n[sources]\npeak_ops_per_s="u"\n')
    with pytest.raises(UserError, match=r"x\.toml: field 'name' is required"):
        load_device_file(path)


def test_negative_bandwidth_rejected(tmp_path):
    path = _write(tmp_path, 'id="x"\nname="X"\nvendor="V"\nkind="NPU"\ndram_bw_bytes_per_s=-5\n'
                            '[peak_ops_per_s]\nint8=1e12\n[sources]\npeak_ops_per_s="u"\ndram_bw_bytes_per_s="u"\n')
    with pytest.raises(UserError, match=r"x\.toml: field 'dram_bw_bytes_per_s' must be a positive number; got -5"):
        load_device_file(path)


@pytest.mark.parametrize("change,pattern", [
    ({"peak_ops_per_s": {"int3": 1e12}}, r"'peak_ops_per_s\.int3' is an unknown precision"),
    ({"peak_ops_per_s": {"int8": 0}}, r"'peak_ops_per_s\.int8' must be a positive number"),
    ({"kind": "ASIC"}, r"'kind' must be one of"),
    ({"sources": {"peak_ops_per_s": "u"}}, r"'sources\.dram_bw_bytes_per_s' is missing"),
    ({"tdp": 5}, r"'tdp' is not a catalog field"),
    ({"macs_per_clock": {"int8": 4096}, "clock_hz": 1e9}, r"must agree within 5%"),
    ({"derived": ["price_usd"]}, r"'derived' names 'price_usd'"),
])
def test_catalog_validation_errors(change, pattern):
    with pytest.raises(UserError, match=pattern):
        device_from_dict({**GOOD, **change}, origin="x.toml")


def test_bad_toml_and_id_mismatch(tmp_path):
    with pytest.raises(UserError, match=r"bad\.toml: not valid TOML"):
        load_device_file(_write(tmp_path, "id = ", "bad.toml"))
    with pytest.raises(UserError, match=r"'id' must equal the file name 'y'"):
        load_device_file(_write(tmp_path, 'id="x"\nname="X"\nvendor="V"\nkind="NPU"\n[peak_ops_per_s]\nint8=1e12\n'
                                          '[sources]\npeak_ops_per_s="u"\n', "y.toml"))


def test_unknown_device_names_known_ids():
    with pytest.raises(UserError, match=r"'nope' is not known; choose one of: host, a10, a100, .*t4"):
        get_device("nope")


def test_nvml_names_match_catalog():
    assert match_device_name("Tesla T4").id == "t4"
    assert match_device_name("NVIDIA H100 80GB HBM3").id == "h100"
    assert match_device_name("NVIDIA A100-SXM4-80GB").id == "a100"
    assert match_device_name("NVIDIA L4").id == "l4"
    assert match_device_name("NVIDIA L40S") is None  # whole words only
    assert match_device_name("NVIDIA H200").id == "h200"


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
cpu MHz\t\t: 2000.000
flags\t\t: fpu avx avx2 fma avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
cpu MHz\t\t: 2000.000
flags\t\t: fpu avx avx2 fma avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8

processor\t: 2
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 1
cpu MHz\t\t: 2000.000
flags\t\t: fpu avx avx2 fma avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8
"""


def test_host_from_cpuinfo_text(tmp_path):
    info = detect_host(CPUINFO, sys_cpu=tmp_path, meminfo="MemTotal: 1024 kB\n", with_gpus=False)
    assert (info.physical_cores, info.logical_cores) == (2, 3)
    assert info.clock_hz == 2.0e9 and "cpu MHz" in info.clock_source
    assert {"AVX-512F", "AMX-BF16", "AMX-INT8", "AVX512_VNNI"} <= set(info.isa_flags)
    peaks = {p.precision: p for p in theoretical_peaks(info)}
    assert peaks["fp32"].ops_per_s == 2 * 2.0e9 * 2 * 16 * 2  # cores x Hz x FMA units x lanes x 2
    assert peaks["bf16"].ops_per_s == 2 * 2.0e9 * 1024 * 2  # AMX
    assert peaks["int8"].ops_per_s == 2 * 2.0e9 * 2048 * 2
    assert info.memory_bytes == 1024 * 1024


def test_host_without_amx_uses_vnni_and_avx512_bf16(tmp_path):
    text = CPUINFO.replace(" amx_tile amx_bf16 amx_int8", "").replace(" avx512_fp16", "")
    peaks = {p.precision: p.ops_per_s for p in theoretical_peaks(detect_host(text, tmp_path, "", False))}
    assert peaks["bf16"] == 2 * peaks["fp32"] and peaks["int8"] == 4 * peaks["fp32"]
    assert "fp16" not in peaks


def test_this_host_detected():
    info = detect_host(with_gpus=False)
    assert info.physical_cores >= 1 and info.logical_cores >= info.physical_cores
    flags = open("/proc/cpuinfo").read()
    assert ("AVX2" in info.isa_flags) == (" avx2" in flags)
    spec = host_device_spec(info)
    assert spec.id == "host" and spec.kind == "CPU"
    if info.clock_hz:
        assert spec.peak_ops_per_s["fp32"] >= info.physical_cores * info.clock_hz * 2


def test_numpy_fp32_gemm_measured():
    from accelbench.measure.gemm_peak import measure_numpy_fp32

    m = measure_numpy_fp32(n=128, budget_s=0.05)
    assert m.ops_per_s > 0 and m.precision_executed == "fp32"
    assert m.ops_per_s == pytest.approx(2 * 128**3 / (min(m.run_times_ns) / 1e9))


def test_format_ops():
    assert fmt_ops(130e12, "int8") == "130 TOPS"
    assert fmt_ops(8.1e12, "fp32") == "8.1 TFLOPS"
    assert fmt_ops(332e9, "fp32") == "332 GFLOPS"
