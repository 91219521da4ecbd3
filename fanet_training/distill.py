"""``fanet-train --distill-from``: a trained teacher's class probabilities as soft targets.

The teacher is a model exported by ``fanet-export`` (an ``.onnx`` with fanet_ros metadata and
a ``logits`` or ``probabilities`` output), run by ONNX Runtime on every training batch exactly
as the student sees it (same crop, augmentation and copy-paste). The student learns from the
labels as before and, through one more output, from the teacher's per-pixel distribution over
the classes (:class:`fanet_training.losses.DistillationLoss`): knowledge distillation at
temperature 1, pixel by pixel. The exported student is unchanged; the teacher is not part of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fanet_ros.model_metadata import Normalization
from fanet_ros.preprocessing import upsampled_probabilities
from fanet_ros.shipped_models import ModelLoadError


class Teacher:
    """``teacher(images)``: ``[B, H, W, 3]`` model inputs -> ``[B, H, W, C]`` probabilities."""

    def __init__(self, path: str | Path, num_classes: int, normalization: Normalization) -> None:
        # imported here: the GPU pack (fanet_training.gpu_pack) leaves the inference runtimes out
        from fanet_ros.runtime.onnxruntime_backend import load_session, model_input_size

        flag = f"--distill-from '{path}'"
        try:
            self.session, self.metadata = load_session(path)
            fixed = model_input_size(self.session, path)
        except ModelLoadError as exc:
            raise ValueError(f"{flag}: {exc}") from None
        metadata = self.metadata
        if metadata.output == "labels":
            raise ValueError(f"{flag}: the model outputs labels, which carry no class "
                             "probabilities; export the teacher with fanet-export --head "
                             "logits or --head probabilities")
        if metadata.num_classes != num_classes:
            raise ValueError(f"{flag}: the teacher predicts {metadata.num_classes} classes, the "
                             f"dataset's labels have {num_classes}")
        if metadata.normalization != normalization:
            raise ValueError(f"{flag}: the teacher expects other pixel values "
                             f"({metadata.normalization}) than this run feeds "
                             f"({normalization})")
        self.fixed_size = fixed if all(fixed) else None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, images: np.ndarray) -> np.ndarray:
        height, width = images.shape[1:3]
        if self.fixed_size and self.fixed_size != (height, width):
            raise ValueError(f"--distill-from: the teacher takes {self.fixed_size[0]}x"
                             f"{self.fixed_size[1]} images only, the batches are {height}x{width}")
        # one frame per run: exported models may fix the batch at 1
        return np.stack([self._probabilities(image[None], height, width) for image in images])

    def _probabilities(self, image: np.ndarray, height: int, width: int) -> np.ndarray:
        out = self.session.run(None, {self.input_name: image.astype(np.float32)})[0][0]
        if self.metadata.output == "probabilities":
            return out.astype(np.float32, copy=False)
        return upsampled_probabilities(out, height, width)  # stride-8 logits
