"""Camera frames of another shape than the model input: the node says what to set."""

from __future__ import annotations

from fanet_ros.node.input_shape import stretch_advice


def test_a_wide_camera_on_a_four_by_three_input_is_told_the_size_that_keeps_its_shape():
    advice = stretch_advice((720, 1280), (384, 512), True, 32)
    assert "camera frames of 1280x720 (WxH, aspect 1.78) are stretched" in advice
    assert advice.endswith("input_height:=288 input_width:=512 keeps the camera's shape at the "
                           "same width")
    assert "input_height:=416 input_width:=512" in stretch_advice((1024, 1280), (384, 512), True,
                                                                  32)  # 5:4
    assert "input_height:=160 input_width:=256" in stretch_advice((90, 160), (192, 256), True, 32)


def test_frames_of_the_inputs_shape_or_within_five_percent_pass_and_fixed_models_are_told():
    assert stretch_advice((480, 640), (384, 512), True, 32) is None
    assert stretch_advice((360, 480), (384, 512), True, 32) is None
    assert stretch_advice((375, 480), (384, 512), True, 32) is None  # 4 % taller
    assert "re-export it with dynamic height and width" in stretch_advice(
        (720, 1280), (384, 512), False, 32)
