"""``fanet-train``: train FANet / FSFFNet on a dataset folder, resumable, best-by-val-mIoU.

Example::

    fanet-train --model fanet --dataset-root /data/camvid --layout camvid \\
        --height 384 --width 512 --batch-size 8 --epochs 100 --run-dir runs/fanet_camvid
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras

from fanet_ros.dataset_layouts import (
    CLASSES_FILE,
    LAYOUTS,
    DatasetError,
    Sample,
    drive_samples,
    find_samples,
    label_set_for_layout,
    read_classes_file,
    write_classes_file,
)
from fanet_ros.labels import LabelSet
from fanet_ros.model_metadata import Normalization
from fanet_ros.tooling.arguments import int_at_least
from fanet_training import run_state
from fanet_training.augment import PAD_FILLS, PRESETS, augment_config
from fanet_training.callbacks import (
    EpochRandomStreams,
    LearningRateRangeTest,
    RunCheckpoint,
    ValidationMeanIoU,
)
from fanet_training.class_weights import (
    CLASS_WEIGHTING,
    class_pixel_counts,
    class_weights,
    rarer_than_median,
)
from fanet_training.data import DataConfig, SegmentationDataset, split_by_drive
from fanet_training.data_checks import check_splits
from fanet_training.distill import Teacher
from fanet_training.distribute import (
    STRATEGIES,
    distribution_scope,
    use_mixed_precision,
)
from fanet_training.init_weights import init_from, resolve_weights_source
from fanet_training.losses import DistillationLoss, LovaszSoftmax, SegmentationCrossEntropy
from fanet_training.models import AUX_TAPS, MODELS, build_model, with_auxiliary_heads
from fanet_training.models.blocks import HEAD_DROPOUT_LAYER
from fanet_training.schedule import WarmupPolyDecay
from fanet_training.source_checks import check_source, held_out_drives
from fanet_training.weight_average import EMA, WeightAverage


@dataclass
class TrainConfig:
    model: str
    dataset_root: str
    layout: str
    run_dir: str
    height: int = 384
    width: int = 512
    batch_size: int = 8
    epochs: int = 100
    optimizer: str = "sgd"
    learning_rate: float = 0.045
    end_learning_rate: float = 1e-4
    warmup_epochs: float = 1.0
    ohem: float | None = None
    workers: int = 2
    cache: bool = False
    skip_corrupt: bool = False
    mixed_precision: str = "auto"
    distribute: str = "auto"
    steps_per_epoch: int | None = None
    """Limit the batches per epoch (quick runs); default: the whole train split."""
    seed: int = 0
    bn_momentum: float | None = None
    """Override every BatchNorm's momentum (e.g. 0.9 for short runs); default: the model's."""
    crop_height: int | None = None
    crop_width: int | None = None
    """Train on random crops of this size at the scale of ``height x width`` (validation
    stays at ``height x width``); default: whole frames."""
    normalization: dict = field(default_factory=lambda: asdict(Normalization()))
    """Pixels -> model input (``fanet_ros.model_metadata.Normalization``); recorded in
    config.json, from where fanet-export writes it into the model's metadata."""
    class_weighting: str = "sqrt-median-frequency"
    """Weight each pixel's loss by its class: ``median-frequency`` (SegNet's balancing),
    its square root (default: the campaign's choice, docs/training.md), or ``none``."""
    val_every: int = 1
    """Validate every N epochs (and after the last)."""
    init_from: str | None = None
    """Start from these weights (shipped model name, run folder or weights file)."""
    augment: str = "street"
    """Training augmentation preset (``fanet_training.augment.PRESETS``)."""
    aux_loss_weight: float | None = None
    """Deep supervision: weight of each auxiliary head's loss (0 = no auxiliary heads);
    ``None``: :data:`DEFAULT_AUX_LOSS_WEIGHT` where the model registers branches for it."""
    train_splits: str = "train"
    """Comma-separated splits to train on (``train,val`` for the final CamVid model)."""
    extra_train_root: str = ""
    """Another dataset of the same layout and classes whose ``train`` split joins the training
    frames, never scored (e.g. generated streets: ``python -m fanet_ros.synthetic``)."""
    holdout: str = ""
    """Comma-separated drives (frame-name prefixes) left out of training and scored as
    ``holdout`` at each validation: a measure of streets the model has not seen."""
    select: str = "best"
    """Weights to ship: ``best`` (best val mIoU; the held-out drive never picks them) or the
    ``last`` epoch."""
    copy_paste: float = 0.5
    """Probability that a training frame gets the rare classes' pixels (those rarer than the
    median class) of another training frame pasted over it (``augment.paste_objects``);
    the campaign's choice (docs/training.md)."""
    class_mix: float = 0.0
    """Probability that a training frame gets a random half of the classes of another
    training frame pasted over it (ClassMix; ``augment.half_of_the_classes``)."""
    weight_decay: float | None = None
    """Decoupled weight decay (AdamW / SGDW: each step shrinks a weight by ``lr * wd``) on
    convolution kernels; BatchNorm scales and offsets and biases are left out. ``None``:
    :data:`DEFAULT_ADAM_WEIGHT_DECAY` with Adam, 0 with SGD (not measured there)."""
    ema: float | None = None
    """Decay of an exponential moving average of the weights (``weight_average``; e.g.
    0.999): the average is scored (``{set}_miou``; the raw weights as ``{set}_raw_miou``)
    and ships; ``None``: no average, the raw weights ship."""
    distill_from: str | None = None
    """A teacher exported by fanet-export (``.onnx``): the student also learns its per-pixel
    class probabilities on every training batch (``fanet_training.distill``)."""
    distill_weight: float = 1.0
    """Weight of the distillation loss beside the labels' cross-entropy (weight 1)."""
    lovasz_weight: float = 0.0
    """Weight of a Lovász-softmax loss (``losses.LovaszSoftmax``, a surrogate of per-class
    IoU) on the main logits beside their cross-entropy (weight 1); 0: none."""
    pad_fill: str = "black"
    """Pixels of the border a zoom-out pads: ``black`` or the frame's ``mean`` colour."""
    head_dropout: float | None = None
    """Rate of the dropout the builders put on the class logits (``classifier_dropout``;
    training only); ``None``: the model's own (0.35 for FANet and FSFFNet)."""


