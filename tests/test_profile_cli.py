"""`accelbench profile` output formats and option errors."""

import csv
import io
import json

import pytest

from accelbench.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_json_has_the_documented_keys(capsys):
    code, out, err = run(["profile", "resnet50", "--resolution", "224", "-f", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    for key in ("model", "input_shapes", "precision", "macs", "params", "weight_bytes", "layers",
                "largest_activation_elements", "largest_activation_bytes", "peak_live_activation_bytes"):
        assert key in data
    assert data["model"] == "resnet50" and data["precision"] == "fp32"
    assert data["input_shapes"] == {"input": [1, 3, 224, 224]}
    assert data["macs"] == 4_089_184_256
    for key in ("name", "op", "macs", "params", "input_bytes", "output_bytes"):
        assert key in data["layers"][0]
    assert sum(layer["macs"] for layer in data["layers"]) == data["macs"]


def test_table_shows_layers_and_totals_and_top_limits_rows(capsys):
    code, out, _ = run(["profile", "resnet50", "-r", "2mp", "--precision", "int8"], capsys)
    assert code == 0
    assert "conv1" in out and "Conv+BN+Relu" in out and "layer4.2.conv3" in out
    assert "170.160 G (170,160,373,760)" in out
    assert "33,423,360 elements, 31.9 MiB" in out  # 1 byte per element at int8
    assert "peak live activations" in out
    code, out, _ = run(["profile", "resnet50", "-r", "2mp", "--top", "5"], capsys)
    rows = [line for line in out.splitlines() if "Conv+" in line]
    assert len(rows) == 5
    assert "showing the 5 layers with most MACs of 56" in out
    assert "170.160 G" in out  # totals still cover every layer


def test_csv_rows_and_batch(capsys):
    code, out, _ = run(["profile", "yolov3", "-r", "416", "-b", "2", "-f", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 79
    assert sum(int(r["macs"]) for r in rows) == 2 * 32_932_037_632
    assert rows[0]["output_shape"] == "2x32x416x416"


@pytest.mark.parametrize("argv, fragment", [
    (["profile", "resnet50", "--precision", "fp8"], "precision"),
    (["profile", "resnet50", "--format", "xml"], "format"),
    (["profile", "resnet50", "--top", "-3"], "top"),
    (["profile", "resnet50", "--batch", "0"], "batch"),
    (["profile", "resnet50", "--resolution", "0x0"], "resolution"),
    (["profile", "yolov3", "--resolution", "417x416"], "32"),
])
def test_bad_options_exit_2_with_one_line(capsys, argv, fragment):
    code, _, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0]
