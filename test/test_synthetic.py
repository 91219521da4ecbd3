"""The synthetic street generator: deterministic, valid, aligned, coherent, writes datasets."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from fanet_ros.dataset_layouts import find_samples, read_image, read_label
from fanet_ros.labels import CAMVID, IGNORE_LABEL
from fanet_ros.synthetic import generate_drive, generate_scene, write_dataset
from fanet_ros.synthetic.__main__ import main
from fanet_ros.synthetic.dataset import scene_rng

CAR, ROAD = CAMVID.class_names.index("Car"), CAMVID.class_names.index("Road")


@pytest.fixture(scope="module")
def scenes() -> list[tuple[np.ndarray, np.ndarray]]:
    return [generate_scene(seed) for seed in range(20)]


def test_same_seed_gives_the_same_scene():
    rgb_a, labels_a = generate_scene(42)
    rgb_b, labels_b = generate_scene(np.random.default_rng(42))
    assert np.array_equal(rgb_a, rgb_b) and np.array_equal(labels_a, labels_b)
    rgb_c, _ = generate_scene(43)
    assert not np.array_equal(rgb_a, rgb_c)


def test_shapes_types_and_label_values(scenes):
    for rgb, labels in scenes:
        assert rgb.shape == (360, 480, 3) and rgb.dtype == np.uint8
        assert labels.shape == (360, 480) and labels.dtype == np.uint8
        values = set(np.unique(labels).tolist())
        assert values <= set(range(CAMVID.num_classes)) | {IGNORE_LABEL}
    rgb, labels = generate_scene(0, height=120, width=200)
    assert rgb.shape == (120, 200, 3) and labels.shape == (120, 200)


def test_every_class_appears_and_scenes_are_busy(scenes):
    seen = set()
    for _, labels in scenes:
        present = set(np.unique(labels).tolist()) - {IGNORE_LABEL}
        assert len(present) >= 5, present
        seen |= present
    assert seen == set(range(CAMVID.num_classes))


def test_cars_do_not_share_the_road_colour(scenes):
    differences = []
    for rgb, labels in scenes:
        car, road = labels == CAR, labels == ROAD
        if car.sum() > 500:
            car_mean = rgb[car].mean(axis=0)
            road_mean = rgb[road].mean(axis=0)
            differences.append(np.abs(car_mean - road_mean).sum())
    assert len(differences) >= 10
    assert np.median(differences) > 30.0


def test_label_edges_lie_on_image_edges(scenes):
    """Image gradients are much stronger on label boundaries, and the match is lost when shifted."""
    on_edges, shifted_edges, inside = [], [], []
    for rgb, labels in scenes[:8]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        boundary = _boundary(labels)
        shifted = np.roll(boundary, 4, axis=1)
        interior = ~cv2.dilate(boundary.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        on_edges.append(gradient[boundary].mean())
        shifted_edges.append(gradient[shifted & ~boundary].mean())
        inside.append(gradient[interior].mean())
    assert np.mean(on_edges) > 2.0 * np.mean(inside)
    assert np.mean(on_edges) > 1.5 * np.mean(shifted_edges)


def _boundary(labels: np.ndarray) -> np.ndarray:
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    return edge


def test_drive_frames_are_coherent_and_move():
    frames = list(generate_drive(7, 12, height=180, width=240, fps=10.0))
    assert len(frames) == 12
    for (_, before), (_, after) in zip(frames, frames[1:]):
        assert (before == after).mean() > 0.7
    assert (frames[0][1] != frames[-1][1]).mean() > 0.02  # the camera did move forward
    again = next(iter(generate_drive(7, 12, height=180, width=240, fps=10.0)))
    assert np.array_equal(again[0], frames[0][0]) and np.array_equal(again[1], frames[0][1])


@pytest.mark.parametrize("layout", ["camvid", "folder"])
def test_written_dataset_reads_back(tmp_path, layout):
    root = write_dataset(tmp_path / "synth", num_train=3, num_val=2, height=72, width=96, seed=5,
                         layout=layout)
    train = find_samples(root, layout, "train")
    val = find_samples(root, layout, "val")
    assert len(train) == 3 and len(val) == 2
    rgb, labels = generate_scene(scene_rng(5, "val", 1), 72, 96)
    assert np.array_equal(read_label(val[1].label_path, layout), labels)
    assert np.array_equal(read_image(val[1].image_path), rgb)
    if layout == "camvid":
        raw = cv2.imread(str(val[1].label_path), cv2.IMREAD_UNCHANGED)
        assert raw.max() <= 11  # void stored as 11, like the CamVid SegNet files


def test_command_line_writes_a_dataset(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--train", "2", "--val", "1", "--height", "48",
                 "--width", "64", "--seed", "3"]) == 0
    assert len(find_samples(tmp_path / "cli", "camvid", "train")) == 2
    assert "2 train + 1 val" in capsys.readouterr().out


def test_unknown_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot write layout 'cityscapes'"):
        write_dataset(tmp_path, 1, 1, layout="cityscapes")


def test_a_frame_takes_well_under_50_ms():
    generate_scene(0)
    times = []
    for seed in range(10):
        start = time.process_time()
        generate_scene(seed)
        times.append(time.process_time() - start)
    assert np.median(times) < 0.050


def test_bad_sizes_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="too small"):
        generate_scene(0, height=8, width=480)
    with pytest.raises(ValueError, match="fps > 0"):
        generate_drive(0, 5, fps=0.0)