DEFAULT_AUX_LOSS_WEIGHT = 0.4
"""Deep supervision's weight in the campaign's recipe (docs/training.md)."""
DEFAULT_ADAM_WEIGHT_DECAY = 0.5
"""AdamW's decay in the campaign's recipe (Adam at lr 0.002: 1e-3 per step at the peak)."""


def with_defaults_resolved(config: TrainConfig) -> TrainConfig:
    """``config`` with the model- and optimizer-dependent defaults filled in (what config.json
    records)."""
    if config.weight_decay is None:
        decay = DEFAULT_ADAM_WEIGHT_DECAY if config.optimizer == "adam" else 0.0
        config = replace(config, weight_decay=decay)
    if config.aux_loss_weight is not None:
        if config.aux_loss_weight and not AUX_TAPS.get(config.model):
            raise ValueError(f"--aux-loss-weight: model {config.model!r} registers no branches "
                             "for deep supervision; use 0")
        return config
    weight = DEFAULT_AUX_LOSS_WEIGHT if AUX_TAPS.get(config.model) else 0.0
    return replace(config, aux_loss_weight=weight)


def tensorboard_available() -> bool:
    """TensorBoard logs need the TensorFlow backend and the ``tensorboard`` package."""
    if keras.backend.backend() != "tensorflow" or importlib.util.find_spec("tensorboard") is None:
        print("no TensorBoard logs (needs the TensorFlow backend and `pip install tensorboard`)")
        return False
    return True


NO_WEIGHT_DECAY = ("gamma", "beta", "bias")
"""Variable names that ``--weight-decay`` leaves alone (BatchNorm scale/offset, biases)."""


