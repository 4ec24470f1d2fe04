import pytest

from accelbench.errors import UserError
from accelbench.shapes import (
    MEGAPIXEL_PRESETS,
    parse_batch,
    parse_input_shapes,
    parse_resolution,
    require_multiple,
)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("224", (224, 224)),
        (224, (224, 224)),
        ("416x416", (416, 416)),
        ("1920x1088", (1920, 1088)),
        ("1mp", (1344, 768)),
        ("2MP", (1920, 1088)),
        ("4mp", (2688, 1536)),
    ],
)
def test_resolution_specs(spec, expected):
    res = parse_resolution(spec)
    assert (res.width, res.height) == expected


def test_presets_are_16_9_multiples_of_32_near_their_megapixels():
    for name, (w, h) in MEGAPIXEL_PRESETS.items():
        assert w % 32 == 0 and h % 32 == 0
        assert abs(w / h - 16 / 9) < 0.03  # 16:9 rounded to multiples of 32
        target = float(name[0]) * 1e6
        assert abs(w * h - target) / target < 0.05


@pytest.mark.parametrize("spec", ["0x0", "abc", "-224", "224x", "x224", "0", "3mp", "1.5mp", "224x-1", ""])
def test_bad_resolutions_raise_user_error_with_allowed_forms(spec):
    with pytest.raises(UserError) as info:
        parse_resolution(spec)
    message = str(info.value)
    assert message.startswith("resolution:")
    assert "1mp" in message and "\n" not in message


@pytest.mark.parametrize("value, expected", [("1", 1), (32, 32), (" 8 ", 8)])
def test_batch(value, expected):
    assert parse_batch(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_bad_batch(value):
    with pytest.raises(UserError, match="batch"):
        parse_batch(value)


def test_input_shapes():
    assert parse_input_shapes(["images=1x3x720x1280", "mask = 1x128"]) == {
        "images": (1, 3, 720, 1280),
        "mask": (1, 128),
    }
    for bad in ["images", "=1x3", "images=1x0x3", "images=axb"]:
        with pytest.raises(UserError, match="input-shape"):
            parse_input_shapes([bad])


def test_require_multiple_names_model_and_suggests_a_size():
    require_multiple(parse_resolution("416"), 32, "yolov3")
    with pytest.raises(UserError) as info:
        require_multiple(parse_resolution("417x416"), 32, "yolov3")
    assert "yolov3" in str(info.value) and "416x416" in str(info.value)
