"""Per-frame costs outside inference, before and after the pipeline's optimisations, in one run.

Feeds one model output (random class scores at the model size) and one
camera frame through (a) the pipeline as first written (np.argmax, resize the
labels, colour every input pixel, fresh arrays per frame) and (b)
``SegmentationPipeline`` as it is now, and times arg-max alternatives. No ROS,
no model: the stages after inference do not depend on the scores' values.

    python -m bench.pipeline_stages --camera-size 1024x2048 --model-size 512x1024 --classes 11
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.common import median_ms, module_command, parse_size, write_results
from bench.render_performance import pipeline_stages as render
from fanet_ros.colorize import Colorizer
from fanet_ros.image_conversion import DecodedImage
from fanet_ros.labels import CAMVID
from fanet_ros.model_metadata import ModelMetadata
from fanet_ros.preprocessing import resize_labels
from fanet_ros.runtime.base import InferenceBackend
from fanet_ros.segmentation_pipeline import ClassArgmax, SegmentationPipeline

UNITS = {"*_ms": "milliseconds (median)", "speedup": "before / after",
         "camera_size, model_size": "pixels, height x width",
         "thread_spinning_ms": "milliseconds per frame (median) by stage"}


class FixedOutputBackend(InferenceBackend):
    """Returns the same class scores for every frame: isolates the stages around inference."""

    name = "fixed-output"

    def __init__(self, scores: np.ndarray, metadata: ModelMetadata) -> None:
        super().__init__(Path("fixed-output"), metadata)
        self.scores = scores

    @property
    def input_height(self) -> int:
        return int(self.scores.shape[1])

    @property
    def input_width(self) -> int:
        return int(self.scores.shape[2])

    @property
    def device(self) -> str:
        return "CPU"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.scores


def first_version_postprocess(
    scores: np.ndarray, image: DecodedImage, colorizer: Colorizer, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The postprocessing as first written (commit 3c8bf09), kept as the baseline."""
    labels = np.argmax(scores[0], axis=-1).astype(np.uint8)
    labels = resize_labels(labels, image.height, image.width)
    color = colorizer(labels, "bgr8")
    overlay = cv2.addWeighted(np.ascontiguousarray(image.pixels), 1.0 - alpha, color, alpha, 0.0)
    return labels, color, overlay


def argmax_alternatives(scores: np.ndarray, iterations: int) -> dict[str, float]:
    """Milliseconds of each way to take the arg-max over classes (all give the same ids)."""
    hw_c = scores[0].reshape(-1, scores.shape[-1])
    ort_argmax = ClassArgmax()
    expected = np.argmax(scores[0], axis=-1)
    assert (ort_argmax(scores) == expected).all()
    assert (cv2.reduceArgMax(hw_c, 1).reshape(expected.shape) == expected).all()
    return {
        "numpy argmax(axis=-1)": median_ms(
            lambda: np.argmax(scores[0], axis=-1).astype(np.uint8), iterations),
        "cv2.reduceArgMax": median_ms(lambda: cv2.reduceArgMax(hw_c, 1), iterations),
        "ONNX Runtime ArgMax (ClassArgmax)": median_ms(lambda: ort_argmax(scores), iterations),
    }


def colour_alternatives(labels: np.ndarray, colorizer: Colorizer, iterations: int
                        ) -> dict[str, float]:
    """Milliseconds of each way to colour ``labels`` (all give the same pixels)."""
    lut = colorizer._lut["bgr8"]
    out = np.empty((*labels.shape, 3), np.uint8)

    def grey_then_lut() -> np.ndarray:  # the Colorizer before cv2.applyColorMap
        ids = cv2.cvtColor(labels, cv2.COLOR_GRAY2BGR, dst=out)
        return cv2.LUT(ids, lut, dst=ids)

    expected = np.asarray(colorizer(labels, "bgr8")).copy()
    assert np.array_equal(grey_then_lut(), expected)
    assert np.array_equal(np.take(lut[:, 0], labels, axis=0), expected)
    return {
        "grey to BGR, then cv2.LUT (before)": median_ms(grey_then_lut, iterations),
        "numpy take": median_ms(lambda: np.take(lut[:, 0], labels, axis=0), iterations),
        "cv2.applyColorMap, user colour map (Colorizer)": median_ms(
            lambda: colorizer(labels, "bgr8", out=out), iterations),
    }


