"""bag_eval on a robot's own drive: no ground truth, outputs recorded into a new bag.

Real bag files (sqlite3, mcap) written and read back with rosbags, a real node process,
real topics, real ONNX Runtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, Writer

from fanet_ros.evaluation import bag_eval
from fanet_ros.evaluation.bag_eval import evaluate_bag
from fanet_ros.evaluation.bag_io import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    STORAGES,
    TYPESTORE,
    BagError,
    make_header,
    serialize_image,
)
from fanet_ros.evaluation.replay import Replay
from fanet_ros.evaluation.report import TIMELINE_FILE, FrameCounts, Report
from fanet_ros.evaluation.temporal import TemporalStats
from fanet_ros.image_conversion import DecodedImage
from fanet_ros.labels import CAMVID
from fanet_ros.preprocessing import resize_labels
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline

HEIGHT, WIDTH, FRAMES = 64, 96, 6
IMAGE_TOPIC, INFO_TOPIC = "/front/image_raw", "/front/camera_info"
FRAME_ID = "front_camera_optical"
START_NS, PERIOD_NS, RECORD_DELAY_NS = 1_700_000_000_000_000_000, 100_000_000, 7_000_000
NODE_PARAMS = {"num_threads": 1, "diagnostics_period": 5.0}
OUTPUTS = {
    "/segmentation_node/label": IMAGE_TYPE,
    "/segmentation_node/color": IMAGE_TYPE,
    "/segmentation_node/overlay": IMAGE_TYPE,
    "/segmentation_node/camera_info": CAMERA_INFO_TYPE,
}


def _frames() -> list[np.ndarray]:
    """A scene panning right a few pixels per frame: labels change in places, not all over."""
    rng = np.random.default_rng(7)
    wide = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH + 8 * FRAMES, 3), np.uint8),
                            (9, 9), 3)
    return [np.ascontiguousarray(wide[:, 3 * k: 3 * k + WIDTH]) for k in range(FRAMES)]


def _camera_info(header: object) -> memoryview:
    types = TYPESTORE.types
    msg = types[CAMERA_INFO_TYPE](
        header=header, height=HEIGHT, width=WIDTH, distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array([90.0, 0, 47.5, 0, 90.0, 31.5, 0, 0, 1]),
        r=np.eye(3).reshape(-1), p=np.array([90.0, 0, 47.5, 0, 0, 90.0, 31.5, 0, 0, 0, 1, 0]),
        binning_x=0, binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )
    return TYPESTORE.serialize_cdr(msg, CAMERA_INFO_TYPE)


def _drive_bag(path: Path, storage: str) -> Path:
    """What a robot records: a camera image and its camera_info, no labels."""
    with Writer(path, version=8, storage_plugin=STORAGES[storage]) as writer:
        images = writer.add_connection(IMAGE_TOPIC, IMAGE_TYPE, typestore=TYPESTORE)
        infos = writer.add_connection(INFO_TOPIC, CAMERA_INFO_TYPE, typestore=TYPESTORE)
        for k, rgb in enumerate(_frames()):
            stamp = START_NS + k * PERIOD_NS
            header = make_header(stamp, FRAME_ID)
            writer.write(infos, stamp + RECORD_DELAY_NS, _camera_info(header))
            writer.write(images, stamp + RECORD_DELAY_NS, serialize_image(rgb, "rgb8", header))
    return path


def _offline_labels(model: Path) -> list[np.ndarray]:
    """What the node publishes on ~/label: model-size labels resized (nearest) to the input."""
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(model, num_threads=1))
    return [resize_labels(pipeline.predict(DecodedImage(rgb, "rgb8")), HEIGHT, WIDTH)
            for rgb in _frames()]


def _read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic -> [(log time, message)] read back with rosbags."""
    out: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as reader:
        for connection, log_time, raw in reader.messages():
            msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            out.setdefault(connection.topic, []).append((log_time, msg))
        types = {c.topic: c.msgtype for c in reader.connections}
    assert types == OUTPUTS
    return out


def _check_outputs_bag(path: Path, storage: str, labels: list[np.ndarray]) -> None:
    suffix = ".mcap" if storage == "mcap" else ".db3"
    assert [f.suffix for f in path.iterdir() if f.suffix in (".mcap", ".db3")] == [suffix]
    recorded = _read_bag(path)
    stamps = [START_NS + k * PERIOD_NS for k in range(FRAMES)]
    for topic, messages in recorded.items():
        assert len(messages) == FRAMES, topic
        messages.sort(key=lambda m: m[0])
        assert [t for t, _ in messages] == [s + RECORD_DELAY_NS for s in stamps], topic
        got = [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for _, m in messages]
        assert got == stamps, topic
        assert {m.header.frame_id for _, m in messages} == {FRAME_ID}, topic
    for (_, msg), expected in zip(recorded["/segmentation_node/label"], labels):
        assert (msg.encoding, msg.height, msg.width) == ("mono8", HEIGHT, WIDTH)
        np.testing.assert_array_equal(msg.data.reshape(HEIGHT, WIDTH), expected)
    for topic in ("/segmentation_node/color", "/segmentation_node/overlay"):
        _, msg = recorded[topic][0]
        assert (msg.height, msg.width, len(msg.data)) == (HEIGHT, WIDTH, HEIGHT * WIDTH * 3)
    _, info = recorded["/segmentation_node/camera_info"][0]
    assert (info.height, info.width, info.k[0]) == (HEIGHT, WIDTH, 90.0)