def new_optimizer(name: str, learning_rate, weight_decay: float = 0.0
                  ) -> keras.optimizers.Optimizer:
    """SGD momentum 0.9 or Adam; with ``weight_decay``, decoupled (SGDW / AdamW)."""
    decay = weight_decay or None
    if name == "adam":
        optimizer = (keras.optimizers.AdamW(learning_rate, weight_decay=decay) if decay
                     else keras.optimizers.Adam(learning_rate))
    else:
        optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9, weight_decay=decay)
    if decay:
        optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD momentum 0.9 (or Adam) with warm-up + poly decay over the whole run."""
    total = config.epochs * steps_per_epoch
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    schedule = WarmupPolyDecay(config.learning_rate, total, warmup, config.end_learning_rate)
    return new_optimizer(config.optimizer, schedule, config.weight_decay)


def set_batchnorm_momentum(model: keras.Model, momentum: float) -> None:
    """Faster-moving BatchNorm statistics: with momentum 0.997 (the paper's) the running
    statistics need thousands of steps before inference-mode outputs mean anything."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def set_head_dropout(model: keras.Model, rate: float) -> None:
    """The rate of the dropout on the class logits (a layer without weights: checkpoints of
    either rate load into the other)."""
    model.get_layer(HEAD_DROPOUT_LAYER).rate = rate


def compile_model(config: TrainConfig, num_classes: int, optimizer,
                  class_weights: list[float] | None = None) -> tuple[keras.Model, keras.Model]:
    """``(training model, shipped model)`` at the training (crop) size, ending in logits.

    With ``aux_loss_weight`` the training model adds deep supervision's auxiliary outputs;
    the shipped model (the one checkpointed as best and exported) shares its layers.
    """
    size = (config.crop_height or config.height, config.crop_width or config.width, 3)
    model = build_model(config.model, num_classes, size, output="logits")
    trained = (with_auxiliary_heads(model, config.model, num_classes)
               if config.aux_loss_weight else model)
    if config.bn_momentum is not None:  # the shipped model's layers are among these
        set_batchnorm_momentum(trained, config.bn_momentum)
    if config.head_dropout is not None:
        set_head_dropout(model, config.head_dropout)
    loss = SegmentationCrossEntropy(ohem_threshold=config.ohem, from_logits=True,
                                    class_weights=class_weights)
    heads = len(trained.outputs)
    losses, weights = [loss] * heads, [1.0] + [config.aux_loss_weight] * (heads - 1)
    if config.lovasz_weight:  # the main logits once more, scored by the IoU surrogate
        lovasz = keras.layers.Activation("linear", dtype="float32", name="lovasz")
        trained = keras.Model(trained.inputs, [*trained.outputs, lovasz(model.outputs[0])])
        losses, weights = [*losses, LovaszSoftmax()], [*weights, config.lovasz_weight]
    if config.distill_from:  # the main logits once more, scored against the teacher
        distill = keras.layers.Activation("linear", dtype="float32", name="distill")
        trained = keras.Model(trained.inputs, [*trained.outputs, distill(model.outputs[0])])
        losses, weights = [*losses, DistillationLoss()], [*weights, config.distill_weight]
    if len(losses) == 1:
        trained.compile(optimizer=optimizer, loss=loss)
    else:
        trained.compile(optimizer=optimizer, loss=losses, loss_weights=weights)
    return trained, model


def datasets(config: TrainConfig, replicas: int
             ) -> tuple[SegmentationDataset, dict[str, SegmentationDataset]]:
    """The training batches and the evaluation sets by name (``val``, ``holdout``)."""
    crop = None
    if config.crop_height or config.crop_width:
        crop = (config.crop_height or config.height, config.crop_width or config.width)
        if crop[0] > config.height or crop[1] > config.width or crop[0] % 32 or crop[1] % 32:
            raise ValueError(f"--crop-height/--crop-width {crop[0]}x{crop[1]} must be multiples "
                             f"of 32 within {config.height}x{config.width}")
    targets = (1 + (len(AUX_TAPS.get(config.model, ())) if config.aux_loss_weight else 0)
               + (1 if config.lovasz_weight else 0))
    data = DataConfig(config.dataset_root, config.layout, config.height, config.width,
                      config.batch_size, config.workers, config.cache, config.skip_corrupt,
                      config.seed, crop, Normalization.from_dict(config.normalization),
                      replace(augment_config(config.augment), pad_fill=config.pad_fill), targets)
    if config.batch_size % replicas:
        raise ValueError(f"--batch-size {config.batch_size} must be a multiple of the "
                         f"{replicas} replicas")
    drives = held_out_drives(config.holdout)
    train_splits = [s for s in config.train_splits.split(",") if s]
    trained, held, evaluation = [], [], {}
    for split in dict.fromkeys(train_splits + ["val"]):
        kept, left_out = split_by_drive(find_samples(config.dataset_root, config.layout, split),
                                        drives)
        held += left_out
        if split in train_splits:
            trained += kept
        elif kept:
            evaluation["val"] = kept
    if {s.name for s in evaluation.get("val", [])} == {s.name for s in trained}:
        print("warning: val holds the very frames training uses (a folder dataset without "
              "images/val): its mIoU measures memory, not new streets, and --select best "
              "picks by it; give the dataset images/val + labels/val of another drive",
              flush=True)
    if drives and not held:
        raise ValueError(f"--holdout {config.holdout}: no frame of the dataset starts with "
                         f"{' or '.join(drives)}")
    if not trained:
        raise ValueError(f"--train-splits {config.train_splits} hold no frame outside the "
                         f"held-out drives")
    if held:
        evaluation["holdout"] = held
    label_set = label_set_for_layout(config.layout, config.dataset_root)
    if config.extra_train_root:
        trained += extra_frames_not_scored(extra_training_frames(config, label_set), trained,
                                           evaluation, drives, config.extra_train_root)
    check_splits([("train", trained), *evaluation.items()], config.layout, label_set,
                 config.skip_corrupt, config.workers)
    if config.copy_paste:
        data = replace(data, copy_paste=config.copy_paste,
                       paste_classes=paste_classes(trained, config.layout, label_set))
    data = replace(data, class_mix=config.class_mix)
    teacher = (Teacher(config.distill_from, label_set.num_classes, data.normalization)
               if config.distill_from else None)
    train_data = SegmentationDataset(data, "train", training=True, samples=trained,
                                     teacher=teacher)
    eval_data = {name: SegmentationDataset(data, name, training=False, samples=samples)
                 for name, samples in evaluation.items()}
    return train_data, eval_data


def extra_training_frames(config: TrainConfig, label_set: LabelSet) -> list[Sample]:
    """``--extra-train-root``'s training frames; refused unless its classes are the same (a
    ``folder`` dataset's ``classes.json``; other layouts have their layout's)."""
    root = config.extra_train_root
    extra_classes = label_set_for_layout(config.layout, root)
    if (extra_classes.class_names, extra_classes.ignore_label) != (label_set.class_names,
                                                                   label_set.ignore_label):
        raise ValueError(
            f"--extra-train-root {root}: its classes ({', '.join(extra_classes.class_names)}) "
            f"are not --dataset-root's ({', '.join(label_set.class_names)})")
    frames = find_samples(root, config.layout, "train")
    if not frames:
        raise ValueError(f"--extra-train-root {root} holds no {config.layout} train frames")
    print(f"training also on {len(frames)} frames of {root}", flush=True)
    return frames


def extra_frames_not_scored(extra: list[Sample], trained: list[Sample],
                            evaluation: dict[str, list[Sample]], drives: tuple[str, ...],
                            root: str) -> list[Sample]:
    """``extra``, refused when it holds a frame of a held-out drive or a scored frame the
    dataset root does not train on: the scores would then measure memory, not
    generalisation."""
    unseen = {s.name for split in evaluation.values() for s in split} - {s.name for s in trained}
    of_drives = {s.name for s in drive_samples(extra, drives)}
    leaked = [s.name for s in extra if s.name in unseen or s.name in of_drives]
    if leaked:
        raise ValueError(
            f"--extra-train-root {root}: {len(leaked)} of its frames are scored or of a "
            f"held-out drive ({', '.join(leaked[:3])}{', ...' if len(leaked) > 3 else ''}); "
            "leave them out of it")
    return extra


def paste_classes(samples: list[Sample], layout: str, label_set: LabelSet) -> tuple[int, ...]:
    """``--copy-paste``'s classes: those rarer than the median class in ``samples``' labels."""
    classes = rarer_than_median(*class_pixel_counts(samples, layout, label_set.num_classes))
    print("copy-paste carries " + ", ".join(label_set.class_names[c] for c in classes),
          flush=True)
    return classes


CLASS_WEIGHTS_FILE = "class_weights.json"
"""The run folder's class weights, with the method and the digest of the frames counted."""


def class_weights_for(config: TrainConfig, train_data: SegmentationDataset,
                      run_dir: Path) -> list[float] | None:
    """The run's class weights: computed from the training labels, kept in the run folder.

    The kept weights are reused only if they were computed by the same method from the same
    frames (a folder first used by ``--lr-find`` with another ``--class-weighting``, or
    restarted with another ``--holdout`` or ``--train-splits``, gets new ones).
    """
    if config.class_weighting == "none":
        return None
    path = run_dir / CLASS_WEIGHTS_FILE
    source = {"method": config.class_weighting, "layout": config.layout,
              "frames": frames_digest(train_data.samples)}
    if path.is_file():
        kept = run_state.read_json(path)
        if all(kept.get(key) == value for key, value in source.items()):
            return kept["weights"]
        print(f"{path} was computed {_weights_source_text(kept)}, this run trains "
              f"{_weights_source_text(source)}: computing the class weights again", flush=True)
    pixels, image_pixels = class_pixel_counts(train_data.samples, config.layout,
                                              train_data.label_set.num_classes)
    weights = class_weights(config.class_weighting, pixels, image_pixels)
    names = train_data.label_set.class_names
    print(f"class weights ({config.class_weighting}): "
          + ", ".join(f"{n} {w:.2f}" for n, w in zip(names, weights)), flush=True)
    run_state.write_json(path, {**source, "weights": weights, "pixels": pixels.tolist()})
    return weights


def check_resumed_frames(state: dict, steps: int, frames: list[Sample], run_dir: Path) -> None:
    """A resumed run keeps the steps per epoch and the training frames its state records
    (runs from before 2026-12-07 record no steps, from before 2026-12-08 no frames): frames
    added to (or taken from) the dataset since would move the learning-rate schedule, built
    on the steps, mid-run; other frames of the same count (another --extra-train-root) would
    change what it learns and its class weights. (Steps are not read from the optimizer's
    step count: mixed precision skips steps with overflowing gradients.)"""
    again = (f"Resume with the frames it trained on, or start a new --run-dir (--init-from "
             f"'{run_dir}' keeps its weights)")
    trained = state.setdefault("steps_per_epoch", steps)
    if trained != steps:
        raise ValueError(
            f"'{run_dir}' trained {state['epoch']} epochs of {trained} steps, and the dataset "
            f"now gives {steps} steps per epoch ({len(frames)} training frames): its frames "
            f"changed, which would move the learning-rate schedule mid-run. {again}")
    digest = frames_digest(frames)
    weights_file = run_dir / CLASS_WEIGHTS_FILE  # a run from before holds the digest there
    counted = run_state.read_json(weights_file).get("frames") if weights_file.is_file() else None
    recorded = state.setdefault("train_frames", counted or digest)
    if recorded != digest:
        raise ValueError(
            f"'{run_dir}' trained {state['epoch']} epochs on other frames than the "
            f"{len(frames)} its dataset roots give now (sha256 of their names {digest[:12]}, "
            f"recorded {recorded[:12]}). {again}")


def frames_digest(samples: list[Sample]) -> str:
    """sha256 of the frames' names, in order: which frames class weights were counted on."""
    return hashlib.sha256("\n".join(sorted(s.name for s in samples)).encode()).hexdigest()


def _weights_source_text(source: dict) -> str:
    frames = str(source.get("frames") or "unrecorded")[:12]
    return (f"by {source.get('method', 'an unrecorded method')} from {source.get('layout', '?')}"
            f" frames {frames}")


RESUME_MAY_CHANGE = frozenset({"dataset_root", "extra_train_root", "layout", "run_dir",
                               "workers", "cache",
                               "skip_corrupt", "mixed_precision", "distribute", "val_every",
                               "init_from"})
"""Options a resumed run may give anew: where its data and folder are, how the data loads,
what hardware runs it, how often it is scored. Every other option shapes the model, the
schedule, the loss or the frames, so a resumed run must repeat it."""


def resume_changes(saved: dict, config: TrainConfig) -> list[str]:
    """``--option saved -> now`` for each option a resume of ``saved`` (a run's config.json)
    would change; options the saved file lacks (runs older than the option) are not
    compared."""
    now = json.loads(json.dumps(asdict(config)))
    return [f"--{name.replace('_', '-')} {saved[name]!r} -> {value!r}"
            for name, value in now.items()
            if name not in RESUME_MAY_CHANGE and name in saved and saved[name] != value]


def train(config: TrainConfig, extra_callbacks: list | None = None, verbose: int = 1) -> dict:
    """Train (or resume) and return the run state (epoch, best val mIoU, history)."""
    config = with_defaults_resolved(config)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / run_state.STATE
    run_state.finish_commit(run_dir)
    state = run_state.read_json(state_path) if state_path.is_file() else {"epoch": 0}
    if state["epoch"]:
        saved = run_state.read_json(run_dir / run_state.CONFIG)
        changed = resume_changes(saved, config)
        if changed:
            raise ValueError(
                f"'{run_dir}' holds a run with other options ({'; '.join(changed)}): resume "
                f"it with the options in its {run_state.CONFIG}, or use a new --run-dir")
        if config.mixed_precision == "auto" and saved.get("mixed_precision") in ("on", "off"):
            # the run's own precision, whatever this machine has: a mixed-precision run's
            # optimizer state holds a loss scale that a float32 one cannot take, and back
            config = replace(config, mixed_precision=saved["mixed_precision"])
    mixed = use_mixed_precision(config.mixed_precision)
    config = replace(config, mixed_precision="on" if mixed else "off")  # what config.json keeps
    scope, replicas = distribution_scope(config.distribute)
    if config.select not in ("best", "last"):
        raise ValueError(f"--select {config.select!r}: one of best, last")
    average = WeightAverage(config.ema) if config.ema is not None else None  # checks --ema
    if config.distill_from and not config.distill_weight > 0:
        raise ValueError(f"--distill-weight {config.distill_weight}: must be positive")
    if not config.lovasz_weight >= 0:
        raise ValueError(f"--lovasz-weight {config.lovasz_weight}: must be 0 or more")
    if config.head_dropout is not None and not 0 <= config.head_dropout < 1:
        raise ValueError(f"--head-dropout {config.head_dropout}: a rate from 0 up to (not "
                         "including) 1")
    if config.pad_fill not in PAD_FILLS:
        raise ValueError(f"--pad-fill {config.pad_fill!r}: one of {', '.join(PAD_FILLS)}")
    check_sources(config)
    keep_classes_file(config, run_dir, resumed=bool(state["epoch"]))
    train_data, eval_data = datasets(config, replicas)
    if config.select == "best" and "val" not in eval_data:
        raise ValueError("--select best picks the epoch by val mIoU, and no val frame is left "
                         "to score (val is trained on, or the dataset has none): use --select "
                         "last (the held-out drives never choose the weights, or their score "
                         "would no longer measure unseen streets)")
    train_data.limit_steps(config.steps_per_epoch)
    steps = len(train_data)
    if state["epoch"]:  # before anything is written, or the class weights recounted
        check_resumed_frames(state, steps, train_data.samples, run_dir)
    else:  # what a resume must find again
        state["steps_per_epoch"], state["train_frames"] = steps, frames_digest(train_data.samples)
    run_state.write_json(run_dir / run_state.CONFIG, asdict(config))
    scored = ", ".join(f"{len(d.samples)} {name}" for name, d in eval_data.items()) or "none"
    print(f"{config.model} on {config.layout} '{config.dataset_root}': {len(train_data.samples)} "
          f"train images (scored: {scored}) at {config.height}x{config.width}, "
          f"{steps} steps/epoch, {replicas} replica(s), mixed precision "
          f"{'on' if mixed else 'off'}, backend {keras.backend.backend()}", flush=True)
    num_classes = train_data.label_set.num_classes
    class_weights = class_weights_for(config, train_data, run_dir)
    with scope:
        optimizer = make_optimizer(config, steps)
        model, ship_model = compile_model(config, num_classes, optimizer, class_weights)
        if state["epoch"]:
            run_state.load_checkpoint(model, run_dir / run_state.CHECKPOINT)
            print(f"resuming '{run_dir}' after epoch {state['epoch']} "
                  f"(optimizer step {int(model.optimizer.iterations)})", flush=True)
        elif config.init_from:
            initialise(model, config.init_from)
        if average is not None:
            attach_average(average, model, run_dir, resume=bool(state["epoch"]))
    def eval_model() -> keras.Model:
        return build_model(config.model, num_classes, (config.height, config.width, 3),
                           output="logits")

    monitor = None if config.select == "last" else "val_miou"
    callbacks = [ValidationMeanIoU(eval_data, train_data.label_set, eval_model, config.val_every,
                                   average),
                 RunCheckpoint(run_dir, state, ship_model, monitor, average=average),
                 EpochRandomStreams()]
    if average is not None:
        callbacks.insert(0, average)  # its step updates come before the epoch's scoring
    if tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(run_dir / "logs", update_freq="epoch"))
    train_data.start_at_epoch(state["epoch"])
    # shuffle=False: the dataset orders its frames by (seed, epoch) itself, so a resumed run
    # sees the batches an uninterrupted one would; Keras's own shuffle of the batch indices
    # draws from Python's global random state, which no checkpoint holds.
    model.fit(train_data, epochs=config.epochs, initial_epoch=state["epoch"],
              callbacks=callbacks + (extra_callbacks or []),
              verbose=verbose, shuffle=False)
    if train_data.skipped:
        print(f"skipped {len(train_data.skipped)} unreadable training images", flush=True)
    return state


