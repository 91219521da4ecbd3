"""The classes a bag evaluation scores: a bad ~/label_info is one clear error, not a traceback."""

from __future__ import annotations

import json

import pytest

from fanet_ros.evaluation.label_info import LabelInfoError, label_set_from_label_info
from fanet_ros.labels import CAMVID


def _info(**changes) -> str:
    info = {"dataset": "camvid", "ignore_label": 255, "classes": [
        {"id": i, "name": n, "color": list(c)}
        for i, (n, c) in enumerate(zip(CAMVID.class_names, CAMVID.colors))]}
    return json.dumps({**info, **changes})


def test_the_nodes_label_info_gives_the_datasets_classes() -> None:
    assert label_set_from_label_info(_info()).class_names == CAMVID.class_names


@pytest.mark.parametrize("bad", [
    _info(ignore_label=5),  # the void id inside the class ids: LabelSet refuses the table
    _info(classes=[{"id": 0, "name": "sky"}]),  # no colour
    "not json",
])
def test_an_unusable_label_info_is_a_label_info_error(bad: str) -> None:
    with pytest.raises(LabelInfoError, match="unreadable label_info message"):
        label_set_from_label_info(bad)
