"""Honest INT8 deviation (issue 13, point 6): with random weights or random inputs, a classifier's
top-1 agreement is noise ("0.0" beside cosine 0.9998 before); the deviation records where weights
and inputs came from (weights_source / inputs_source: "random" | "user"), says top1_meaningful,
and every display labels it when it is not."""

import json

import numpy as np
import pytest

from accelbench.cli import main
from accelbench.models.loader import load_model
from accelbench.precision.deviation import NumericDeviation, numeric_deviation
from accelbench.report.tables import Cell, precision_table, top1_note


def test_top1_is_meaningful_only_on_the_users_weights_and_inputs():
    ref = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    noisy = ref + np.array([[0.0, 0.15, 0.0], [0.0, 0.0, 0.0]])
    random = numeric_deviation(ref, noisy, "image-classification")
    assert (random.weights_source, random.inputs_source) == ("random", "random")
    assert random.top1_agreement == 0.5 and not random.top1_meaningful
    user = numeric_deviation(ref, noisy, "image-classification", weights_source="user", inputs_source="user")
    assert user.top1_meaningful
    assert not numeric_deviation(ref, noisy, "image-classification", weights_source="user").top1_meaningful
    data = random.to_dict()
    assert data["top1_meaningful"] is False and NumericDeviation.from_dict(data) == random
    assert top1_note(data) == "not meaningful: random weights and inputs"
    assert top1_note(user.to_dict()) == ""
    assert top1_note(numeric_deviation(ref, noisy, "image-classification", weights_source="user").to_dict()) == \
        "not meaningful: random inputs"
    # records written before these fields existed had random inputs too
    assert top1_note({"top1_agreement": 0.0}) == "not meaningful: random weights and inputs"
    with pytest.raises(Exception, match="inputs_source"):
        numeric_deviation(ref, noisy, inputs_source="dataset")


def test_where_the_weights_came_from(tmp_path):
    from accelbench.measure.runner import weights_source
    from test_shapes_user_exports import static_cnn

    assert weights_source(load_model("resnet50", resolution="32", with_weights=False)) == "random"
    saved = tmp_path / "saved.onnx"
    assert main_code(["models", "save", "resnet18", "-r", "32", "-o", str(saved)]) == 0
    assert weights_source(load_model(str(saved), with_weights=False)) == "random"  # accelbench wrote it
    assert weights_source(load_model(static_cnn(tmp_path / "mine.onnx"), with_weights=False)) == "user"


def main_code(argv) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_int8_bench_labels_top1_agreement_on_random_data(capsys):
    pytest.importorskip("onnxruntime")
    argv = ["bench", "resnet50", "-r", "32", "-p", "int8", "--no-save", "--no-isolation", "--time-limit", "0.2",
            "--threads", "1"]
    assert main_code([*argv, "-f", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    dev = record["deviation"]
    assert dev["weights_source"] == "random" and dev["inputs_source"] == "random"
    assert dev["top1_agreement"] is not None and dev["top1_meaningful"] is False
    assert main_code(argv) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("deviation vs fp32"))
    assert line.endswith("(not meaningful: random weights and inputs)")


def test_the_reports_precision_table_labels_it_too():
    from test_report_data import make_record

    deviation = numeric_deviation(np.ones((1, 10)), np.ones((1, 10)), "image-classification").to_dict()
    fp32 = make_record("resnet50", "224", 50176, 4 * 10**9, 0.030, run_id="r")
    int8 = make_record("resnet50", "224", 50176, 4 * 10**9, 0.012, precision="int8", run_id="r", deviation=deviation)
    table = precision_table({"resnet50": [fp32, int8]})
    top1 = [row[-1] for row in table.rows if row[1].text == "int8"][0]
    assert isinstance(top1, Cell) and "not meaningful: random weights and inputs" in top1.text
    assert top1.badge is None and top1.style == "warn"
