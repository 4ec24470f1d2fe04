"""Measured per-layer time: runtime profiler nodes mapped onto the profile's fused layers (every rule,
hand-built traces), the real profilers of ONNX Runtime, OpenVINO and torch at tiny sizes, the
record field and its store table, `bench --layers`, and the comparison with the projection."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accelbench.backends.base import BackendConfig, get_backend
from accelbench.errors import UserError
from accelbench.measure.layers import collect_layer_times, map_runtime_nodes, name_unnamed_nodes
from accelbench.measure.runner import check_layer_runs, run_config
from accelbench.models.loader import load_model
from accelbench.profile import profile_model
from accelbench.results.layers import MAPPINGS, LayerTimes, RuntimeNodeTime, RuntimeProfile
from accelbench.results.records import BenchConfig, BenchRecord
from accelbench.results.store import STORE_SCHEMA_VERSION, open_store
from cli_helpers import cli_exit_code
from test_backend_registry import numpy_backend  # noqa: F401 - a fixture

RUNS = 2
STORES = Path(__file__).parent / "data" / "stores"


def _weight(name, shape):
    return numpy_helper.from_array(np.random.default_rng(0).standard_normal(shape).astype(np.float32), name)


def small_graph(named: bool = True) -> onnx.ModelProto:
    """x -> Conv c1 -> BatchNorm bn1 -> Relu r1 -> Flatten flat (a view) -> Gemm fc -> y."""
    names = iter(["c1", "bn1", "r1", "flat", "fc"] if named else [""] * 5)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1_out"], name=next(names), pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1_out", "s", "b", "m", "v"], ["bn1_out"], name=next(names)),
        helper.make_node("Relu", ["bn1_out"], ["r1"], name=next(names)),
        helper.make_node("Flatten", ["r1"], ["flat_out"], name=next(names)),
        helper.make_node("Gemm", ["flat_out", "w2"], ["y"], name=next(names), transB=1),
    ]
    inits = [_weight("w1", (4, 3, 3, 3)), _weight("s", (4,)), _weight("b", (4,)), _weight("m", (4,)),
             numpy_helper.from_array(np.ones(4, np.float32), "v"), _weight("w2", (5, 4 * 4 * 4))]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_profile_layers_name_their_onnx_nodes_fused_nodes_then_views():
    profile = profile_model(small_graph())
    assert [(layer.name, layer.nodes) for layer in profile.layers] == [
        ("c1", ("c1", "bn1", "r1", "flat")), ("fc", ("fc",))]
    resnet = profile_model(load_model("resnet18", resolution="32", with_weights=False))
    by_name = {layer.name: layer.nodes for layer in resnet.layers}
    assert by_name["layer1.0.conv2"] == ("layer1.0.conv2", "layer1.0.bn2", "layer1.0.add", "layer1.0.relu_1")
    assert by_name["avgpool"] == ("avgpool", "flatten")


def test_unnamed_nodes_get_unique_names_and_the_graph_is_unchanged():
    bare = small_graph(named=False)
    named = name_unnamed_nodes(bare)
    assert [n.name for n in named.graph.node] == ["Conv_0", "BatchNormalization_1", "Relu_2", "Flatten_3", "Gemm_4"]
    assert [n.name for n in bare.graph.node] == [""] * 5  # the caller's graph is not touched
    assert [list(n.output) for n in named.graph.node] == [list(n.output) for n in bare.graph.node]
    already = small_graph()
    assert name_unnamed_nodes(already) is already


def test_every_rule_ties_runtime_nodes_to_layers_and_the_remainder_is_kept():
    proto = small_graph()
    profile = profile_model(proto)
    conv, fc = profile.layers
    nodes = (
        RuntimeNodeTime("x_QuantizeLinear", "QuantizeLinear", 5.0),  # tensor: the graph input -> its first reader
        RuntimeNodeTime("r1_nchwc", "Conv", 100.0),  # name with ORT's suffix
        RuntimeNodeTime("ReorderOutput", "ReorderOutput", 10.0, outputs=("r1",)),  # output tensor of the layer
        RuntimeNodeTime("Multiply_77", "Convolution", 20.0, originals=("Multiply_77", "r1")),  # OpenVINO's list
        RuntimeNodeTime("input_abcd_acdb_fc", "Reorder", 7.0),  # an OpenVINO reorder feeding fc
        RuntimeNodeTime("fc/WithoutBiases", "FullyConnected", 50.0),  # the part before "/"
        RuntimeNodeTime("bn_module", "BatchNorm2d", 4.0, folded=True),  # folded away: the layer run before
        RuntimeNodeTime("both", "Subgraph", 60.0, originals=("c1", "fc")),  # two layers: split by work
        RuntimeNodeTime("mystery", "Transpose", 3.0),  # nothing ties it: unmapped, with its time
    )
    runtime = RuntimeProfile("test profiler", 4, nodes, (1000, 1100, 900, 1000))
    times = map_runtime_nodes(profile, proto, runtime)
    work = {layer.name: layer.macs + layer.other_ops for layer in profile.layers}
    share = work["c1"] / (work["c1"] + work["fc"])
    got = {layer.name: layer for layer in times.layers}
    assert got["c1"].time_ns == pytest.approx(5 + 100 + 10 + 20 + 60 * share)
    assert got["fc"].time_ns == pytest.approx(7 + 50 + 4 + 60 * (1 - share))
    assert got["c1"].mappings == ("tensor", "name", "output", "original", "original")
    assert got["fc"].runtime_nodes == ("input_abcd_acdb_fc", "fc/WithoutBiases", "bn_module", "both")
    assert got["fc"].mappings == ("reorder", "name", "folded", "original")
    assert set(got["c1"].mappings + got["fc"].mappings) <= set(MAPPINGS)
    assert [n.name for n in times.unmapped] == ["mystery"] and times.unmapped_ns == 3.0
    assert times.mapped_ns + times.unmapped_ns == pytest.approx(sum(n.time_ns for n in nodes))
    assert times.mapped_share == pytest.approx(1 - 3 / 259)
    assert (got["c1"].family, got["fc"].family) == ("conv", "linear") and got["c1"].macs == conv.macs
    assert times.profiled_p50_ns == 1000 and times.kernel_share_of_wall == pytest.approx(0.259)
    assert times.overhead_vs(800) == pytest.approx(0.25)


def test_a_rebuilt_op_is_paired_in_order_with_the_layers_of_its_family():
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["u1"], name="up1", strides=[2, 2]),
             helper.make_node("Relu", ["u1"], ["r"], name="act"),
             helper.make_node("ConvTranspose", ["r", "w2"], ["y"], name="up2", strides=[2, 2])]
    graph = helper.make_graph(nodes, "ups", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 16, 16])],
                              [_weight("w", (2, 2, 2, 2)), _weight("w2", (2, 2, 2, 2))])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    profile = profile_model(proto)
    runtime = RuntimeProfile("p", 1, (RuntimeNodeTime("ConvolutionBackpropData_146", "ConvolutionBackpropData (jit)", 9.0),
                                      RuntimeNodeTime("ConvolutionBackpropData_159", "ConvolutionBackpropData (jit)", 8.0)),
                             (20,))
    times = map_runtime_nodes(profile, proto, runtime)
    assert [(la.name, la.time_ns, la.mappings) for la in times.layers if la.time_ns] == [
        ("up1", 9.0, ("order",)), ("up2", 8.0, ("order",))]
    assert not times.unmapped


def test_layer_times_round_trip_and_refuse_zero_runs():
    times = LayerTimes("p", 3, (), (RuntimeNodeTime("n", "Op", 2.5, originals=("a",), folded=True),), (10, 20, 30), 99)
    assert LayerTimes.from_dict(json.loads(json.dumps(times.to_dict()))) == times
    with pytest.raises(ValueError, match="runs must be positive"):
        LayerTimes("p", 0, ())


def _check_real(times: LayerTimes, profile, min_share: float) -> None:
    assert times.runs == RUNS and len(times.profiled_latency_ns) == RUNS and times.collect_wall_ns > 0
    assert [la.name for la in times.layers] == [la.name for la in profile.layers]
    assert times.mapped_share >= min_share, [(n.name, n.time_ns) for n in times.unmapped]
    mac_layers = [la for la in times.layers if la.macs]
    assert mac_layers and all(la.time_ns > 0 and la.runtime_nodes for la in mac_layers), \
        [la.name for la in mac_layers if not la.time_ns]
    assert all(n.time_ns >= 0 and n.name for n in times.unmapped)
    assert {m for la in times.layers for m in la.mappings} <= set(MAPPINGS)


@pytest.fixture(scope="module")
def resnet():
    return load_model("resnet18", resolution="32")


@pytest.mark.parametrize("backend_name", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_real_profilers_map_nearly_all_their_time(resnet, backend_name, precision):
    pytest.importorskip(backend_name)
    backend = get_backend(backend_name)(BackendConfig(precision=precision, threads=1))
    try:
        backend.load(resnet)
        inputs = backend.prepare_inputs(0)
        runtime = backend.profile_layers(inputs, RUNS)
        times = collect_layer_times(backend, resnet, inputs, runs=RUNS)
    finally:
        backend.close()
    profile = profile_model(resnet)
    _check_real(times, profile, 0.95)
    assert runtime.runs == RUNS and all(n.time_ns > 0 for n in runtime.nodes)
    mapped = map_runtime_nodes(profile, resnet.proto, runtime)  # no time lost or made up by the mapping
    assert mapped.mapped_ns + mapped.unmapped_ns == pytest.approx(sum(n.time_ns for n in runtime.nodes))
    if backend_name == "openvino":  # BatchNorm folded into a renamed convolution still lists its conv
        assert "original" in {m for la in times.layers for m in la.mappings}
        assert "openvino performance counters" in times.profiler
    else:
        assert "onnxruntime session profiling" in times.profiler


def small_net():
    """torch:test_layers:small_net (torch is imported here: it is optional)."""
    import torch as t

    class Block(t.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = t.nn.Conv2d(8, 8, 3, padding=1)
            self.bn = t.nn.BatchNorm2d(8)
            self.act = t.nn.ReLU()

        def forward(self, x):
            return self.act(self.bn(self.conv(x))) + x

    class Net(t.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = t.nn.Conv2d(3, 8, 3, padding=1)
            self.body = t.nn.Sequential(Block(), Block())
            self.head = t.nn.Linear(8, 4)

        def forward(self, x):
            return self.head(self.body(self.stem(x)).mean((2, 3)))

    return Net()


def test_torch_profiler_times_modules_and_folded_batchnorm_joins_its_conv():
    pytest.importorskip("torch")
    loaded = load_model("torch:test_layers:small_net", resolution="16")
    backend = get_backend("torch")(BackendConfig(threads=1))
    try:
        backend.load(loaded)
        times = collect_layer_times(backend, loaded, backend.prepare_inputs(0), runs=RUNS)
    finally:
        backend.close()
    profile = profile_model(loaded)
    _check_real(times, profile, 0.5)  # Sequential's own Python time is nobody's layer
    assert "torch.profiler" in times.profiler
    conv = next(la for la in times.layers if la.name.startswith("/body/body.0/conv"))
    # the block's own Add (the residual, fused into this layer), the conv, and the BatchNorm folded into it
    assert conv.runtime_nodes == ("body.0", "body.0.conv", "body.0.bn", "body.0.act")
    assert conv.mappings == ("original", "original", "folded", "original")
    # only the container's own Python time is left: Sequential has no ONNX node of its own
    assert {n.op_type for n in times.unmapped} <= {"Sequential"}


def test_backends_without_a_profiler_and_bad_run_counts_are_refused(numpy_backend):  # noqa: F811
    config = BenchConfig(model="resnet18", resolution="32", backend="numpy_test")
    with pytest.raises(UserError, match="numpy_test backend has no per-layer profiler; use one of: .*onnxruntime"):
        check_layer_runs(config, 5)
    with pytest.raises(UserError, match="layer-runs: must be a positive whole number"):
        check_layer_runs(BenchConfig(model="resnet18"), 0)
    check_layer_runs(config, None)  # not asked: nothing to check


def test_a_record_keeps_timed_latencies_and_its_layer_times_in_their_own_table(tmp_path):
    config = BenchConfig(model="resnet18", resolution="32", time_limit_s=0.3, threads=1)
    record = run_config(config, run_id="layers", isolate=False, layer_runs=RUNS)
    plain = run_config(config, run_id="layers", isolate=False)
    assert record.ok and record.layer_times is not None and plain.layer_times is None
    assert record.layer_times.runs == RUNS and len(record.latency_ns) >= 3  # the timed runs, not the profiled ones
    assert record.layer_profiling_overhead == pytest.approx(record.layer_times.profiled_p50_ns / record.stats.p50_ns - 1)
    assert "separate pass" in record.provenance["layer_times"]
    data = record.to_dict()
    assert data["layer_times"]["runs"] == RUNS and BenchRecord.from_dict(data).layer_times == record.layer_times
    db = tmp_path / "layers.db"
    with open_store(db) as store:
        store.save(record)
        store.save(plain)
    con = sqlite3.connect(db)
    assert con.execute("SELECT record_id FROM layer_times").fetchall() == [(record.record_id,)]
    assert "layer_times" not in json.loads(con.execute("SELECT record_json FROM records WHERE record_id = ?",
                                                       (record.record_id,)).fetchone()[0])
    con.close()
    with open_store(db, read_only=True) as store:
        back = {r.record_id: r for r in store.query()}
    assert back[record.record_id].layer_times == record.layer_times and back[plain.record_id].layer_times is None


def test_a_reader_of_a_store_from_before_layer_times_reads_its_records(tmp_path):
    db = tmp_path / "v2.db"
    shutil.copyfile(STORES / "accelbench-v2.db", db)  # written by the version-2 code: no layer_times table
    with open_store(db, read_only=True) as store:
        old = store.query()
    assert [r.run_id for r in old] == ["20261202T071100Z-81ce31", "20261202T071108Z-5ed0d8"]
    assert all(r.layer_times is None for r in old)
    record = run_config(BenchConfig(model="resnet18", resolution="32", time_limit_s=0.2, threads=1), run_id="new",
                        isolate=False, layer_runs=RUNS)
    with open_store(db) as store:  # a writer migrates it, and the new record keeps its layer times
        store.save(record)
    with open_store(db, read_only=True) as store:
        back = {r.record_id: r for r in store.query()}
    assert back[record.record_id].layer_times == record.layer_times
    assert [back[r.record_id].layer_times for r in old] == [None, None]
    assert sqlite3.connect(db).execute("SELECT MAX(version) FROM store_migrations").fetchone() == (STORE_SCHEMA_VERSION,)


def test_bench_layers_cli(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    argv = ["bench", "resnet18", "-r", "32", "--time-limit", "0.3", "--threads", "1", "--no-isolation", "--db", db]
    assert cli_exit_code([*argv, "--layers", "--layer-runs", "2", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layer_times"]["runs"] == 2 and doc["layer_times"]["mapped_share"] > 0.95
    assert doc["layer_profiling_overhead"] is not None
    assert cli_exit_code([*argv, "--layers", "--layer-runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "per-layer times: onnxruntime session profiling" in out and "Slowest 15 layers" in out
    assert "projected / measured" in out
    assert cli_exit_code([*argv, "--layer-runs", "3"]) == 2
    assert "layer-runs: only with --layers" in capsys.readouterr().err


def test_layer_measurement_against_the_projection(tmp_path):
    from accelbench.projection.layer_errors import layer_measurement, record_profile, slowest_measured_layers

    record = run_config(BenchConfig(model="resnet18", resolution="32", time_limit_s=0.2, threads=1), run_id="m",
                        isolate=False, layer_runs=RUNS)
    profile = record_profile(record)
    measurement = layer_measurement(record, profile)
    measured = [la for la in record.layer_times.layers if la.time_ns > 0]
    assert len(measurement.points) == len(measured)
    assert sum(k.layers for k in measurement.kinds) == len(measured)
    assert sum(k.measured_s for k in measurement.kinds) == pytest.approx(record.layer_times.mapped_ns / 1e9)
    assert [k.kind for k in measurement.kinds][0] == "conv" and {k.kind for k in measurement.kinds} >= {"conv", "linear"}
    conv = measurement.kinds[0]
    assert conv.error == pytest.approx(conv.projected_s / conv.measured_s - 1)
    rows = slowest_measured_layers(record, profile, 5)
    assert len(rows) == 5 and rows[0].time_s >= rows[-1].time_s and all(r.projected_s > 0 for r in rows)
    assert all(r.time_source == "measured" and r.bound for r in rows)
    other = profile_model(load_model("resnet18", resolution="32", batch=1, with_weights=False).proto)
    cut = other.__class__(**{**other.__dict__, "layers": other.layers[:3]})
    with pytest.raises(UserError, match="is not the model that was measured"):
        layer_measurement(record, cut)