def _check_temporal(temporal: dict, labels: list[np.ndarray]) -> None:
    timeline = temporal["timeline"]
    assert [p["frame"] for p in timeline] == list(range(FRAMES))
    assert [p["time_s"] for p in timeline] == pytest.approx([0.1 * k for k in range(FRAMES)])
    for point, expected in zip(timeline, labels):
        share = np.bincount(expected.reshape(-1), minlength=CAMVID.num_classes) / expected.size
        np.testing.assert_allclose(point["share"], share, atol=1e-6)
    changed = [float(np.mean(a != b)) for a, b in zip(labels, labels[1:])]
    assert timeline[0]["changed"] is None
    assert [p["changed"] for p in timeline[1:]] == pytest.approx(changed, abs=1e-6)
    assert 0.0 < np.mean(changed) < 0.9  # the scene moves: some labels change, not all
    summary = temporal["changed_fraction"]
    assert summary["mean"] == pytest.approx(np.mean(changed), abs=1e-6)
    assert (summary["pairs"], summary["pairs_skipping_frames"]) == (FRAMES - 1, 0)


def test_drive_without_ground_truth_is_scored_and_its_outputs_recorded(
    tiny_model: Path, tmp_path: Path
) -> None:
    bag = _drive_bag(tmp_path / "drive", "sqlite3")
    report = evaluate_bag(
        bag, tmp_path / "report", image_topic=IMAGE_TOPIC, record_outputs=tmp_path / "out",
        start_node_params={"model_path": str(tiny_model), **NODE_PARAMS},
    )
    labels = _offline_labels(tiny_model)
    assert report.scores is None
    c = report.counts
    assert (c.images_sent, c.labels_received, c.dropped, c.ground_truth) == (FRAMES, FRAMES, 0, 0)
    assert report.latencies_ms.size == FRAMES and (report.latencies_ms > 0).all()
    assert report.throughput_fps > 0
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["scores"] is None
    assert written["latency_ms"]["p95"] > 0
    _check_temporal(written["temporal"], labels)
    assert written["outputs_bag"]["messages"] == dict.fromkeys(OUTPUTS, FRAMES)
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "No ground truth" in markdown and "## Accuracy" not in markdown
    for name in ("report.md", "latency_histogram.png", "frames.png", TIMELINE_FILE):
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert not (tmp_path / "report" / "class_iou.png").exists()
    _check_outputs_bag(tmp_path / "out", "sqlite3", labels)


