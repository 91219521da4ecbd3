"""make_bag leaves either a complete bag or nothing: no stub that blocks the rerun."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanet_ros.dataset_layouts import DatasetError
from fanet_ros.evaluation import make_bag
from fanet_ros.evaluation.bag_io import BagReader, BagTopics


def _frames(count: int, fail_at: int | None = None) -> Iterator[make_bag.Frame]:
    rng = np.random.default_rng(0)
    for i in range(count):
        if i == fail_at:
            raise DatasetError(f"cannot read image 'frame_{i}.png' (simulated corrupt file)")
        yield make_bag.Frame(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8), name=f"f{i}")


def _frame_count(bag: Path) -> int:
    with BagReader(bag) as reader:
        return sum(1 for _ in reader.images(BagTopics().image))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_failed_write_leaves_nothing_and_the_rerun_needs_no_overwrite(tmp_path, storage):
    out = tmp_path / "drive_bag"
    with pytest.raises(DatasetError, match="simulated"):
        make_bag.write_bag(_frames(5, fail_at=3), out, storage=storage)
    assert list(tmp_path.iterdir()) == []  # neither the bag nor its scratch folder
    summary = make_bag.write_bag(_frames(5), out, storage=storage)
    assert summary.frames == 5 and _frame_count(out) == 5
    assert sorted(p.name for p in out.iterdir())[0].startswith("drive_bag")


def test_a_failed_overwrite_keeps_the_old_bag(tmp_path):
    out = tmp_path / "bag"
    make_bag.write_bag(_frames(4), out)
    with pytest.raises(DatasetError):
        make_bag.write_bag(_frames(6, fail_at=2), out, overwrite=True)
    assert _frame_count(out) == 4
    make_bag.write_bag(_frames(6), out, overwrite=True)
    assert _frame_count(out) == 6
    assert [p.name for p in tmp_path.iterdir()] == ["bag"]


def test_cli_failure_on_a_corrupt_image_leaves_no_stub(tmp_path, capsys):
    root = tmp_path / "data"
    for kind in ("images", "labels"):
        (root / kind).mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(root / "images" / f"f{i}.png"), np.zeros((8, 8, 3), np.uint8))
    (root / "images" / "f1.png").write_bytes(b"truncated")
    out = tmp_path / "out_bag"
    assert make_bag.main([str(root), str(out), "--layout", "folder"]) == 1
    assert "f1.png" in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
