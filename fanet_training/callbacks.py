"""Callbacks: validation mIoU over the whole split, per-epoch checkpoints, LR range test."""

from __future__ import annotations

import functools
import math
import threading
import time
from pathlib import Path

import keras
import numpy as np

from fanet_ros.labels import LabelSet
from fanet_ros.metrics import ConfusionMatrix
from fanet_training import run_state
from fanet_training.weight_average import EMA, WeightAverage, average_applied


def confusion_over(model: keras.Model, dataset: keras.utils.PyDataset,
                   label_set: LabelSet) -> ConfusionMatrix:
    """One confusion matrix of the model's arg-max over every batch of ``dataset``.

    ``model`` outputs class scores (logits or probabilities) at the labels' size and is
    built outside any distribution strategy, so its compiled ``predict_on_batch`` serves.
    """
    matrix = ConfusionMatrix(label_set.num_classes, label_set.ignore_label)
    for index in range(len(dataset)):
        images, labels = dataset[index]
        scores = keras.ops.convert_to_numpy(model.predict_on_batch(images))
        matrix.update(labels, scores.argmax(axis=-1))
    return matrix


class ValidationMeanIoU(keras.callbacks.Callback):
    """Scores the model on each evaluation set every ``every`` epochs and after the last.

    ``datasets`` maps a name to a split (``val``, ``holdout`` for a held-out drive); the logs
    get ``{name}_miou``, ``{name}_pixel_accuracy`` and ``{name}_iou_{class}``
    (fanet_ros.metrics over the whole set). The trained layers' weights are copied by name
    into a model that ``build_eval_model()`` builds once (same architecture at the
    validation size, without training-only heads), so training may run on smaller crops
    and the compiled predict function is traced only once. With a weight ``average``
    (``--ema``) those figures are the average's, the one that ships, and the raw weights
    add ``{name}_raw_miou``.
    """

    def __init__(self, datasets: dict[str, keras.utils.PyDataset], label_set: LabelSet,
                 build_eval_model, every: int = 1, average: WeightAverage | None = None) -> None:
        super().__init__()
        self.datasets = datasets
        self.label_set = label_set
        self.build_eval_model = build_eval_model
        self._eval_model: keras.Model | None = None
        self.every = max(1, every)
        self.average = average

    def _scores(self) -> dict:
        """Each set's scores with the training model's current weights."""
        if self._eval_model is None:
            self._eval_model = self.build_eval_model()
        copy_weights_by_name(self.model, self._eval_model)
        return {name: confusion_over(self._eval_model, dataset, self.label_set).scores(
            self.label_set) for name, dataset in self.datasets.items()}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        last = epoch + 1 == self.params.get("epochs")
        if not self.datasets or ((epoch + 1) % self.every and not last):
            return
        logs = {} if logs is None else logs
        started = time.perf_counter()
        figures = []
        if self.average is not None:
            for name, scores in self._scores().items():
                logs[f"{name}_raw_miou"] = scores.mean_iou
                figures.append(f"{name} mIoU of the raw weights {100 * scores.mean_iou:.2f}%")
        with average_applied(self.average):
            shipped = self._scores()
        for name, scores in shipped.items():
            logs[f"{name}_miou"] = scores.mean_iou
            logs[f"{name}_pixel_accuracy"] = scores.pixel_accuracy
            for class_name, iou in zip(self.label_set.class_names, scores.class_iou):
                logs[f"{name}_iou_{class_name.lower()}"] = float(iou)
            figures.append(f"{name} mIoU {100 * scores.mean_iou:.2f}% "
                           f"(pixel accuracy {100 * scores.pixel_accuracy:.2f}%)")
        seconds = time.perf_counter() - started
        logs["val_seconds"] = seconds
        print(f"\nepoch {epoch + 1}: {', '.join(figures)} ({seconds:.1f} s)", flush=True)


def copy_weights_by_name(source: keras.Model, target: keras.Model) -> None:
    """Every weighted layer of ``target`` takes the weights of ``source``'s layer of that name."""
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())


