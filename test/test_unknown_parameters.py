"""Misspelt parameter names are told apart from other nodes' parameters."""

from __future__ import annotations

from fanet_ros.node.unknown_parameters import misspelt_parameters

KNOWN = ["output_resolution", "input_height", "input_width", "backend", "model_path"]


def test_names_within_a_typo_of_a_known_one_are_found_and_others_left_alone():
    given = ["output_resolutin", "inputheight", "backnd", "model_path", "publish_rate",
             "use_sim_time", "qos_overrides./image.subscription.depth", "frame_id"]
    assert misspelt_parameters(given, KNOWN) == [
        ("backnd", "backend"), ("inputheight", "input_height"),
        ("output_resolutin", "output_resolution")]
