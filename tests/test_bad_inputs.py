"""Issue 10: every command that takes a file or a number, fed the bad-input corpus
(tests/data/make_bad_corpus.py -> tests/data/bad/) and out-of-range numbers, ends cleanly: the exit
code expected, at most one `error:` line (and `warning:` lines) on stderr, no traceback, no internal
error, and no read-only command changes the file it was given."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import click
import pytest

from accelbench import cli
from accelbench.cli.common import NUMBER_OPTIONS
from accelbench.errors import AccelbenchWarning
from cli_helpers import cli_exit_code

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_bad_corpus as corpus  # noqa: E402

BAD = Path(__file__).parent / "data" / "bad"
ONNX_FILES = sorted(corpus.BAD_ONNX)
DB_FILES = sorted(corpus.BAD_DB)
# Valid models (they profile) among the bad files; huge_dims cannot run, and is not a zoo-like size.
PROFILES = {"future_opset.onnx", "names_a_module.onnx", "unknown_op.onnx", "huge_dims.onnx"}
STATIC_COMMANDS = {"profile": ["profile"], "project": ["project", "-d", "t4"], "rank": ["rank"],
                   "closest": ["models", "closest"]}


def ended_cleanly(code: int, err: str, expected: int) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected, err
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == (0 if code == 0 else 1), err
    assert all(line.startswith(("error:", "warning:")) for line in lines), err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_committed_corpus_is_what_the_script_writes(tmp_path):
    corpus.build(tmp_path)
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(str(p.relative_to(BAD)) for p in BAD.rglob("*") if p.is_file())
    assert made == committed
    for name, data in corpus.onnx_files().items():  # the models are byte for byte the same
        assert (BAD / "onnx" / name).read_bytes() == data, name
    assert set(ONNX_FILES) == {p.name for p in (BAD / "onnx").iterdir()}
    assert set(DB_FILES) == {p.name for p in (BAD / "db").iterdir()}


@pytest.mark.parametrize("command", sorted(STATIC_COMMANDS))
@pytest.mark.parametrize("name", ONNX_FILES)
def test_static_commands_on_bad_models(name, command, capsys):
    path = BAD / "onnx" / name
    before = _digest(path)
    expected = 0 if name in PROFILES and not (command == "closest" and name == "huge_dims.onnx") else 2
    code = cli_exit_code([*STATIC_COMMANDS[command], str(path)])
    ended_cleanly(code, capsys.readouterr().err, expected)
    assert _digest(path) == before


@pytest.mark.parametrize("name", [n for n in ONNX_FILES if n != "names_a_module.onnx"])
def test_bench_refuses_bad_models_before_measuring(name, capsys, tmp_path):
    code = cli_exit_code(["bench", str(BAD / "onnx" / name), "--time-limit", "0.2", "--db", str(tmp_path / "r.db")])
    ended_cleanly(code, capsys.readouterr().err, 2)


@pytest.mark.parametrize("name", [n for n in ONNX_FILES if n not in PROFILES - {"huge_dims.onnx"}])
def test_run_refuses_bad_models_before_stage_1(name, capsys, tmp_path):
    code = cli_exit_code(["run", "--model", str(BAD / "onnx" / name), "--no-report", "--db", str(tmp_path / "r.db")])
    ended_cleanly(code, capsys.readouterr().err, 2)
    assert not (tmp_path / "r.db").exists()  # refused before anything was stored


def test_external_data_through_links_is_outside_the_model_folder(tmp_path, capsys):
    for name, path in corpus.build_linked(tmp_path).items():
        for argv in (["profile", str(path)], ["bench", str(path), "--no-save"]):
            code = cli_exit_code(argv)
            err = capsys.readouterr().err
            ended_cleanly(code, err, 2)
            assert "external data outside the model folder" in err, (name, err)


READ_COMMANDS = {
    "results": ["results"],
    "results-json": ["results", "-f", "json"],
    "report": ["report", "-o", "{tmp}/r.html"],
    "compare": ["compare", "aaaa", "bbbb"],
    "calibrate": ["calibrate", "--dry-run"],
    "project": ["project", "resnet50", "-r", "32", "-d", "host"],
}
# bad_rows.db: what each command does with the good record once the bad rows are skipped
BAD_ROWS_EXIT = {"results": 0, "results-json": 0, "report": 0, "compare": 2, "calibrate": 2, "project": 0}


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
@pytest.mark.parametrize("name", DB_FILES)
def test_read_commands_on_bad_stores(name, command, tmp_path, capsys):
    path = tmp_path / name
    shutil.copyfile(BAD / "db" / name, path)
    before = _digest(path)
    argv = [a.format(tmp=tmp_path) for a in READ_COMMANDS[command]] + ["--db", str(path)]
    code = cli_exit_code(argv)
    captured = capsys.readouterr()
    expected = BAD_ROWS_EXIT[command] if name == "bad_rows.db" else 2
    ended_cleanly(code, captured.err, expected)
    assert _digest(path) == before, "a read-only command changed the file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({name} | ({"r.html"} if code == 0 and command == "report"
                                                                         else set())), "a journal or file was left"
    if name == "bad_rows.db" and command in ("results", "results-json", "project"):
        assert all(rid in captured.err for rid in corpus.BAD_ROWS), captured.err  # the skipped rows are named
        assert "missing field 'config'" in captured.err and "samples blob of 5 bytes" in captured.err, captured.err
    if name == "bad_rows.db" and command == "results-json":
        shown = [r["record_id"] for r in json.loads(captured.out)]
        assert shown == [corpus.GOOD_RECORD_ID, corpus.LAYERS_BAD_ID]  # the rest is shown


def test_bad_rows_store_still_takes_new_records(tmp_path, capsys):
    """A writer appends to a store with bad rows; the rows stay as they were (nothing is repaired behind the
    user's back)."""
    from accelbench.results.store import open_store

    path = tmp_path / "bad_rows.db"
    shutil.copyfile(BAD / "db" / "bad_rows.db", path)
    with open_store(str(path)) as store:
        store.save(corpus._good_record("c0" * 16))
    with open_store(str(path), read_only=True) as store:
        with pytest.warns(AccelbenchWarning) as caught:
            ids = [r.record_id for r in store.query()]
        messages = " | ".join(str(w.message) for w in caught)
        assert "skipped 5 unreadable record(s)" in messages and "per-layer times of 1 record(s)" in messages
        assert store.count() == 8 and ids[-1] == "c0" * 16 and len(ids) == 3


@pytest.mark.parametrize("name", sorted(corpus.BAD_CACHE))
def test_a_corrupt_measured_peaks_cache_is_absent_with_a_warning(name, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(BAD / "cache" / name, cache / "measured_peaks.json")
    monkeypatch.setenv("ACCELBENCH_CACHE_DIR", str(cache))
    code = cli_exit_code(["tops", "host", "--size", "64", "--budget", "0.05", "-f", "json"])
    captured = capsys.readouterr()
    ended_cleanly(code, captured.err, 0)
    assert json.loads(captured.out)
    assert isinstance(json.loads((cache / "measured_peaks.json").read_text()), dict)  # written anew, whole
    if name != "measured_peaks_types.json":  # the wrong-typed entries are of other hosts: nothing to say
        assert "remembered measured peaks are unreadable" in captured.err


@pytest.mark.slow
def test_bench_with_a_corrupt_cache_measures_and_warns(tmp_path, monkeypatch, capsys):
    """The worker's warning reaches the user (measure/isolation.py forwards it)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "measured_peaks.json").write_text("[]")
    monkeypatch.setenv("ACCELBENCH_CACHE_DIR", str(cache))
    code = cli_exit_code(["bench", "mobilenet_v2", "-r", "32", "--time-limit", "0.2", "--no-save"])
    err = capsys.readouterr().err
    ended_cleanly(code, err, 0)
    assert "warning:" in err and "treated as absent" in err


# -- numbers --------------------------------------------------------------------------------------

BAD_NUMBERS = ["inf", "-inf", "nan", "1e308", "-1e308", "-1", "1e999", "abc", "9" * 400, "", "0x10", "1e-400"]
BASE_ARGV = {
    "bench": ["bench", "resnet50"], "profile": ["profile", "resnet50"], "project": ["project", "resnet50"],
    "rank": ["rank", "resnet50"], "run": ["run"], "tops": ["tops", "host", "--no-measure"],
    "models save": ["models", "save", "resnet50", "-o", "{tmp}/m.onnx"], "models closest": ["models", "closest", "resnet50"],
    "worker": ["worker", "--head", "--dry-run"],  # --dry-run: a number inside its range would start nothing
}


def _numeric_options() -> list[tuple[str, str]]:
    ctx = click.Context(cli.app)
    pairs = []
    for name in cli.COMMANDS:
        command = cli.app.get_command(ctx, name)
        subs = [(name, command)] + [(f"{name} {k}", v) for k, v in getattr(command, "commands", {}).items()]
        for label, sub in subs:
            pairs += [(label, p.opts[0]) for p in sub.params
                      if isinstance(p, click.Option) and p.opts[0][2:] in NUMBER_OPTIONS]
    return sorted(set(pairs))


NUMERIC = _numeric_options()


def test_every_numeric_option_is_covered():
    assert {option[2:] for _, option in NUMERIC} == set(NUMBER_OPTIONS)
    assert {command for command, _ in NUMERIC} <= set(BASE_ARGV)


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=lambda v: v[:12] or "empty")
@pytest.mark.parametrize("command, option", NUMERIC, ids=lambda v: v)
def test_numbers_outside_their_range_are_one_error_line(command, option, value, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in BASE_ARGV[command]] + [option, value]
    code = cli_exit_code(argv)
    err = capsys.readouterr().err
    ended_cleanly(code, err, 2)
    assert err.startswith(f"error: {option[2:]}:"), err
    assert len(err) < 600  # one line of reasonable length, even for a 400-digit value


@pytest.mark.parametrize("command", sorted(STATIC_COMMANDS))
def test_markup_in_a_model_name_prints_as_text(command, tmp_path, capsys):
    """rich reads [red] and [link=...] as markup: names from the user print as they are."""
    name = "m[red]x[link=https:evil.example]y"
    path = tmp_path / f"{name}.onnx"
    shutil.copyfile(BAD / "onnx" / "names_a_module.onnx", path)
    code = cli_exit_code([*STATIC_COMMANDS[command], str(path)])
    captured = capsys.readouterr()
    ended_cleanly(code, captured.err, 0)
    assert name in captured.out.replace("\n", ""), captured.out
