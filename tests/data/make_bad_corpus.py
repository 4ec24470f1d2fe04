"""Writes the bad-input corpus under tests/data/bad/ (`.venv/bin/python tests/data/make_bad_corpus.py`):
files a stranger or a careless user might hand accelbench, each of which must end cleanly (one
`error:` line and exit 2, or a `warning:` line and the rest shown), never with a traceback, a hang
or a write to the file. tests/test_bad_inputs.py feeds every command that takes a file to each of
them; BAD_FILES below says what each one is and how each command must end. The files are
committed (small, deterministic); ``build(folder)`` writes them anywhere, and
``build_linked(folder)`` the cases that need symlinks and hard links (made at test time, in a temp
folder: absolute paths and links do not travel in git).

onnx/   ONNX files: empty, text, random bytes, cut in half, no nodes, failing the checker (an
        undefined input, a cycle), an opset from the future, an unknown op, dims of 0, dims too
        large to run (1x3x100000x100000), a weight whose bytes do not match its shape, metadata naming
        a Python module, external data at '../', at an absolute path.
db/     results stores: empty, text, another application's SQLite file, a store schema from the
        future, a non-numeric schema version, a store missing its records table, a file cut in
        half, and a valid store holding one good record beside bad rows (invalid JSON, a missing
        field, a 5-byte samples blob, a negative sample, a record schema from the future, unreadable
        per-layer times) and an unreadable run summary.
cache/  ~/.cache/accelbench/measured_peaks.json variants: a JSON list, text, entries of the wrong type.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"
GOOD_RECORD_ID = "a0" * 16
RUN_ID = "20260101T000000Z-bad000"

# name -> (what it is, {command: expected exit code}); commands: profile, bench, project, closest.
# bench is refused before anything runs (exit 2) except where the file is a valid model (0).
BAD_ONNX = {
    "empty.onnx": ("0 bytes", 2),
    "text.onnx": ("a text file", 2),
    "random.onnx": ("4 KiB of random bytes", 2),
    "truncated.onnx": ("a valid model cut in half", 2),
    "no_nodes.onnx": ("a valid ModelProto whose graph has no nodes", 2),
    "undefined_input.onnx": ("a node reading a tensor nothing produces (fails the checker)", 2),
    "cycle.onnx": ("two nodes reading each other's outputs (fails the checker)", 2),
    "future_opset.onnx": ("default-domain opset 99", 2),
    "unknown_op.onnx": ("an op of an unknown domain", 2),
    "zero_dim.onnx": ("an input with a dim of 0", 2),
    "huge_dims.onnx": ("an input of 1x3x100000x100000: profiles, but cannot fit in memory", 2),
    "short_weight.onnx": ("a weight whose raw bytes are shorter than its shape says", 2),
    "names_a_module.onnx": ("a valid model whose metadata names a Python module (accelbench.torch_spec)", 0),
    "external_dotdot.onnx": ("external data at ../secret.bin", 2),
    "external_absolute.onnx": ("external data at /etc/passwd", 2),
}
BAD_DB = {
    "empty.db": "0 bytes",
    "text.db": "a text file",
    "foreign.db": "another application's SQLite file (a users table)",
    "future_schema.db": "an accelbench store of schema 99",
    "nonnumeric_schema.db": "a store whose schema version is 'three'",
    "missing_records.db": "a store without its records table",
    "truncated.db": "a valid store cut in half",
    "bad_rows.db": "one good record and six bad rows, an unreadable run summary",
}
BAD_ROWS = {  # record id -> what is wrong with it (in bad_rows.db)
    "b1" * 16: "record JSON that does not parse",
    "b2" * 16: "record JSON without its config",
    "b3" * 16: "a 5-byte samples blob",
    "b4" * 16: "a negative sample",
    "b5" * 16: "record schema 99",
}
LAYERS_BAD_ID = "b6" * 16  # a good record whose per-layer times do not parse: it is shown without them
BAD_CACHE = {
    "measured_peaks_list.json": "[]",
    "measured_peaks_text.json": "not json at all",
    "measured_peaks_types.json": json.dumps({"some host": "a string, not a table", "other": {"fp32": [1, 2]}}),
}


def tiny_model(opset: int = 17, side: int = 8) -> onnx.ModelProto:
    """Conv 3->4 (3x3) + Relu on 1x3xSIDExSIDE, weights seed 0."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"], name="relu")],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, side, side])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="bad-corpus")
    model.ir_version = 8
    return model


