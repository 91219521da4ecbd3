"""Devices, mixed precision and multi-device training for the active Keras backend.

TensorFlow: ``tf.distribute.MirroredStrategy`` (all GPUs, or all logical CPUs
when there is no GPU). JAX: ``keras.distribution.DataParallel`` over all devices.
One machine only: Keras 3's ``fit`` cannot take a PyDataset through TensorFlow's
``MultiWorkerMirroredStrategy`` (it fails converting the per-replica batches).
"""

from __future__ import annotations

import contextlib

import keras

STRATEGIES = ("auto", "none", "mirrored")


def accelerators() -> list[str]:
    """Names of the GPUs the backend sees."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU")]
    if keras.backend.backend() == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    return []


def use_mixed_precision(mode: str) -> bool:
    """Set ``mixed_float16`` for ``on``, or for ``auto`` when a GPU is present; returns it."""
    enabled = mode == "on" or (mode == "auto" and bool(accelerators()))
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    return enabled


def distribution_scope(kind: str) -> tuple[contextlib.AbstractContextManager, int]:
    """A scope to build and compile the model in, and the number of replicas."""
    backend = keras.backend.backend()
    if kind not in STRATEGIES:
        raise ValueError(f"unknown distribution {kind!r}; known: {', '.join(STRATEGIES)}")
    if backend == "jax":
        import jax

        if kind == "none" or (kind == "auto" and len(jax.devices()) < 2):
            return contextlib.nullcontext(), 1
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        return contextlib.nullcontext(), len(jax.devices())
    if backend != "tensorflow":
        if kind not in ("auto", "none"):
            raise ValueError(f"--distribute {kind} needs the TensorFlow or JAX backend")
        return contextlib.nullcontext(), 1
    import tensorflow as tf

    gpus = accelerators()
    if kind == "none" or (kind == "auto" and len(gpus) < 2):
        return contextlib.nullcontext(), 1
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    return strategy.scope(), strategy.num_replicas_in_sync