def keep_classes_file(config: TrainConfig, run_dir: Path, resumed: bool) -> None:
    """A ``folder`` dataset's ``classes.json`` goes into the run folder, where export,
    evaluation and ``--init-from`` find the classes the run trained; a resumed run refuses a
    dataset whose classes changed since."""
    source = Path(config.dataset_root) / CLASSES_FILE
    kept = run_dir / CLASSES_FILE
    if config.layout != "folder" or not source.is_file():
        if resumed and kept.is_file():
            raise ValueError(f"'{run_dir}' trained the classes of its {CLASSES_FILE}, and "
                             f"'{source}' is gone: put it back, or use a new --run-dir")
        kept.unlink(missing_ok=True)  # an earlier start's, before its first epoch
        return
    classes = read_classes_file(source)
    if resumed and kept.is_file() and not same_classes(read_classes_file(kept), classes):
        raise ValueError(f"'{source}' is not the class table '{run_dir}' trained "
                         f"({kept}): restore it, or use a new --run-dir")
    if resumed and not kept.is_file():
        raise ValueError(f"'{run_dir}' trained CamVid's classes, and '{config.dataset_root}' "
                         f"now has a {CLASSES_FILE}: use a new --run-dir")
    write_classes_file(classes, kept)
    print(f"classes ({source}): {', '.join(classes.class_names)}", flush=True)