def _with_input_dims(dims) -> onnx.ModelProto:
    model = tiny_model()
    shape = model.graph.input[0].type.tensor_type.shape
    for dim, value in zip(shape.dim, dims):
        dim.dim_value = value
    del model.graph.output[0].type.tensor_type.shape.dim[:]
    return model


def _external(location: str) -> onnx.ModelProto:
    model = tiny_model()
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    del weight.float_data[:]
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(4 * 3 * 3 * 3 * 4))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    return model


def onnx_files() -> dict[str, bytes]:
    good = tiny_model().SerializeToString()
    files = {
        "empty.onnx": b"",
        "text.onnx": b"This is not a model.\nIt is a note someone saved as .onnx.\n",
        "random.onnx": np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.onnx": good[: len(good) // 2],
    }
    no_nodes = tiny_model()
    del no_nodes.graph.node[:]
    files["no_nodes.onnx"] = no_nodes.SerializeToString()
    undefined = tiny_model()
    undefined.graph.node[1].input[0] = "nothing_makes_this"
    files["undefined_input.onnx"] = undefined.SerializeToString()
    cycle = tiny_model()
    cycle.graph.node[0].input[0] = "y"  # conv reads relu's output, relu reads conv's
    files["cycle.onnx"] = cycle.SerializeToString()
    files["future_opset.onnx"] = tiny_model(opset=99).SerializeToString()
    unknown = tiny_model()
    unknown.graph.node[1].op_type, unknown.graph.node[1].domain = "Frobnicate", "com.example.nowhere"
    unknown.opset_import.append(helper.make_opsetid("com.example.nowhere", 1))
    files["unknown_op.onnx"] = unknown.SerializeToString()
    files["zero_dim.onnx"] = _with_input_dims([1, 3, 0, 8]).SerializeToString()
    files["huge_dims.onnx"] = _with_input_dims([1, 3, 100000, 100000]).SerializeToString()
    short = tiny_model()
    short.graph.initializer[0].raw_data = short.graph.initializer[0].raw_data[:20]
    files["short_weight.onnx"] = short.SerializeToString()
    named = tiny_model()
    entry = named.metadata_props.add()
    entry.key, entry.value = "accelbench.torch_spec", "torch:planted_module:build"
    files["names_a_module.onnx"] = named.SerializeToString()
    files["external_dotdot.onnx"] = _external("../secret.bin").SerializeToString()
    files["external_absolute.onnx"] = _external("/etc/passwd").SerializeToString()
    return files


def _good_record(record_id: str):
    from accelbench.results.records import BenchConfig, BenchRecord

    return BenchRecord(config=BenchConfig(model="resnet50", resolution="32"), run_id=RUN_ID, record_id=record_id,
                       timestamp="2026-01-01T00:00:00+00:00", latency_ns=(1_000_000, 1_100_000, 1_050_000))


def _store(path: Path, records=()) -> None:
    from accelbench.results.store import open_store

    with open_store(str(path)) as store:
        for record in records:
            store.save(record)


