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
    # no multiple of 32 at width 256 is within 5 % of 16:9 (160 is 10 % off): the advice
    # named it anyway, and the node then warned again with the advice's own size
    assert stretch_advice((90, 160), (192, 256), True, 32).endswith(
        "input_height:=160 input_width:=288 keeps the camera's shape at about the same pixel "
        "count")
    assert "input_height:=320 input_width:=576" in stretch_advice((720, 1280), (352, 480), True,
                                                                  32)
    assert "input_height:=96 input_width:=128" in stretch_advice((120, 160), (64, 96), True, 32)


def test_every_size_advised_passes_the_check_it_came_from():
    for camera in ((720, 1280), (1080, 1920), (1024, 1280), (120, 160), (480, 752), (90, 160)):
        for model in ((384, 512), (352, 480), (64, 96), (192, 256), (512, 1024)):
            advice = stretch_advice(camera, model, True, 32)
            if advice and "input_height:=" in advice:
                height, width = (int(advice.split(f"input_{side}:=")[1].split()[0])
                                 for side in ("height", "width"))
                assert stretch_advice(camera, (height, width), True, 32) is None, advice


def test_frames_of_the_inputs_shape_or_within_five_percent_pass_and_fixed_models_are_told():
    assert stretch_advice((480, 640), (384, 512), True, 32) is None
    assert stretch_advice((360, 480), (384, 512), True, 32) is None
    assert stretch_advice((375, 480), (384, 512), True, 32) is None  # 4 % taller
    assert "re-export it with dynamic height and width" in stretch_advice(
        (720, 1280), (384, 512), False, 32)
