"""Static INT8 quantisation (QDQ) of an exported model for ONNX Runtime on the CPU.

Calibration images go through the node's own preprocessing (resize to the
model's input, RGB, the metadata's normalisation: fanet_ros.tensorrt.calibration_data,
the same reader the TensorRT INT8 calibrator uses). Scale/shift pairs after each
convolution are folded first (``fanet_ros.onnx.folding.fold_conv_affine``) so that every Conv
is quantised with its BatchNormalization inside. Weights are int8 per output
channel, activations uint8; the metadata records the calibration.

Used by ``fanet-export model.onnx --quantize int8 --calibration-dir DIR``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from fanet_ros.model_metadata import ModelMetadata, attach_metadata, metadata_of_proto
from fanet_ros.tensorrt.calibration_data import CalibrationImages, list_images

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
AGREEMENT_FRAMES = 8
"""Calibration images the int8 model's labels are compared on against the float model's."""


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    calibration_frames: int
    label_agreement: float
    """Share of pixels (model resolution) whose int8 labels equal the float model's."""


class _CalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over preprocessed images."""

    def __init__(self, images: CalibrationImages, input_name: str) -> None:
        self._input_name = input_name
        self._batches: Iterator[np.ndarray] = images.batches(1)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._input_name: batch.copy()}


def quantize_int8(source: Path, output: Path, calibration_dir: str | Path, frames: int = 100,
                  method: str = "minmax", fold: bool = True) -> QuantizeResult:
    """Write an INT8 QDQ copy of the float model ``source`` to ``output``.

    ``frames`` images of ``calibration_dir`` (evenly spread over its sorted list,
    neighbouring video frames being alike) calibrate the activation ranges.
    ``fold=False`` skips the BatchNorm fold (bench/ort_tuning.py measures what it saves).
    Raises ``ValueError`` (bad model or method) or ``ImageFolderError`` (bad folder).
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from fanet_ros.onnx.folding import fold_conv_affine

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}")
    proto = onnx.load(str(source))
    metadata = metadata_of_proto(proto, source)
    if metadata.extra.get("quantized"):
        raise ValueError(f"{source} is already quantised ({metadata.extra['quantized']})")
    paths = _spread(list_images(calibration_dir), frames)
    images = CalibrationImages(paths, metadata.input_height, metadata.input_width,
                               metadata.normalization)
    if fold:
        fold_conv_affine(proto)
    input_name = proto.graph.input[0].name
    calibrate = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                 "entropy": CalibrationMethod.Entropy}[method]
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        quantized = Path(tmp) / "int8.onnx"
        prepared = Path(tmp) / "prepared.onnx"
        onnx.save(proto, str(folded))
        # ONNX shape inference only: the fold above is the one graph change wanted here
        quant_pre_process(str(folded), str(prepared), skip_optimization=True,
                          skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(quantized), _CalibrationReader(images, input_name),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, per_channel=True, calibrate_method=calibrate,
        )
        result = onnx.load(str(quantized))
    note = (f"int8 QDQ (onnxruntime.quantization, per-channel int8 weights, uint8 "
            f"activations), {method} calibration on {len(paths)} images of "
            f"{Path(calibration_dir).name}/")
    attach_metadata(result, dataclasses.replace(
        metadata, extra={**metadata.extra, "quantized": note, "quantized_from": source.name}))
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(result, str(output))
    agreement = label_agreement(source, output, images, metadata)
    return QuantizeResult(output, len(paths), agreement)


def label_agreement(reference: Path, candidate: Path, images: CalibrationImages,
                    metadata: ModelMetadata, frames: int = AGREEMENT_FRAMES) -> float:
    """Share of pixels whose labels at model resolution agree between two models."""
    import onnxruntime as ort

    from fanet_ros.runtime.base import labels_from_output

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in (reference, candidate)]
    size = (metadata.input_height, metadata.input_width)
    sample = CalibrationImages(_spread(images.paths, frames), *size, metadata.normalization)
    agree = total = 0
    for batch in sample.batches(1):
        labels = [labels_from_output(s.run(None, {s.get_inputs()[0].name: batch})[0],
                                     metadata.output, size) for s in sessions]
        agree += int(np.count_nonzero(labels[0] == labels[1]))
        total += labels[0].size
    return agree / total


def _spread(paths: list[Path], count: int) -> list[Path]:
    """``count`` paths evenly spread over ``paths`` (all of them when there are fewer)."""
    if count <= 0 or count >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, count).round().astype(int)]
