"""Learning-rate schedule: linear warm-up, then polynomial decay (power 0.9)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fanet_training")
class WarmupPolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``base * (step+1) / warmup`` for the first ``warmup_steps``, then
    ``end + (base - end) * (1 - progress) ** power`` until ``total_steps``."""

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0,
                 end_lr: float = 1e-4, power: float = 0.9) -> None:
        if total_steps <= warmup_steps:
            raise ValueError(f"total_steps ({total_steps}) must exceed warmup_steps "
                             f"({warmup_steps})")
        self.base_lr = base_lr
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.end_lr = end_lr
        self.power = power

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.base_lr * (step + 1.0) / max(self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / (self.total_steps - self.warmup_steps),
                            0.0, 1.0)
        decayed = self.end_lr + (self.base_lr - self.end_lr) * (1.0 - progress) ** self.power
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "end_lr": self.end_lr, "power": self.power}
