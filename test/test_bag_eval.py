"""make_bag and bag_eval end to end: real bags (sqlite3, mcap), a real node process, real topics."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Writer

from fanet_ros.dataset_layouts import find_samples, read_image, read_label
from fanet_ros.evaluation import bag_eval, make_bag
from fanet_ros.evaluation.bag_eval import EvaluationError, evaluate_bag
from fanet_ros.evaluation.bag_io import (
    IMAGE_TYPE,
    STORAGES,
    TYPESTORE,
    BagError,
    BagReader,
    BagTopics,
    make_header,
    serialize_image,
)
from fanet_ros.evaluation.report import REPORT_FILES
from fanet_ros.image_conversion import DecodedImage
from fanet_ros.labels import CAMVID
from fanet_ros.metrics import ConfusionMatrix
from fanet_ros.preprocessing import resize_labels
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline

HEIGHT, WIDTH, FRAMES = 64, 96, 5
NODE_PARAMS = {"num_threads": 1, "diagnostics_period": 5.0}


def _offline_prediction(model: Path, rgb: np.ndarray) -> np.ndarray:
    """What the node publishes on ~/label: model-size labels resized (nearest) to the input."""
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(model, num_threads=1))
    labels = pipeline.predict(DecodedImage(rgb, "rgb8"))
    return resize_labels(labels, rgb.shape[0], rgb.shape[1])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """Folder layout: FRAMES labelled images (labels near the model's) and one unlabelled."""
    root = tmp_path_factory.mktemp("dataset")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    rng = np.random.default_rng(1)
    for i in range(FRAMES + 1):
        rgb = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), (9, 9), 3)
        cv2.imwrite(str(root / "images" / f"f{i:02d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if i == FRAMES:
            continue  # one frame without ground truth
        label = _offline_prediction(tiny_model, rgb).copy()
        label[: HEIGHT // 4] = i % CAMVID.num_classes  # disagree in places
        label[-4:, :8] = 255  # void
        cv2.imwrite(str(root / "labels" / f"f{i:02d}.png"), label)
    return root


def _bag(dataset: Path, out: Path, storage: str, fps: float = 10.0) -> Path:
    frames = make_bag.frames_from_dataset(dataset, "folder")
    make_bag.write_bag(frames, out, fps=fps, storage=storage)
    return out


def _offline_scores(dataset: Path, model: Path) -> ConfusionMatrix:
    matrix = ConfusionMatrix(CAMVID.num_classes)
    for sample in find_samples(dataset, "folder", require_labels=False):
        if sample.label_path is not None:
            prediction = _offline_prediction(model, read_image(sample.image_path))
            matrix.update(read_label(sample.label_path, "folder"), prediction)
    return matrix


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_make_bag_writes_frames_labels_and_camera_info(dataset: Path, tmp_path: Path,
                                                       storage: str) -> None:
    topics = BagTopics()
    summary = make_bag.write_bag(
        make_bag.frames_from_dataset(dataset, "folder"), tmp_path / "bag", fps=20.0,
        storage=storage, start_ns=5_000_000_000,
    )
    assert (summary.frames, summary.labelled_frames) == (FRAMES + 1, FRAMES)
    with BagReader(tmp_path / "bag") as reader:
        assert reader.count(topics.camera_info) == FRAMES + 1
        images = list(reader.images(topics.image))
        labels = list(reader.images(topics.ground_truth))
    assert [im.stamp for im in images] == [(5, k * 50_000_000) for k in range(FRAMES + 1)]
    assert [lb.stamp for lb in labels] == [im.stamp for im in images[:FRAMES]]
    assert images[0].encoding == "rgb8" and images[0].frame_id == "camera"
    np.testing.assert_array_equal(images[0].pixels, read_image(dataset / "images" / "f00.png"))
    np.testing.assert_array_equal(
        labels[0].pixels[:, :, 0], read_label(dataset / "labels" / "f00.png", "folder")
    )


def test_ground_truth_is_held_compressed_and_read_back_exactly(dataset: Path,
                                                              tmp_path: Path) -> None:
    topics = BagTopics()
    bag = _bag(dataset, tmp_path / "bag", "mcap")
    with BagReader(bag) as reader:
        truth = bag_eval.load_ground_truth(reader, topics.image, topics.ground_truth)
    assert len(truth.image_stamps) == FRAMES + 1 and len(truth.labels) == FRAMES
    assert all(isinstance(data, bytes) and len(data) < HEIGHT * WIDTH
               for data in truth.labels.values())
    first = truth.image_stamps[0]
    np.testing.assert_array_equal(truth.label(first),
                                  read_label(dataset / "labels" / "f00.png", "folder"))
    assert truth.label(truth.image_stamps[-1]) is None  # the frame without ground truth


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_lossless_replay_through_the_node_equals_offline_miou(
    dataset: Path, tiny_model: Path, tmp_path: Path, storage: str
) -> None:
    bag = _bag(dataset, tmp_path / "bag", storage)
    report = evaluate_bag(
        bag, tmp_path / "report", rate="lossless",
        start_node_params={"model_path": str(tiny_model), **NODE_PARAMS},
    )
    offline = _offline_scores(dataset, tiny_model).scores(CAMVID)
    assert report.mean_iou == pytest.approx(offline.mean_iou, abs=1e-9)
    assert 0.2 < report.mean_iou < 1.0
    np.testing.assert_allclose(report.scores.class_iou, offline.class_iou, atol=1e-9)
    assert report.scores.pixel_accuracy == pytest.approx(offline.pixel_accuracy, abs=1e-9)
    c = report.counts
    assert (c.images_sent, c.labels_received, c.dropped) == (FRAMES + 1, FRAMES + 1, 0)
    assert (c.ground_truth, c.matched, c.unmatched) == (FRAMES, FRAMES, 0)
    assert c.images_without_ground_truth == 1
    assert report.latencies_ms.size == FRAMES + 1 and (report.latencies_ms > 0).all()
    assert report.label_set.class_names == CAMVID.class_names  # from the node's ~/label_info
    for name in REPORT_FILES:
        assert (tmp_path / "report" / name).stat().st_size > 0
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["scores"]["mean_iou"] == pytest.approx(offline.mean_iou, abs=1e-9)
    assert set(written["latency_ms"]) >= {"p50", "p95", "p99"}


def test_realtime_replay_accounts_for_every_ground_truth_frame(
    dataset: Path, tiny_model: Path, tmp_path: Path
) -> None:
    bag = _bag(dataset, tmp_path / "bag", "sqlite3", fps=500.0)  # faster than the node
    report = evaluate_bag(
        bag, None, rate="realtime", frame_timeout_s=2.0,
        start_node_params={"model_path": str(tiny_model), **NODE_PARAMS},
    )
    c = report.counts
    assert c.images_sent == FRAMES + 1
    assert c.matched + c.unmatched == c.ground_truth == FRAMES
    assert len(report.unmatched_stamps) == c.unmatched
    assert c.dropped == c.images_sent - c.labels_received
    assert c.labels_received >= 1


def test_a_realtime_replay_keeps_the_bags_pace_while_frames_are_scored(
    dataset: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring a large frame takes tens of ms; it must not hold back the next frame's send,
    or a slow evaluator would bunch the frames up and count drops the node never made."""
    from fanet_ros.evaluation.replay import Replay
    from fanet_ros.evaluation.scoring import FrameScorer

    add, send, sent_at = FrameScorer.add, Replay.send, []

    def slow_add(self, *args, **kwargs):
        time.sleep(2.0)  # far above what a loaded machine's scheduling adds (below)
        return add(self, *args, **kwargs)

    def timed_send(self, *args, **kwargs):
        sent_at.append(time.monotonic())
        return send(self, *args, **kwargs)

    monkeypatch.setattr(FrameScorer, "add", slow_add)
    monkeypatch.setattr(Replay, "send", timed_send)
    bag = _bag(dataset, tmp_path / "bag", "sqlite3", fps=20.0)  # a frame every 50 ms
    report = evaluate_bag(bag, None, rate="realtime", frame_timeout_s=5.0,
                          start_node_params={"model_path": str(tiny_model), **NODE_PARAMS})
    assert len(sent_at) == FRAMES + 1
    late = [t - sent_at[0] - 0.05 * i for i, t in enumerate(sent_at)]
    assert max(late) < 1.0, late  # held back by a frame's scoring, a send came ~2 s late
    assert report.counts.matched >= 1


def test_bag_without_the_image_topic_is_named(dataset: Path, tmp_path: Path) -> None:
    bag = _bag(dataset, tmp_path / "bag", "mcap")
    with pytest.raises(BagError, match=r"bag '.*bag' has no image topic '/front/image'.*"
                                       r"/camera/image_raw"):
        evaluate_bag(bag, None, image_topic="/front/image")


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_corrupt_bag_is_named(dataset: Path, tmp_path: Path, storage: str) -> None:
    bag = _bag(dataset, tmp_path / "bag", storage)
    for data_file in bag.glob("*.db3") if storage == "sqlite3" else bag.glob("*.mcap"):
        size = data_file.stat().st_size
        data_file.write_bytes(b"not a bag " * (size // 10))
    with pytest.raises(BagError, match=r"bag '.*bag'.*(corrupt|cannot be read)"):
        evaluate_bag(bag, None)


def test_ground_truth_without_a_matching_image_stamp_is_named(tmp_path: Path) -> None:
    topics, bag = BagTopics(), tmp_path / "bag"
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    with Writer(bag, version=8) as writer:
        images = writer.add_connection(topics.image, IMAGE_TYPE, typestore=TYPESTORE)
        truth = writer.add_connection(topics.ground_truth, IMAGE_TYPE, typestore=TYPESTORE)
        for k in range(3):
            t = 10_000_000_000 + k * 100_000_000
            writer.write(images, t, serialize_image(pixels, "rgb8", make_header(t, "camera")))
            label_stamp = t + (1_000 if k == 2 else 0)  # the last label is off by 1 us
            header = make_header(label_stamp, "camera")
            writer.write(truth, t, serialize_image(pixels[:, :, 0], "mono8", header))
    with pytest.raises(BagError, match=r"bag '.*bag': 1 of 3 ground-truth images on "
                                       r"'/camera/ground_truth'.*10\.200001000"):
        evaluate_bag(bag, None)


@pytest.mark.parametrize("encoding", ["bgr8", "mono8"])
def test_report_pictures_show_the_camera_in_its_colours_whatever_its_encoding(
        tiny_model: Path, tmp_path: Path, encoding: str) -> None:
    """Most cameras publish bgr8: the report's input tiles are RGB all the same."""
    from fanet_ros.evaluation.report import frame_grid

    topics, bag = BagTopics(), tmp_path / "bag"
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[..., 0] = 200  # red
    stored = {"bgr8": rgb[..., ::-1], "mono8": rgb[..., :1]}[encoding]
    with Writer(bag, version=8) as writer:
        images = writer.add_connection(topics.image, IMAGE_TYPE, typestore=TYPESTORE)
        truth = writer.add_connection(topics.ground_truth, IMAGE_TYPE, typestore=TYPESTORE)
        for k in range(2):
            t = 10_000_000_000 + k * 100_000_000
            header = make_header(t, "camera")
            writer.write(images, t, serialize_image(np.ascontiguousarray(stored), encoding,
                                                    header))
            writer.write(truth, t, serialize_image(np.zeros((HEIGHT, WIDTH), np.uint8), "mono8",
                                                   header))
    report = evaluate_bag(bag, tmp_path / "report", rate="lossless",
                          start_node_params={"model_path": str(tiny_model), **NODE_PARAMS})
    assert (tmp_path / "report" / "frames.png").stat().st_size > 0
    tile = frame_grid(report)[:HEIGHT, :WIDTH]
    expected = rgb if encoding == "bgr8" else np.repeat(rgb[..., :1], 3, axis=-1)
    np.testing.assert_array_equal(tile, expected)


def test_node_that_cannot_start_is_reported_with_its_log(dataset: Path, tmp_path: Path) -> None:
    bag = _bag(dataset, tmp_path / "bag", "sqlite3")
    missing = r"(?s)exited with code 1.*missing\.onnx. does not exist"
    with pytest.raises(EvaluationError, match=missing):
        evaluate_bag(bag, tmp_path / "out", start_node_params={"model_path": "missing.onnx"},
                     startup_timeout_s=30.0)


def test_a_colour_topic_given_as_the_label_topic_is_named_at_once(dataset: Path,
                                                                  tmp_path: Path,
                                                                  tiny_model: Path) -> None:
    bag = _bag(dataset, tmp_path / "bag", "sqlite3")
    started = time.monotonic()
    with pytest.raises(EvaluationError, match="carries [rb]g[rb]8 images, not mono8 class ids"):
        evaluate_bag(bag, None, label_topic="/segmentation_node/color",
                     start_node_params={"model_path": str(tiny_model), **NODE_PARAMS},
                     startup_timeout_s=120.0)
    assert time.monotonic() - started < 60.0  # not after the whole start-up timeout


def test_an_unknown_dataset_name_is_refused_before_the_replay(dataset: Path,
                                                             tmp_path: Path) -> None:
    bag = _bag(dataset, tmp_path / "bag", "sqlite3")
    with pytest.raises(EvaluationError, match="unknown dataset 'camvd'; known: bdd100k"):
        evaluate_bag(bag, None, dataset="camvd", start_node_params={"model_path": "x.onnx"})


def test_cli_reports_a_bad_bag_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert bag_eval.main([str(tmp_path / "nothing"), "-o", str(tmp_path / "out")]) == 1
    assert "nothing' does not exist" in capsys.readouterr().err


def _stop_node_after_warm_up(monkeypatch: pytest.MonkeyPatch, stop) -> None:
    """Call ``stop()`` once the node has answered the warm-up frame, before the replay."""
    from fanet_ros.evaluation.replay import Replay

    start = Replay.start

    def start_then_stop(self, *args, **kwargs):
        stop()
        return start(self, *args, **kwargs)

    monkeypatch.setattr(Replay, "start", start_then_stop)


def test_a_node_that_dies_during_the_replay_ends_it_with_its_log(
        dataset: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: nothing looked at the node after its warm-up, so each remaining frame waited out
    its timeout and resends (15 s a frame by default) and the run ended 'successfully'."""
    from fanet_ros.evaluation.node_process import NodeProcess

    started: list[NodeProcess] = []

    class RecordedNode(NodeProcess):
        def __enter__(self):
            started.append(super().__enter__())
            return started[-1]

    def kill() -> None:
        started[0]._process.kill()
        started[0]._process.wait()

    monkeypatch.setattr(bag_eval, "NodeProcess", RecordedNode)
    _stop_node_after_warm_up(monkeypatch, kill)
    bag = _bag(dataset, tmp_path / "bag", "sqlite3")
    began = time.monotonic()
    with pytest.raises(EvaluationError, match=r"the segmentation node exited with code -9"):
        evaluate_bag(bag, tmp_path / "out", frame_timeout_s=2.0,
                     start_node_params={"model_path": str(tiny_model), **NODE_PARAMS})
    assert time.monotonic() - began < 60.0


def test_a_running_node_that_stops_answering_ends_a_lossless_replay(
        dataset: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node bag_eval did not start cannot be polled; three frames in a row without a label
    (after their resends) end the run instead of waiting out the whole bag."""
    from fanet_ros.evaluation.node_process import NodeProcess

    bag = _bag(dataset, tmp_path / "bag", "sqlite3")
    with NodeProcess({"model_path": str(tiny_model), **NODE_PARAMS}, BagTopics().image,
                     tmp_path / "node.log") as node:
        _stop_node_after_warm_up(monkeypatch, node.stop)
        with pytest.raises(EvaluationError, match=rf"no label for the last {bag_eval.SILENT_FRAMES}"
                           r" frames .*stopped answering at frame 1 of 6"):
            evaluate_bag(bag, None, frame_timeout_s=0.5, retries=1, startup_timeout_s=60.0)


def test_cli_exits_1_when_the_node_answered_no_frame(
        dataset: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A realtime run whose node stopped after its warm-up scores nothing: exit 1, not 0 with
    'mIoU nan %', so a script that checks the exit code sees it."""
    from fanet_ros.evaluation.node_process import NodeProcess

    bag = _bag(dataset, tmp_path / "bag", "sqlite3", fps=50.0)
    with NodeProcess({"model_path": str(tiny_model), **NODE_PARAMS}, BagTopics().image,
                     tmp_path / "node.log") as node:
        _stop_node_after_warm_up(monkeypatch, node.stop)
        code = bag_eval.main([str(bag), "-o", str(tmp_path / "out"), "--rate", "realtime",
                              "--frame-timeout", "0.5", "--no-progress"])
    out = capsys.readouterr()
    assert code == 1
    assert "mIoU n/a" in out.out
    assert f"the node answered none of the {FRAMES + 1} frames sent" in out.err


@pytest.mark.parametrize("option", [["--samples", "-1"], ["--frame-timeout", "0"],
                                    ["--startup-timeout", "-5"]])
def test_cli_refuses_negative_counts_and_timeouts(option: list[str],
                                                  capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        bag_eval.build_parser().parse_args(["bag", *option])
    assert exited.value.code == 2
    assert option[1] in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
                    reason="reads a process's children from /proc (CONFIG_PROC_CHILDREN)")
def test_sigterm_stops_the_node_bag_eval_started(dataset: Path, tiny_model: Path,
                                                 tmp_path: Path) -> None:
    """Before: Python's default SIGTERM ended bag_eval without unwinding, and the node it had
    started went on running (holding the GPU) after the job was cancelled."""
    import signal
    import subprocess
    import sys

    bag = _bag(dataset, tmp_path / "bag", "sqlite3", fps=1.0)  # 6 s of realtime replay
    tool = subprocess.Popen(
        [sys.executable, "-m", "fanet_ros.evaluation.bag_eval", str(bag), "-o",
         str(tmp_path / "out"), "--rate", "realtime", "--no-progress", "--start-node",
         "--model-path", str(tiny_model), "-p", "num_threads:=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60.0
    while not (nodes := _children(tool.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert nodes, "bag_eval started no node"
    time.sleep(1.0)
    tool.send_signal(signal.SIGTERM)
    _, err = tool.communicate(timeout=60.0)
    assert tool.returncode == 143, err
    assert "interrupted (exit 143)" in err
    deadline = time.monotonic() + 10.0
    while any(_alive(pid) for pid in nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in nodes)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_ground_truth_is_read_as_mono8_or_as_cv_bridge_names_a_uint8_array(
        tmp_path: Path, encoding: str) -> None:
    """cv_bridge's cv2_to_imgmsg(labels) says 8UC1; before, such a bag was refused."""
    from fanet_ros.evaluation.bag_eval import load_ground_truth

    topics, bag = BagTopics(), tmp_path / "bag"
    labels = np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(HEIGHT, WIDTH) % 11
    with Writer(bag, version=8) as writer:
        images = writer.add_connection(topics.image, IMAGE_TYPE, typestore=TYPESTORE)
        truth = writer.add_connection(topics.ground_truth, IMAGE_TYPE, typestore=TYPESTORE)
        header = make_header(10_000_000_000, "camera")
        writer.write(images, 1, serialize_image(np.zeros((HEIGHT, WIDTH, 3), np.uint8), "rgb8",
                                                header))
        writer.write(truth, 1, serialize_image(labels, encoding, header))
    with BagReader(bag) as reader:
        read = load_ground_truth(reader, topics.image, topics.ground_truth)
    np.testing.assert_array_equal(read.label(read.image_stamps[0]), labels)


def test_a_compressed_camera_topic_is_decoded_and_scored_as_its_raw_frames(
        dataset: Path, tiny_model: Path, tmp_path: Path) -> None:
    """A robot's bag often holds only .../image_raw/compressed; before, it was refused as "not
    sensor_msgs/msg/Image"."""
    from fanet_ros.evaluation.bag_io import COMPRESSED_TYPE

    raw = _bag(dataset, tmp_path / "raw", "sqlite3")
    topics, bag = BagTopics(), tmp_path / "compressed"
    compressed_topic = f"{topics.image}/compressed"
    with BagReader(raw) as reader, Writer(bag, version=8) as writer:
        images = writer.add_connection(compressed_topic, COMPRESSED_TYPE, typestore=TYPESTORE)
        truth = writer.add_connection(topics.ground_truth, IMAGE_TYPE, typestore=TYPESTORE)
        for image in reader.images(topics.image):
            header = make_header(image.stamp[0] * 10**9 + image.stamp[1], image.frame_id)
            png = cv2.imencode(".png", cv2.cvtColor(image.pixels, cv2.COLOR_RGB2BGR))[1]
            msg = TYPESTORE.types[COMPRESSED_TYPE](header=header, format="png",
                                                    data=png.reshape(-1))
            writer.write(images, image.log_time_ns,
                         TYPESTORE.serialize_cdr(msg, COMPRESSED_TYPE))
        for label in reader.images(topics.ground_truth, class_ids=True):
            header = make_header(label.stamp[0] * 10**9 + label.stamp[1], label.frame_id)
            writer.write(truth, label.log_time_ns,
                         serialize_image(label.pixels[:, :, 0], "mono8", header))
    node = {"model_path": str(tiny_model), **NODE_PARAMS}
    expected = evaluate_bag(raw, None, start_node_params=node)
    report = evaluate_bag(bag, None, image_topic=compressed_topic, start_node_params=node)
    assert report.counts == expected.counts
    assert report.mean_iou == pytest.approx(expected.mean_iou, abs=1e-12)


def test_the_outputs_bag_goes_beside_the_input_bag_in_its_storage(tmp_path: Path) -> None:
    """Before: a bag folder's .mcap file given as input put the outputs bag inside that folder,
    and a compressed drive_0.mcap.zstd counted as sqlite3."""
    from fanet_ros.evaluation.output_bag import default_output_path, storage_of

    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (folder / "drive_0.mcap.zstd").write_bytes(b"")
    assert default_output_path(folder / "drive_0.mcap.zstd") == tmp_path / "drive_segmentation"
    assert default_output_path(folder) == tmp_path / "drive_segmentation"
    assert storage_of(folder) == "mcap"
    single = tmp_path / "other.mcap"
    single.write_bytes(b"")
    assert default_output_path(single) == tmp_path / "other_segmentation"
    assert storage_of(single) == "mcap"
    dotted = tmp_path / "drive_2024.06.01.db3"
    dotted.write_bytes(b"")
    assert default_output_path(dotted) == tmp_path / "drive_2024.06.01_segmentation"


@pytest.mark.parametrize(("labels", "span_s", "fps"), [(20, 1.9, 10.0), (100, 9.9, 10.0),
                                                      (1, 0.0, None), (0, 0.0, None)])
def test_throughput_counts_the_intervals_between_the_first_label_and_the_last(labels, span_s,
                                                                             fps):
    """N labels of a 10 fps camera span N - 1 periods: the README's demo read 10.1 fps for a
    10 fps drive of 100 frames with none dropped, a 20-frame replay 10.5."""
    from fanet_ros.evaluation.report import FrameCounts, Report

    report = Report("bag", "realtime", CAMVID, None, FrameCounts(labels_received=labels),
                    np.zeros(0), span_s, "stamp to label")
    if fps is None:
        assert np.isnan(report.throughput_fps)
    else:
        assert report.throughput_fps == pytest.approx(fps)