def spinning_comparison(model: Path, camera: tuple[int, int], frames: int) -> dict[str, Any]:
    """Median stage ms of the real pipeline with ONNX Runtime's idle threads spinning or not."""
    from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend, load_session

    image = DecodedImage(np.random.default_rng(1).integers(0, 256, (*camera, 3), np.uint8), "bgr8")
    results: dict[str, Any] = {}
    for _ in range(2):  # alternate, so drifting load hits both alike
        for spinning in (True, False):
            backend = OnnxRuntimeBackend(model)
            backend.session, _ = load_session(model, allow_spinning=spinning)
            pipeline = SegmentationPipeline(backend)
            per_frame = []
            for _ in range(frames + 1):  # the first run warms up
                pipeline.times.take()
                pipeline.process(image)
                pipeline.times.frames = 1
                per_frame.append(pipeline.times.take()[0])
            key = "spinning" if spinning else "no spinning"
            results.setdefault(key, []).extend(per_frame[1:])
    return {key: {stage: float(np.median([f[stage] for f in per_frame])) for stage in
                  ("preprocess", "inference", "postprocess")}
            for key, per_frame in results.items()}


def run(camera: tuple[int, int], model: tuple[int, int], classes: int, iterations: int
        ) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    scores = rng.random((1, *model, classes), dtype=np.float32)
    image = DecodedImage(rng.integers(0, 256, (*camera, 3), dtype=np.uint8), "bgr8")
    labels = CAMVID if classes == CAMVID.num_classes else None
    metadata = ModelMetadata(
        model="fixed", dataset="bench", class_names=tuple(f"c{i}" for i in range(classes)),
        colors=tuple(tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(classes)),
        input_height=model[0], input_width=model[1],
    ) if labels is None else ModelMetadata.for_label_set(
        labels, model="fixed", input_height=model[0], input_width=model[1])
    pipeline = SegmentationPipeline(FixedOutputBackend(scores, metadata), overlay_alpha=0.5)

    before = first_version_postprocess(scores, image, pipeline.colorizer, 0.5)
    after = pipeline.process(image)
    for name, old, new in zip(("labels", "color", "overlay"), before,
                              (after.labels, after.color, after.overlay)):
        if not np.array_equal(old, new):
            raise AssertionError(f"{name} differs from the first version's")

    per_frame = []
    for _ in range(iterations):
        pipeline.times.take()
        pipeline.process(image)
        pipeline.times.frames = 1
        per_frame.append(pipeline.times.take()[0])
    stage_ms = {s: float(np.median([f[s] for f in per_frame])) for s in per_frame[0]}
    before_ms = median_ms(
        lambda: first_version_postprocess(scores, image, pipeline.colorizer, 0.5), iterations)
    return {
        "camera_size": list(camera),
        "model_size": list(model),
        "classes": classes,
        "iterations": iterations,
        "postprocess_before_ms": before_ms,
        "postprocess_after_ms": stage_ms["postprocess"],
        "speedup": before_ms / stage_ms["postprocess"],
        "preprocess_ms": stage_ms["preprocess"],
        "argmax_ms": argmax_alternatives(scores, iterations),
        "colour_ms": colour_alternatives(after.labels, pipeline.colorizer, iterations),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera-size", default="1024x2048")
    parser.add_argument("--model-size", default="512x1024")
    parser.add_argument("--classes", type=int, default=11)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--model-name", help="also time the real pipeline with this registry "
                        "model (random-weight export at --model-size), threads spinning or not")
    parser.add_argument("--frames", type=int, default=8, help="frames per spinning setting")
    parser.add_argument("--name", default="pipeline_stages", help="results file name")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    camera, model = parse_size(args.camera_size), parse_size(args.model_size)
    result = run(camera, model, args.classes, args.iterations)
    if args.model_name:
        from bench.exported_models import exported_model

        path = exported_model(args.model_name, model)
        result["spinning_model"] = {"name": args.model_name, "size": args.model_size,
                                    "weights": "random"}
        result["thread_spinning_ms"] = spinning_comparison(path, camera, args.frames)
    result = {"benchmark": "pipeline_stages",
              "command": module_command("bench.pipeline_stages", argv), **result}
    written = write_results(args.name, result, args.results_dir, UNITS)
    print(render(json.loads(written.read_text())))
    print(f"wrote {written}")
    return result


if __name__ == "__main__":
    main()