def db_files(folder: Path) -> None:
    for name in BAD_DB:  # written afresh: SQLite would add to a store left by an earlier build
        (folder / name).unlink(missing_ok=True)
    (folder / "empty.db").write_bytes(b"")
    (folder / "text.db").write_text("SQLite format 3? no: a text file with a .db name.\n" * 4)
    con = sqlite3.connect(folder / "foreign.db")
    with con:
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.close()
    for name, version in (("future_schema.db", "99"), ("nonnumeric_schema.db", "three")):
        _store(folder / name, [_good_record(GOOD_RECORD_ID)])
        con = sqlite3.connect(folder / name)
        with con:
            con.execute("UPDATE meta SET value = ? WHERE key = 'store_schema_version'", (version,))
        con.close()
    _store(folder / "missing_records.db")
    con = sqlite3.connect(folder / "missing_records.db")
    with con:
        con.execute("DROP TABLE layer_times")
        con.execute("DROP TABLE samples")
        con.execute("DROP TABLE records")
    con.close()
    _bad_rows(folder / "bad_rows.db")
    whole = (folder / "bad_rows.db").read_bytes()
    (folder / "truncated.db").write_bytes(whole[: len(whole) // 2])
    for name in BAD_DB:
        for leftover in folder.glob(f"{name}-*"):  # journals of the writes above
            leftover.unlink()


def _bad_rows(path: Path) -> None:
    from accelbench.results.summary import RunSummary, StageSummary
    from accelbench.results.store import open_store

    records = [_good_record(GOOD_RECORD_ID), *(_good_record(rid) for rid in BAD_ROWS), _good_record(LAYERS_BAD_ID)]
    _store(path, records)
    with open_store(str(path)) as store:
        store.save_summary(RunSummary(run_id=RUN_ID, created="2026-01-01T00:00:01+00:00", command="accelbench run",
                                      objective="latency", stages=(StageSummary(1, "Peak TOPS", "a lesson"),)))
    ids = list(BAD_ROWS)
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE records SET record_json = '{\"config\": {' WHERE record_id = ?", (ids[0],))
        row = con.execute("SELECT record_json FROM records WHERE record_id = ?", (ids[1],)).fetchone()
        data = json.loads(row[0])
        data.pop("config")
        con.execute("UPDATE records SET record_json = ? WHERE record_id = ?", (json.dumps(data), ids[1]))
        con.execute("UPDATE samples SET latency_ns = ? WHERE record_id = ?", (b"\x01\x02\x03\x04\x05", ids[2]))
        con.execute("UPDATE samples SET latency_ns = ? WHERE record_id = ?",
                    (np.array([1000, -5, 2000], dtype="<i8").tobytes(), ids[3]))
        con.execute("UPDATE records SET record_schema_version = 99 WHERE record_id = ?", (ids[4],))
        con.execute("INSERT INTO layer_times (record_id, layer_times_json) VALUES (?, 'not json')", (LAYERS_BAD_ID,))
        con.execute("UPDATE run_summaries SET summary_json = '[1, 2' WHERE run_id = ?", (RUN_ID,))
    con.execute("VACUUM")
    con.close()


def build(folder: Path = BAD) -> None:
    """Write the corpus into ``folder`` (onnx/, db/, cache/)."""
    for sub in ("onnx", "db", "cache"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, data in onnx_files().items():
        (folder / "onnx" / name).write_bytes(data)
    (folder / "secret.bin").write_bytes(b"a secret outside the model folder\n" * 4)
    db_files(folder / "db")
    for name, text in BAD_CACHE.items():
        (folder / "cache" / name).write_text(text)


def build_linked(folder: Path) -> dict[str, Path]:
    """Models whose external data is reached through a symlinked file, a symlinked folder and a hard
    link to a file outside ``folder``/models; returns name -> model path."""
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    secret = folder / "secret.bin"
    secret.write_bytes(np.zeros(4 * 3 * 3 * 3, dtype=np.float32).tobytes())
    made = {}
    for name, location, link in (("symlink_file", "weights.bin", "file"), ("symlink_folder", "sub/secret.bin", "dir"),
                                 ("hard_link", "hard.bin", "hard")):
        sub = models / name
        sub.mkdir(exist_ok=True)
        if link == "file":
            os.symlink(secret, sub / location)
        elif link == "dir":
            os.symlink(folder, sub / "sub")
        else:
            os.link(secret, sub / location)
        path = sub / "model.onnx"
        path.write_bytes(_external(location).SerializeToString())
        made[name] = path
    return made


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    build(BAD)
    print(f"wrote {sum(1 for _ in BAD.rglob('*') if _.is_file())} files under {BAD}")
