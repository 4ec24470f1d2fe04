"""Property targets shared by tests/test_properties.py (a few hundred cases in the suite) and
benchmarks/fuzz.py (at least 10,000 per target): each target is a hypothesis strategy of hostile or
random input and a check of what accelbench must do with it.

Every check returns "accepted" or "refused" (a one-line UserError naming the field) and raises
AssertionError when a property fails; any other exception is a failure too (a crash, an internal
error where a clean refusal was due).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import onnx
from hypothesis import strategies as st

from accelbench.bounds import NUMBER_OPTIONS, parse_number
from accelbench.errors import UserError
from accelbench.models.builder import GraphBuilder
from accelbench.models.loader import load_model
from accelbench.profile import profile_model
from accelbench.shapes import MAX_RANK, MAX_SIDE, MEGAPIXEL_PRESETS, parse_input_shapes, parse_resolution
from accelbench.sweep.plan import AXES, MEASURE_KEYS, MEASURE_OPTIONS, parse_plan

def refused(exc: UserError, field: str | tuple[str, ...]) -> str:
    """The properties of every refusal: one line, naming ``field`` first (the CLI cuts a line that echoes
    a huge value to errors.one_line's limit; tests/test_bad_inputs.py checks what it prints)."""
    message = str(exc)
    assert "\n" not in message, message
    assert message.startswith(field), (field, message)
    return "refused"


# -- the shape parser ----------------------------------------------------------------------------

def _side_text():
    return st.one_of(st.integers(-5, 3 * MAX_SIDE).map(str), st.integers(0, 10**40).map(str),
                     st.sampled_from(["", "0", "00", "1e3", "nan", "inf", "-1", "+5", " 7 ", "٣"]),
                     st.text(max_size=6))


def resolution_texts():
    """Sizes as a user (or a careless script) types them."""
    return st.one_of(_side_text(), st.tuples(_side_text(), st.sampled_from(["x", "X", "*", "×", ",", "xx"]),
                                             _side_text()).map("".join),
                     st.sampled_from(sorted(MEGAPIXEL_PRESETS)), st.text(max_size=30))


def check_resolution(text: str) -> str:
    try:
        res = parse_resolution(text)
    except UserError as exc:
        return refused(exc, "resolution:")
    assert 1 <= res.width <= MAX_SIDE and 1 <= res.height <= MAX_SIDE, res
    assert res.pixels == res.width * res.height
    if text.strip().lower() not in MEGAPIXEL_PRESETS:  # WxH round-trips to the numbers typed
        sides = [int(s) for s in text.strip().lower().replace("*", "x").split("x")]
        assert (res.width, res.height) == (sides[0], sides[-1]), (text, res)
    return "accepted"


def input_shape_specs():
    dim = st.one_of(st.integers(1, 4096).map(str), _side_text())  # mostly sizes that fit, some that do not
    dims = st.lists(dim, min_size=0, max_size=MAX_RANK + 2).map("x".join)
    name = st.one_of(st.sampled_from(["input", "x", "images", " "]), st.text(max_size=8))
    separator = st.sampled_from(["="] * 4 + ["==", ":", ""])
    near_bounds = st.lists(st.integers(1, MAX_SIDE + 10).map(str), min_size=1, max_size=MAX_RANK + 1).map("x".join)
    return st.one_of(st.tuples(name, separator, dims).map("".join), st.text(max_size=40),
                     st.tuples(st.sampled_from(["input", "images", "x"]), st.just("="), near_bounds).map("".join))


def check_input_shape(spec: str) -> str:
    try:
        shapes = parse_input_shapes([spec])
    except UserError as exc:
        return refused(exc, "input-shape")
    assert len(shapes) == 1
    (name, dims), = shapes.items()
    assert name and name == name.strip()
    assert 1 <= len(dims) <= MAX_RANK and all(1 <= d <= MAX_SIDE for d in dims), dims
    return "accepted"


# -- every numeric option ------------------------------------------------------------------------

def number_cases():
    """(option, text): numbers near and far from every bound, and things that are not numbers."""
    def around(rule):
        edges = [rule.minimum, rule.maximum]
        return st.one_of(st.sampled_from(edges).map(repr), st.sampled_from(edges).map(lambda v: repr(int(v))),
                         st.floats(rule.minimum - 1, rule.maximum + 1, allow_nan=False).map(repr))

    values = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.integers(-(10**30), 10**30).map(str),
                       st.sampled_from(["inf", "-inf", "nan", "1e308", "1e-320", "0x10", "1_000", "", " ", "1,5",
                                        "9" * 400, "-0", "+3", "1e", "٣"]),
                       st.text(max_size=12))
    name = st.sampled_from(sorted(NUMBER_OPTIONS))
    return st.one_of(st.tuples(name, values),
                     name.flatmap(lambda n: st.tuples(st.just(n), around(NUMBER_OPTIONS[n]))))


