"""Issue 10, class 6: markup in user strings never becomes markup in the report. A real four-stage run
(ACCELBENCH_TINY=1) of a model whose file, folder, node and input names are HTML, with a store and a
report whose file names are too; the report opened in headless Chromium, whose rendered DOM
(plotly's SVG included) must hold the names as text and none of them as an element."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from test_report_html import CHROMIUM, _chromium

NODE_LINK = '<a href="https://evil.example/">x</a>'
NODE_BOLD = "<b>bold</b>"
NODE_SPAN = '<span style="color:#00ff00;font-size:77px">big</span>'
INPUT_IMG = '<img src=x onerror="document.title=1">'
FILE_SVG = "<svg onload=alert(1)>"  # a file name cannot hold "/": no closing tags here
FOLDER = "<i>dir"
# What each name would become as markup: an element of its own, or what plotly makes of the few tags it
# renders in chart text (<a href> -> an SVG link with xlink:href, <b> -> a bold tspan, <span style> -> a
# styled tspan). Escaped text never matches: it holds no "<" right before these.
INJECTED = (r'<[^<>]*href="https://evil\.example/', r"font-weight:bold[^<>]*>bold", r"<b>bold",
            r"<[^<>]*color:#00ff00", r"<svg onload", r"<img src=x", r"<i>dir", r"<u>", r"<x>")


def hostile_model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "W1")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 16, 3, 3)).astype(np.float32), "W2")
    graph = helper.make_graph(
        [helper.make_node("Conv", [INPUT_IMG, "W1"], ["a"], name=NODE_LINK, pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["a"], ["b"], name=NODE_SPAN),
         helper.make_node("Conv", ["b", "W2"], ["y"], name=NODE_BOLD, pads=[1, 1, 1, 1])],
        "hostile", [helper.make_tensor_value_info(INPUT_IMG, TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 32, 32])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium (Debian's chromium package); "
                    ".ci/run installs it")
def test_hostile_names_stay_text_in_the_rendered_report(tmp_path):
    folder = tmp_path / FOLDER
    folder.mkdir()
    hostile_model(folder / f"{FILE_SVG}.onnx")
    env = {**os.environ, "ACCELBENCH_TINY": "1"}
    run = subprocess.run([sys.executable, "-m", "accelbench", "run", "--model", f"{FILE_SVG}.onnx", "--precision",
                          "fp32", "--db", "r<x>.db", "--report", "rep<u>.html", "--quiet"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    page = (folder / "rep<u>.html").read_text()
    for name in (FILE_SVG, NODE_LINK):
        assert name not in page
    dump = _chromium(["--dump-dom", (folder / "rep<u>.html").resolve().as_uri()], tmp_path)
    dom = dump.stdout
    assert 'data-ready="1"' in dom and 'data-errors="0"' in dom, dump.stderr[-2000:]
    expected = re.search(r'data-charts-expected="(\d+)"', dom).group(1)
    assert re.search(r'data-charts-rendered="(\d+)"', dom).group(1) == expected
    # No hostile string became an element or an attribute anywhere in the rendered page.
    found = [pattern for pattern in INJECTED if re.search(pattern, dom)]
    assert not found, found
    assert "<title>accelbench report" in dom  # the onerror handler never ran (it would set the title)
    # ... and they are there as text: the model's name (from its file), the nodes in the layer views.
    assert "&lt;svg onload=alert(1)&gt;" in dom
    assert "&lt;a href=" in dom and "&lt;b&gt;bold&lt;/b&gt;" in dom
