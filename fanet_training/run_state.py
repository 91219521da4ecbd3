"""The run folder: checkpoint, optimizer state and progress, committed together each epoch.

Layout::

    run_dir/config.json            training options (read by fanet-export / fanet-evaluate)
    run_dir/checkpoint.weights.h5  model weights and optimizer variables (step, momenta)
                                   after the last finished epoch
    run_dir/ema.npz                with --ema: the weight average after that epoch
    run_dir/state.json             last finished epoch, best val mIoU, per-epoch history
    run_dir/best.weights.h5        the weights to ship (best or last epoch; with --ema, averaged)
    run_dir/logs/                  TensorBoard logs (TensorFlow backend)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fanet_ros.dataset_layouts import CLASSES_FILE, label_set_for_layout, read_classes_file
from fanet_ros.labels import LabelSet

CONFIG = "config.json"
CHECKPOINT = "checkpoint.weights.h5"
STATE = "state.json"
BEST = "best.weights.h5"
PENDING = "pending"
"""``state.json`` key naming the files an interrupted epoch commit still has to move."""


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON through a temporary file so a kill never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read '{path}': {exc}") from None


def staged(path: Path) -> Path:
    """Where ``path``'s next version is written before it replaces ``path`` (Keras wants the
    ``.weights.h5`` suffix kept)."""
    return path.with_name("tmp." + path.name)


def commit_epoch(run_dir: Path, state: dict[str, Any], names: list[str]) -> None:
    """Make an epoch's staged files (``staged(run_dir / name)``) and its state current together.

    ``state.json`` is written first with the names under ``pending``, the files are then moved
    into place and ``state.json`` is written again without them. A kill before the first write
    leaves the previous epoch whole; a kill after it leaves this epoch, which
    :func:`finish_commit` completes when the run is resumed.
    """
    write_json(run_dir / STATE, {**state, PENDING: names})
    _move_staged(run_dir, names)
    write_json(run_dir / STATE, state)


def finish_commit(run_dir: Path) -> None:
    """Complete an epoch commit that a kill interrupted (before the run's files are read)."""
    path = run_dir / STATE
    if not path.is_file():
        return
    state = read_json(path)
    names = state.pop(PENDING, None)
    if names is not None:
        _move_staged(run_dir, names)
        write_json(path, state)


def _move_staged(run_dir: Path, names: list[str]) -> None:
    for name in names:
        if staged(run_dir / name).exists():  # else moved before the kill
            os.replace(staged(run_dir / name), run_dir / name)


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as an ``.npz`` through a temporary file so a kill never leaves half."""
    tmp = staged(path)
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def load_checkpoint(model: keras.Model, path: Path) -> None:
    """Restore a compiled model and its optimizer (step, momenta) from its weights file.

    Keras writes a compiled model's optimizer variables into its weights file, but reads them
    back only into an optimizer that is already built, so build it first.
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    if int(model.optimizer.iterations) == 0:  # Keras warns and skips a mismatched optimizer
        raise ValueError(f"'{path}' restored no optimizer state (none saved, or saved by another "
                         "optimizer than this run's): resume with the options that started the "
                         "run, or start a new run folder")


def run_label_set(run_dir: Path, layout: str) -> LabelSet:
    """The classes a run trained: the ``classes.json`` it kept (a ``folder`` dataset's own),
    else its layout's."""
    kept = Path(run_dir) / CLASSES_FILE
    return read_classes_file(kept) if kept.is_file() else label_set_for_layout(layout)