def check_number(case: tuple[str, str]) -> str:
    name, text = case
    rule = NUMBER_OPTIONS[name]
    try:
        number = parse_number(name, text)
    except UserError as exc:
        return refused(exc, f"{name}:")
    assert isinstance(number, rule.kind) and not isinstance(number, bool), (name, text, number)
    assert math.isfinite(number), (name, text, number)
    assert (number > rule.minimum if rule.above else number >= rule.minimum), (name, text, number)
    assert number <= rule.maximum, (name, text, number)
    return "accepted"


# -- the ONNX loader + profiler on mutated small models ------------------------------------------

def small_model() -> onnx.ModelProto:
    """A small CNN (conv, batch norm, relu, pool, flatten, linear) built in code, random weights."""
    b = GraphBuilder("fuzz_cnn", with_weights=True, seed=0)
    x = b.input("input", [1, 3, 16, 16])
    y = b.relu(b.batch_norm(b.conv(x, 3, 8, 3, name="c1"), 8, name="bn1"), name="r1")
    y = b.max_pool(y, 2, 2, name="pool")
    y = b.relu(b.conv(y, 8, 8, 3, stride=2, name="c2"), name="r2")
    y = b.flatten(b.global_avg_pool(y))
    b.linear(y, 8, 4, name="logits")
    b.output("logits", [1, 4])
    return b.build()


# What a refused model's message may name first: the file, or the size that cannot be fixed or fit.
MODEL_FIELDS = ("model:", "input-shape", "resolution:", "batch:", "memory:")
SMALL_MODEL_BYTES = small_model().SerializeToString()
_OPS = ["Conv", "Relu", "MatMul", "Gemm", "Add", "Reshape", "Flatten", "MaxPool", "NoSuchOp", "", "If", "Loop",
        "Resize", "Concat"]
_DIMS = [0, -1, 1, 2, 3, 16, MAX_SIDE, 2**31, 2**62]


@dataclass(frozen=True)
class Mutation:
    """One change to the small model: structural (``kind`` on node/input ``index``) or to its bytes."""

    kind: str
    index: int
    value: int

    def apply(self) -> bytes:
        if self.kind in ("flip", "truncate", "insert"):
            data = bytearray(SMALL_MODEL_BYTES)
            at = self.index % len(data)
            if self.kind == "flip":
                data[at] ^= 1 + self.value % 255
            elif self.kind == "truncate":
                del data[at:]
            else:
                data[at:at] = bytes([self.value % 256]) * (1 + self.value % 7)
            return bytes(data)
        model = small_model()
        graph, nodes = model.graph, model.graph.node
        node = nodes[self.index % len(nodes)]
        if self.kind == "op":
            node.op_type = _OPS[self.value % len(_OPS)]
        elif self.kind == "drop-node":
            del nodes[self.index % len(nodes)]
        elif self.kind == "rewire" and node.input:
            node.input[self.value % len(node.input)] = nodes[self.value % len(nodes)].output[0]
        elif self.kind == "attribute" and node.attribute:
            attr = node.attribute[self.value % len(node.attribute)]
            if attr.ints:
                attr.ints[0] = _DIMS[self.value % len(_DIMS)]
            else:
                attr.i = _DIMS[self.value % len(_DIMS)]
        elif self.kind == "input-dim":
            dims = graph.input[0].type.tensor_type.shape.dim
            dims[self.index % len(dims)].dim_value = _DIMS[self.value % len(_DIMS)]
        elif self.kind == "weight-dims":
            init = graph.initializer[self.index % len(graph.initializer)]
            if init.dims:
                init.dims[self.value % len(init.dims)] = _DIMS[self.value % len(_DIMS)]
        elif self.kind == "opset":
            model.opset_import[0].version = [1, 7, 13, 99, 10**6, -1][self.value % 6]
        return model.SerializeToString()