class StoppedTime:
    """Seconds the process spent stopped (SIGSTOP until SIGCONT) since it was made.

    A stopped process cannot observe its stop, so a daemon thread wakes every ``tick`` seconds
    and counts any wake-up later than ``tick + tolerance`` as stopped for the excess: it finds
    pauses of the campaign's kind (minutes) and ignores scheduling delays under ``tolerance``.
    """

    def __init__(self, tick: float = 1.0, tolerance: float = 10.0) -> None:
        self.tick = tick
        self.tolerance = tolerance
        self._stopped = 0.0
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="stopped-time", daemon=True).start()

    def _watch(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            if now - last > self.tick + self.tolerance:
                with self._lock:
                    self._stopped += now - last - self.tick
            last = now

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._stopped


@functools.cache
def process_stopped_time() -> StoppedTime:
    """The process's one :class:`StoppedTime`, started on first use."""
    return StoppedTime()


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: weights, optimizer state and ``state.json``; the weights to ship.

    ``checkpoint.weights.h5`` holds the whole training model (auxiliary heads included) and
    its optimizer's variables, to resume; ``best.weights.h5`` holds ``ship_model``'s weights
    (the model that is exported) of the epoch with the best ``monitor`` figure, or of the last
    epoch when ``monitor`` is ``None`` (a fixed schedule that ships its last epoch). An
    epoch's ``seconds`` leave out the time the process was stopped (``stopped_seconds``,
    recorded when there was any).
    With a weight ``average`` (``--ema``) the best weights are the average's, and the
    average is saved to resume.
    """

    def __init__(self, run_dir: Path, state: dict, ship_model: keras.Model,
                 monitor: str | None = "val_miou",
                 average: WeightAverage | None = None) -> None:
        super().__init__()
        self.average = average
        self.run_dir = run_dir
        self.state = state
        self.ship_model = ship_model
        self.monitor = monitor
        self._stopped = process_stopped_time()
        self._started = (0.0, 0.0)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = (time.monotonic(), self._stopped.seconds)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        stopped = self._stopped.seconds - self._started[1]
        record = {"epoch": epoch + 1,
                  "seconds": round(time.monotonic() - self._started[0] - stopped, 1)}
        if stopped:
            record["stopped_seconds"] = round(stopped, 1)
        record.update({k: float(v) for k, v in logs.items() if np.isscalar(v)})
        if self.monitor is None:
            improved = True
        else:
            value = record.get(self.monitor, float("nan"))
            improved = not math.isnan(value) and value > self.state.get(
                "best_monitored", self.state.get("best_val_miou", -1.0))
        if improved:
            self.state.update(best_epoch=epoch + 1, monitor=self.monitor,
                              best_monitored=record.get(self.monitor or "", None),
                              best_val_miou=record.get("val_miou"),
                              best_holdout_miou=record.get("holdout_miou"))
        self.state["epoch"] = epoch + 1
        self.state.setdefault("history", []).append(record)
        written = [run_state.CHECKPOINT]
        if improved:
            with average_applied(self.average):
                self.ship_model.save_weights(run_state.staged(self.run_dir / run_state.BEST))
            written.append(run_state.BEST)
        self.model.save_weights(run_state.staged(self.run_dir / run_state.CHECKPOINT))
        if self.average is not None:
            self.average.save(run_state.staged(self.run_dir / EMA))
            written.append(EMA)
        run_state.commit_epoch(self.run_dir, self.state, written)


class EpochRandomStreams(keras.callbacks.Callback):
    """Each epoch's dropout masks (and other layer randomness) depend on the epoch alone.

    Keras keeps a layer's random stream in a ``SeedGenerator`` variable that weights files
    leave out, so a resumed run replayed its first epoch's masks. Here each generator
    restarts every epoch at its seed (fixed by the run's seed) and a counter block of its
    own: a resumed run draws what an uninterrupted one would.
    """

    CALLS_PER_EPOCH = 1 << 20
    """Counter block per epoch: more draws per generator than any epoch makes."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        counter = (epoch * self.CALLS_PER_EPOCH) % (1 << 31)
        for variable in seed_generators(self.model):
            state = variable.numpy()
            variable.assign(np.array([state[0], counter], state.dtype))


def seed_generators(model: keras.Model) -> list:
    """The state variable of every ``keras.random.SeedGenerator`` in ``model`` (layers list
    them among their variables)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class LearningRateRangeTest(keras.callbacks.Callback):
    """Raises the learning rate exponentially each step and records the smoothed loss."""

    def __init__(self, start_lr: float, end_lr: float, steps: int, smoothing: float = 0.9) -> None:
        super().__init__()
        self.rates = np.geomspace(start_lr, end_lr, steps)
        self.smoothing = smoothing
        self.history: list[tuple[float, float]] = []
        self._average = 0.0
        self._previous_mean = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = len(self.history)
        if step >= len(self.rates):
            self.model.stop_training = True
            return
        self.model.optimizer.learning_rate = float(self.rates[step])

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Keras reports the epoch's running mean; recover this batch's own loss.
        mean = float((logs or {}).get("loss", float("nan")))
        loss = mean * (batch + 1) - (self._previous_mean * batch if batch else 0.0)
        self._previous_mean = mean
        step = len(self.history)
        if step >= len(self.rates):
            return
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** (step + 1))
        self.history.append((float(self.rates[step]), smoothed))
        best = min(s for _, s in self.history)
        if not math.isfinite(smoothed) or smoothed > 4 * best:
            self.model.stop_training = True

    def suggestion(self) -> float | None:
        """The rate where the smoothed loss falls fastest (per log-step of the rate)."""
        if len(self.history) < 3:
            return None
        rates, losses = np.array(self.history).T
        slopes = np.gradient(losses, np.log(rates))
        return float(rates[int(np.argmin(slopes))])