def same_classes(a: LabelSet, b: LabelSet) -> bool:
    """The same class table, whatever the sets are called (a dataset folder may move)."""
    return (a.class_names, a.colors, a.ignore_label) == (b.class_names, b.colors, b.ignore_label)


def check_sources(config: TrainConfig) -> None:
    """``--init-from`` weights and the ``--distill-from`` teacher did not train on the
    held-out drives, nor on val where this run scores it."""
    drives = held_out_drives(config.holdout)
    scores_val = "val" not in config.train_splits.split(",")
    options = {"scores_val": scores_val, "val_selects": scores_val and config.select == "best"}
    if config.init_from:
        check_source("--init-from", resolve_weights_source(config.init_from).path,
                     config.layout, drives, **options)
    if config.distill_from:
        check_source("--distill-from", Path(config.distill_from), config.layout, drives,
                     **options)


def attach_average(average: WeightAverage, model: keras.Model, run_dir: Path,
                   resume: bool) -> None:
    """``--ema``'s average follows ``model``, resumed from the run folder if it holds one."""
    average.set_model(model)
    path = run_dir / EMA
    if resume and path.is_file():
        average.load(path)
        print(f"weight average resumed after {average.updates} updates", flush=True)
    elif resume:
        print(f"no '{path}': the weight average starts from the resumed weights", flush=True)