def mutations():
    kinds = ["flip", "truncate", "insert", "op", "drop-node", "rewire", "attribute", "input-dim", "weight-dims",
             "opset"]
    return st.builds(Mutation, st.sampled_from(kinds), st.integers(0, 10**6), st.integers(0, 10**6))


def check_mutated_model(mutation: Mutation, folder: Path | None = None) -> str:
    """Load (weightless, as every static command does) and profile the mutated model: a profile with
    non-negative figures, or one-line refusal naming the model."""
    with tempfile.TemporaryDirectory(prefix="accelbench-fuzz-", dir=folder) as tmp:
        path = Path(tmp, "m.onnx")
        path.write_bytes(mutation.apply())
        try:
            loaded = load_model(str(path), with_weights=False)
            profile = profile_model(loaded, "fp32")
        except UserError as exc:
            return refused(exc, MODEL_FIELDS)
    assert profile.macs >= 0 and profile.params >= 0 and profile.peak_live_activation_bytes >= 0, mutation
    return "accepted"


# -- the sweep-plan parser ------------------------------------------------------------------------

_TOML_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),  # TOML reads inf, nan and 1e+308 as Python writes them
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["inf", "-inf", "nan", "1e308", "1e-320", "0", "-0.0", "0.999", "86400", "86400.001", "4096",
                     "4097", "true", '"2"', "[]", "[1, 2]", "{}", '"quick"', '"mlperf"', '"fast"', "1_000", "0x10"]),
    st.text(max_size=10).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'))
_AXIS_VALUES = st.one_of(_TOML_VALUES, st.sampled_from(['"resnet50"', '"mobilenet_v2"', '"224"', '"2mp"', '"fp32"',
                                                         '"int8"', '"offline"', '"cpu"', '"gpu"', '"openvino"', "1",
                                                         "65536", "65537", '"torch:x.y:z"', '"../../etc/passwd"']))


def plan_texts():
    """A valid plan with one [measure] setting or one axis changed, or random text."""
    head = '[axes]\nmodels = ["mobilenet_v2"]\n'
    measure = st.tuples(st.sampled_from(MEASURE_KEYS + ("unknown_key",)), _TOML_VALUES).map(
        lambda kv: f"{head}[measure]\n{kv[0]} = {kv[1]}\n")
    axis = st.tuples(st.sampled_from(AXES[1:]), st.lists(_AXIS_VALUES, max_size=3)).map(
        lambda kv: f"{head}{kv[0]} = [{', '.join(kv[1])}]\n")
    return st.one_of(measure, axis, st.text(max_size=80))


def check_sweep_plan(text: str) -> str:
    """A plan is refused in one line starting with "plan", or read with every [measure] number
    inside the bounds of its command-line option (bounds.NUMBER_OPTIONS)."""
    try:
        plan = parse_plan(text, base_dir=tempfile.gettempdir())
    except UserError as exc:
        return refused(exc, "plan")
    for key, option in MEASURE_OPTIONS.items():
        value = getattr(plan.measure, key)
        if value is not None:
            assert NUMBER_OPTIONS[option].admits(value), (key, value)
    return "accepted"


@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[], st.SearchStrategy]
    check: Callable
    suite_cases: int  # examples in the test suite (benchmarks/fuzz.py runs many more)


TARGETS = (
    Target("resolution parser", resolution_texts, check_resolution, 120),
    Target("input-shape parser", input_shape_specs, check_input_shape, 120),
    Target("numeric options", number_cases, check_number, 200),
    Target("onnx loader + profiler", mutations, check_mutated_model, 80),
    Target("sweep-plan parser", plan_texts, check_sweep_plan, 150),
)
