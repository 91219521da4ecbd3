"""``--ema``: an exponential moving average of the weights, kept beside the training.

Averaging the weights of the last few hundred steps (Polyak averaging, timm's ``ModelEma``)
smooths the noise of the last steps out of the weights that ship. The average covers every
float variable of the training model, BatchNorm statistics included, so the averaged model
is consistent without recomputing them. It is scored beside the raw weights, checkpointed
with the run (``ema.npz``) and, when on, is what the run ships.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from fanet_training import run_state

EMA = "ema.npz"
"""The average's file in the run folder, written with the checkpoint each epoch."""


def _is_float(variable: keras.Variable) -> bool:
    return "float" in str(variable.dtype)


class WeightAverage(keras.callbacks.Callback):
    """After every step, ``average = d * average + (1 - d) * weights``.

    ``d`` warms up as ``min(decay, (1 + n) / (10 + n))`` over the ``n`` updates so far (so the
    random initial weights fade within tens of steps, not thousands). :meth:`applied` swaps
    the average into the model for as long as its ``with`` block lasts.
    """

    def __init__(self, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"--ema {decay}: the decay must lie between 0 and 1 (e.g. 0.999)")
        self.decay = decay
        self.updates = 0
        self._average: list[np.ndarray | None] | None = None

    def _variables(self) -> list[keras.Variable]:
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()  # the JAX trainer attaches its state at epoch ends only
        return self.model.weights

    def _start(self) -> None:
        if self._average is None:
            self._average = [np.array(keras.ops.convert_to_numpy(v), np.float32)
                             if _is_float(v) else None for v in self._variables()]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, variable in zip(self._average, self._variables()):
            if average is not None:
                average *= decay
                average += (1.0 - decay) * keras.ops.convert_to_numpy(variable)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the average inside the block and its own weights again after."""
        self._start()
        variables = self._variables()
        raw = [keras.ops.convert_to_numpy(v) for v in variables]
        try:
            for variable, average in zip(variables, self._average):
                if average is not None:
                    variable.assign(average.astype(variable.dtype))
            yield
        finally:
            for variable, value in zip(variables, raw):
                variable.assign(value)

    def save(self, path: Path) -> None:
        """Write the average and its update count (through a temporary file)."""
        self._start()
        arrays = {f"v{i:05d}": a for i, a in enumerate(self._average) if a is not None}
        run_state.save_arrays(path, {"updates": np.int64(self.updates), **arrays})

    def load(self, path: Path) -> None:
        """Resume the average saved by :meth:`save` for this model."""
        self._start()
        with np.load(path) as saved:
            for i, average in enumerate(self._average):
                key = f"v{i:05d}"
                if average is None:
                    continue
                if key not in saved.files or saved[key].shape != average.shape:
                    raise ValueError(f"'{path}' does not hold this model's weight average "
                                     f"(variable {i}); was the run started with another model?")
                average[...] = saved[key]
            self.updates = int(saved["updates"])


def average_applied(average: WeightAverage | None) -> contextlib.AbstractContextManager:
    """``average.applied()``, or nothing to do without an average (no ``--ema``)."""
    return average.applied() if average is not None else contextlib.nullcontext()