def initialise(model: keras.Model, name_or_path: str) -> None:
    """``--init-from``: copy the matching weights in and say what stayed freshly initialised."""
    source = resolve_weights_source(name_or_path)
    skipped = init_from(model, source, lambda name, classes: build_model(name, classes))
    print(f"initialised from '{source.path}' ({source.model}, {source.num_classes} classes)"
          + (f"; kept fresh (shape differs or not in the source): {', '.join(skipped)}"
             if skipped else "; every layer copied"), flush=True)


def find_learning_rate(config: TrainConfig, steps: int, verbose: int = 1) -> float | None:
    """LR range test: exponential sweep 1e-5 -> 1, writes ``lr_find.json`` in the run folder."""
    config = with_defaults_resolved(config)
    use_mixed_precision(config.mixed_precision)
    train_data, _ = datasets(config, 1)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    test = LearningRateRangeTest(1e-5, 1.0, steps)
    optimizer = new_optimizer(config.optimizer, 1e-5, config.weight_decay)
    model, _ = compile_model(config, train_data.label_set.num_classes, optimizer,
                             class_weights_for(config, train_data, run_dir))  # training's loss
    model.fit(train_data, epochs=math.ceil(steps / len(train_data)), callbacks=[test],
              verbose=verbose, shuffle=False)
    suggestion = test.suggestion()
    print("learning rate -> smoothed loss")
    for rate, loss in test.history[:: max(1, len(test.history) // 20)]:
        print(f"  {rate:10.2e}  {loss:.4f}")
    print(f"steepest descent at {suggestion:.2e}" if suggestion else "too few steps to suggest")
    run_state.write_json(run_dir / "lr_find.json",
                         {"history": test.history, "suggested_learning_rate": suggestion})
    return suggestion


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="fanet")
    parser.add_argument("--dataset-root", required=True, help="dataset folder")
    parser.add_argument("--layout", choices=LAYOUTS, required=True,
                        help="folder layout (and label set) of the dataset")
    parser.add_argument("--run-dir", required=True,
                        help="run folder; an existing run there is resumed")
    parser.add_argument("--height", type=int, default=384, help="training height (x32)")
    parser.add_argument("--width", type=int, default=512, help="training width (x32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--steps-per-epoch", type=int_at_least(1), help="limit batches per epoch")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--learning-rate", type=float, default=0.045, help="peak LR")
    parser.add_argument("--end-learning-rate", type=float, default=1e-4)
    parser.add_argument("--warmup-epochs", type=float, default=1.0)
    parser.add_argument("--copy-paste", type=float, default=TrainConfig.copy_paste, metavar="P",
                        help="with probability P, paste the rare classes (rarer than the median "
                             "class: on CamVid pole, sign, fence, pedestrian, bicyclist) of "
                             "another training frame over a frame, flipped and shifted "
                             f"sideways at random; default {TrainConfig.copy_paste}, 0 turns "
                             "it off")
    parser.add_argument("--class-mix", type=float, default=TrainConfig.class_mix, metavar="P",
                        help="with probability P, paste a random half of the classes of "
                             "another training frame over a frame (ClassMix), flipped and "
                             "shifted sideways at random; default 0 (off)")
    parser.add_argument("--weight-decay", type=float, metavar="WD",
                        help="decoupled weight decay on convolution kernels (AdamW / SGDW: "
                             "a weight shrinks by lr * WD per step); default "
                             f"{DEFAULT_ADAM_WEIGHT_DECAY} with --optimizer adam, 0 with sgd")
    parser.add_argument("--ema", type=float, metavar="DECAY",
                        help="keep an exponential moving average of the weights (e.g. 0.999, "
                             "about the last 1000 steps), score it beside the raw weights "
                             "and ship it")
    parser.add_argument("--distill-from", metavar="ONNX",
                        help="knowledge distillation: also learn the class probabilities of "
                             "this teacher (a model exported by fanet-export, e.g. FSFFNet's) "
                             "on every training batch")
    parser.add_argument("--distill-weight", type=float, default=1.0, metavar="W",
                        help="weight of the distillation loss (default 1, beside the labels' "
                             "cross-entropy)")
    parser.add_argument("--lovasz-weight", type=float, default=0.0, metavar="W",
                        help="also train the main logits with the Lovász-softmax loss, a "
                             "surrogate of per-class IoU, at this weight (default 0: off)")
    parser.add_argument("--pad-fill", choices=PAD_FILLS, default=TrainConfig.pad_fill,
                        help="pixels of the border a zoom-out (--augment street) pads: black "
                             "(default) or the frame's mean colour")
    parser.add_argument("--head-dropout", type=float, metavar="R",
                        help="rate of the dropout on the class logits during training "
                             "(default: the model's, 0.35 for FANet and FSFFNet; 0: none)")
    parser.add_argument("--ohem", type=float, metavar="P",
                        help="OHEM: train on pixels whose true-class probability is below P")
    parser.add_argument("--workers", type=int, default=2, help="loader threads")
    parser.add_argument("--cache", action="store_true", help="keep decoded images in memory")
    parser.add_argument("--skip-corrupt", action="store_true",
                        help="skip unreadable images (counted) instead of stopping")
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                        help="mixed_float16; auto = only when a GPU is present")
    parser.add_argument("--distribute", choices=STRATEGIES, default="auto",
                        help="auto: all GPUs (Mirrored on TF, DataParallel on JAX)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bn-momentum", type=float, metavar="M",
                        help="BatchNorm momentum for every layer (0.9 suits short runs); "
                             "default: the architecture's (0.99, 0.997 in the fuse blocks)")
    parser.add_argument("--crop-height", type=int, metavar="H",
                        help="train on random HxW crops at the scale of --height x --width "
                             "(x32; cheaper steps, same object sizes); validation stays full size")
    parser.add_argument("--crop-width", type=int, metavar="W")
    parser.add_argument("--class-weighting", choices=CLASS_WEIGHTING,
                        default="sqrt-median-frequency",
                        help="weight rare classes up, from the training labels: "
                             "median-frequency (SegNet's balancing), its square root "
                             "(default, milder), or none")
    parser.add_argument("--val-every", type=int, default=1, metavar="N",
                        help="validate every N epochs and after the last (best weights are "
                             "picked among validated epochs)")
    parser.add_argument("--init-from", metavar="NAME|PATH",
                        help="start from weights: a shipped model (e.g. fanet_camvid), a run "
                             "folder or a .weights.h5; a different class count re-initialises "
                             "the classifier only")
    parser.add_argument("--augment", choices=sorted(PRESETS), default="street",
                        help="street: scale 0.5-2x, h-flips, wide photometric changes (blur, "
                             "noise, JPEG, gamma, colour temperature); legacy: the first models'")
    parser.add_argument("--aux-loss-weight", type=float, metavar="W",
                        help="deep supervision: auxiliary heads on the lower-resolution "
                             "branches, each loss weighted W (training only; not exported); "
                             f"default {DEFAULT_AUX_LOSS_WEIGHT} for models that register them "
                             "(fanet, fsffnet), else 0")
    parser.add_argument("--train-splits", default="train", metavar="S[,S]",
                        help="splits to train on, e.g. train,val for a final model")
    parser.add_argument("--extra-train-root", default="", metavar="DIR",
                        help="another dataset of the same layout and classes whose train split "
                             "joins the training frames, never scored (e.g. generated streets: "
                             "python -m fanet_ros.synthetic --out DIR)")
    parser.add_argument("--holdout", default="", metavar="DRIVE[,DRIVE]",
                        help="leave the frames of these drives (name prefixes, e.g. 0006R0) "
                             "out of training and score them as 'holdout'")
    parser.add_argument("--select", choices=("best", "last"), default="best",
                        help="weights to ship: the best val mIoU (val must not be trained "
                             "on; held-out drives never choose), or the last epoch")
    parser.add_argument("--lr-find", type=int, metavar="STEPS", nargs="?", const=100,
                        help="run a learning-rate range test of STEPS steps instead of training")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="1: progress bar, 2: one line per epoch (for log files)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration from ``fanet-train``'s parsed arguments (defaults unresolved)."""
    return TrainConfig(**{k: v for k, v in vars(args).items() if k not in ("lr_find", "verbose")})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from_args(args)
    keras.utils.set_random_seed(config.seed)
    try:
        if args.lr_find:
            find_learning_rate(config, args.lr_find, args.verbose)
            return 0
        state = train(config, verbose=args.verbose)
    except (DatasetError, ValueError) as exc:
        print(f"fanet-train: error: {exc}", file=sys.stderr)
        return 2
    monitor, best = state.get("monitor"), state.get("best_monitored")
    chosen = ("the last epoch" if monitor is None
              else f"best {monitor} {'n/a' if best is None else f'{100 * best:.2f}%'}")
    print(f"done: {state['epoch']} epochs; shipped weights: {chosen} at epoch "
          f"{state.get('best_epoch')}, in {Path(config.run_dir) / run_state.BEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
