"""INT8 entropy calibrator (TensorRT 8.6 to 10.x) with a reusable calibration cache.

When the cache file exists TensorRT reads it and asks for no images, so an
engine can be rebuilt on another GPU without the calibration set (the file
is per TensorRT version: see ``EngineSpec.calibration_cache_path``).

TensorRT's Python trampoline catches an exception raised in ``get_batch``,
prints it and takes it for "no more batches", then caches the truncated
scales. So ``get_batch`` keeps the exception in :attr:`error` and returns
``None``, no cache is written, and the builder raises it after the build.
The trampoline swallows an exception of ``write_calibration_cache`` (a full
disk) too: it is kept in :attr:`write_error` and the builder raises it.

TensorRT 11 has no calibrator; the builder refuses int8 there before this
module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import tensorrt as trt

from fanet_ros.tensorrt.calibration_data import CalibrationImages
from fanet_ros.tensorrt.cuda_runtime import DeviceBuffer, upload_sync
from fanet_ros.tensorrt.engine_cache import atomic_write_bytes


class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
    """Feeds preprocessed batches to TensorRT; reads and writes ``cache_path``."""

    def __init__(
        self,
        images: CalibrationImages | None,
        batch_size: int,
        cache_path: Path,
        log: Callable[[str], None],
    ) -> None:
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.cache_path = Path(cache_path)
        self.batch_size = batch_size
        self.log = log
        self._batches: Iterator[np.ndarray] = iter(
            images.batches(batch_size) if images is not None else ()
        )
        self._total = images.num_batches(batch_size) if images is not None else 0
        self._done = 0
        self._device: DeviceBuffer | None = None
        self.error: BaseException | None = None
        """The exception that ended calibration early; ``None`` when it ran through."""
        self.write_error: BaseException | None = None
        """The exception that kept the calibration cache from being written."""

    def get_batch_size(self) -> int:
        return self.batch_size

    def get_batch(self, names: list[str]) -> list[int] | None:
        if self.error is not None:
            return None
        try:
            return self._next_batch()
        except Exception as exc:  # TensorRT would swallow it: keep it for the builder
            self.error = exc
            self.log(f"INT8 calibration failed at batch {self._done + 1}/{self._total}: {exc}")
            self.free()
            return None

    def _next_batch(self) -> list[int] | None:
        batch = next(self._batches, None)
        if batch is None:
            self.free()
            return None
        if self._device is None:
            self._device = DeviceBuffer(batch.nbytes)
        upload_sync(self._device, batch)
        self._done += 1
        if self._done % 10 == 0 or self._done == self._total:
            self.log(f"INT8 calibration: batch {self._done}/{self._total}")
        return [self._device.ptr]

    def read_calibration_cache(self) -> bytes | None:
        if self.cache_path.is_file():
            self.log(f"INT8 calibration: reusing {self.cache_path}")
            return self.cache_path.read_bytes()
        return None

    def write_calibration_cache(self, cache: memoryview) -> None:
        if self.error is not None:  # scales from part of the images: never reuse them
            return
        try:
            atomic_write_bytes(self.cache_path, bytes(cache))
        except Exception as exc:  # TensorRT would swallow it: keep it for the builder
            self.write_error = exc
            self.log(f"INT8 calibration: cannot write {self.cache_path}: {exc}")
            return
        self.log(f"INT8 calibration: wrote {self.cache_path}")

    def free(self) -> None:
        if self._device is not None:
            self._device.free()
            self._device = None