def test_cli_scores_an_mcap_drive_and_records_beside_it(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bag = _drive_bag(tmp_path / "drive", "mcap")
    code = bag_eval.main([
        str(bag), "-o", str(tmp_path / "report"), "--image-topic", IMAGE_TOPIC,
        "--ground-truth-topic", "", "--record-outputs", "--no-progress",
        "--start-node", "--model-path", str(tiny_model),
        *(f"-p{name}:={value}" for name, value in NODE_PARAMS.items()),
    ])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no ground truth; 6 of 6 frames answered" in out
    assert f"Outputs bag: {tmp_path / 'drive_segmentation'}" in out
    _check_outputs_bag(tmp_path / "drive_segmentation", "mcap", _offline_labels(tiny_model))


def test_every_output_of_camera_sized_frames_is_recorded(tiny_model: Path, tmp_path: Path) -> None:
    """Through Fast DDS's default 512 KiB shared-memory segment, 2 MB colour and overlay
    images lose pieces that the reliable protocol repairs seconds later: lossless replay
    waits for every recorded output of a frame before sending the next, so none is lost."""
    height, width, frames = 720, 960, 6
    rng = np.random.default_rng(3)
    with Writer(tmp_path / "drive", version=8, storage_plugin=STORAGES["mcap"]) as writer:
        images = writer.add_connection(IMAGE_TOPIC, IMAGE_TYPE, typestore=TYPESTORE)
        for k in range(frames):
            rgb = rng.integers(0, 256, (height, width, 3), np.uint8)
            stamp = START_NS + k * PERIOD_NS
            writer.write(images, stamp, serialize_image(rgb, "rgb8", make_header(stamp, FRAME_ID)))
    report = evaluate_bag(
        tmp_path / "drive", None, image_topic=IMAGE_TOPIC, record_outputs=tmp_path / "out",
        start_node_params={"model_path": str(tiny_model), **NODE_PARAMS},
    )
    outputs = [t for t in OUTPUTS if not t.endswith("camera_info")]  # the bag has none
    assert report.outputs_bag["messages"] == dict.fromkeys(outputs, frames)
    assert report.outputs_bag["missing"] == {}
    assert bag_eval.outputs_missing(report) == ""


def test_outputs_that_keep_missing_stop_holding_the_replay_up(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Outputs missing frame after frame: after three such frames the replay waits for labels
    only (else each frame would wait out every resend), and says so."""
    monkeypatch.setattr(Replay, "recorded", lambda self, index: False)  # as if never delivered
    report = evaluate_bag(
        _drive_bag(tmp_path / "drive", "sqlite3"), None, image_topic=IMAGE_TOPIC,
        record_outputs=tmp_path / "out", frame_timeout_s=0.2, retries=0,
        start_node_params={"model_path": str(tiny_model), **NODE_PARAMS},
    )
    assert report.counts.labels_received == FRAMES
    assert "outputs of the last 3 answered frames did not all arrive (each waited for 0.2 s " \
        "and resent 0 times): waiting for labels only" in capsys.readouterr().err


def test_outputs_missing_from_the_outputs_bag_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    report = Report(source="drive", mode="lossless", label_set=CAMVID, scores=None,
                    counts=FrameCounts(images_sent=6, labels_received=6), latencies_ms=np.ones(6),
                    duration_s=0.5, latency_definition="", outputs_bag={
                        "path": "out", "storage": "mcap", "missing": {"/seg/color": 2},
                        "messages": {"/seg/label": 6, "/seg/color": 4}})
    text = bag_eval.outputs_missing(report)
    assert "2 on '/seg/color' of 6" in text and "fastdds_large_images.xml" in text
    assert "`/seg/color`: 4 messages (**2 answered frames missing**)" in report.to_markdown()
    assert "`/seg/label`: 6 messages\n" in report.to_markdown()
    monkeypatch.setattr(bag_eval, "evaluate_bag", lambda *args, **kwargs: report)
    assert bag_eval.main(["drive", "--no-progress"]) == 1  # lossless: every output was asked for
    report.mode = "realtime"
    assert bag_eval.main(["drive", "--no-progress", "--rate", "realtime"]) == 0  # a warning


def test_an_existing_outputs_bag_is_not_overwritten(tmp_path: Path) -> None:
    bag = _drive_bag(tmp_path / "drive", "sqlite3")
    (tmp_path / "drive_segmentation").mkdir()
    with pytest.raises(BagError, match="drive_segmentation' already exists"):
        evaluate_bag(bag, None, image_topic=IMAGE_TOPIC, record_outputs="")


def test_flicker_counts_consecutive_frames_only() -> None:
    stats = TemporalStats(num_classes=3)
    a = np.zeros((2, 4), np.uint8)
    b = a.copy()
    b[0, :2] = 1
    stats.add(0, 5_000_000_000, a)
    stats.add(1, 5_100_000_000, b)  # 2 of 8 pixels changed
    stats.add(3, 5_300_000_000, a)  # frame 2 dropped: not a consecutive pair
    stats.add(4, 5_400_000_000, np.zeros((4, 4), np.uint8))  # another size: not comparable
    assert [p.changed for p in stats.points] == [None, 0.25, None, None]
    summary = stats.stability_summary()
    assert (summary["mean"], summary["pairs"], summary["pairs_skipping_frames"]) == (0.25, 1, 1)
    np.testing.assert_allclose(stats.points[1].share, [0.75, 0.25, 0.0])
    assert stats.points[2].time_s == pytest.approx(0.3)


def test_the_timeline_counts_from_the_bags_first_frame_even_when_it_was_dropped() -> None:
    stats = TemporalStats(num_classes=3, first_ns=5_000_000_000)  # frame 0's stamp
    stats.add(2, 5_200_000_000, np.zeros((2, 4), np.uint8))  # frames 0 and 1 never answered
    stats.add(3, 5_300_000_000, np.zeros((2, 4), np.uint8))
    assert [round(p.time_s, 3) for p in stats.points] == [0.2, 0.3]


def test_start_node_names_the_domain_it_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Without ROS_DOMAIN_ID the run goes to a free domain: said, else rviz2 sees nothing."""
    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
    assert bag_eval.main([str(tmp_path / "missing"), "--start-node", "--no-progress"]) == 1
    err = capsys.readouterr().err
    chosen = os.environ["ROS_DOMAIN_ID"]
    assert f"use ROS_DOMAIN_ID={chosen}, discovery on localhost" in err
    monkeypatch.setenv("ROS_DOMAIN_ID", chosen)
    assert bag_eval.main([str(tmp_path / "missing"), "--start-node", "--no-progress"]) == 1
    assert "ROS_DOMAIN_ID" not in capsys.readouterr().err
