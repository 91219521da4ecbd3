"""``python -m fanet_training.model_card``: write the model card of an exported model.

Everything in the card comes from files the tools wrote: the run's
``config.json`` and ``state.json`` (fanet-train), the ``metrics.json`` of
``fanet-evaluate`` and the ONNX file itself, so the card can be regenerated.

Example::

    python -m fanet_training.model_card runs/fanet_camvid \\
        --metrics runs/fanet_camvid/eval/metrics.json --onnx fanet_ros/models/fanet_camvid.onnx \\
        --output fanet_ros/models/fanet_camvid.md --title ... --data-note ... --export-command ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
from pathlib import Path

from fanet_ros.model_metadata import Normalization
from fanet_ros.runtime.onnxruntime_backend import load_session
from fanet_ros.tooling.host import cpu_model

TRAIN_OPTIONS = (
    "model", "dataset_root", "layout", "height", "width", "batch_size", "epochs", "optimizer",
    "learning_rate", "end_learning_rate", "warmup_epochs", "bn_momentum", "ohem", "seed",
    "crop_height", "crop_width", "class_weighting", "val_every", "init_from", "augment",
    "aux_loss_weight", "copy_paste", "class_mix", "weight_decay", "ema", "distill_from",
    "distill_weight", "lovasz_weight", "head_dropout", "pad_fill", "train_splits", "holdout",
    "select", "steps_per_epoch", "extra_train_root",
)
DEFAULTS = {"train_splits": "train", "holdout": "", "select": "best", "distill_weight": 1.0,
            "lovasz_weight": 0.0, "class_mix": 0.0, "head_dropout": None,
            "pad_fill": "black", "extra_train_root": ""}
"""Options left out of the reproduce command when they have these values (what a plain
training run does); the recipe's options are always written out."""
ADDED_AS_NO_CHANGE = frozenset({
    "ohem", "crop_height", "crop_width", "init_from", "class_mix", "ema", "distill_from",
    "distill_weight", "lovasz_weight", "head_dropout", "pad_fill", "holdout",
    "steps_per_epoch", "extra_train_root"})
"""Options whose default, when they were added, kept what fanet-train did before: a config
that does not record them ran with that default."""


def portable_folders(config: dict) -> dict:
    """``config`` with this machine's folders replaced by placeholders (cards go into the
    repository): the dataset as ``/data/<name>``, absolute run folders (``run_dir``,
    ``init_from``) as ``runs/<name>``."""
    portable = {**config, "dataset_root": str(Path("/data") / Path(config["dataset_root"]).name)}
    if config.get("extra_train_root"):
        portable["extra_train_root"] = str(Path("/data") / Path(config["extra_train_root"]).name)
    for key in ("run_dir", "init_from"):
        if config.get(key) and Path(config[key]).is_absolute():
            portable[key] = str(Path("runs") / Path(config[key]).name)
    return portable


def this_machine() -> str:
    """CPU model and core count (and 'no GPU' unless told otherwise)."""
    return f"{os.cpu_count()} CPU cores ({cpu_model()}), no GPU"


def train_command(config: dict) -> str:
    """The ``fanet-train`` command of a run's ``config.json``; options the config does not
    record (a run of an older fanet-train) are named in a comment after it, since today's
    defaults for them may train another recipe."""
    parts = ["fanet-train"]
    for key in TRAIN_OPTIONS:
        value = config.get(key)
        if value is None or DEFAULTS.get(key, object()) == value:
            continue
        parts.append(f"--{key.replace('_', '-')} {value}")
    if config.get("cache"):
        parts.append("--cache")
    parts.append(f"--run-dir {config['run_dir']}")
    command = " \\\n    ".join(parts)
    unrecorded = [f"--{key.replace('_', '-')}" for key in TRAIN_OPTIONS
                  if key not in config and key not in ADDED_AS_NO_CHANGE]
    if unrecorded:
        command += ("\n# run by an older fanet-train, whose config.json does not record "
                    f"{', '.join(unrecorded)}: today's defaults for them may train another "
                    "recipe")
    return command


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def chosen_by(state: dict) -> str:
    """Why these weights ship: the last epoch of a fixed schedule, or the best figure."""
    if "monitor" in state and state["monitor"] is None:
        return "the last epoch of a fixed schedule"
    return "best held-out mIoU" if state.get("monitor") == "holdout_miou" else "best val mIoU"


def per_epoch_scoring(config: dict, history: list[dict]) -> str:
    """What the per-epoch table scores, for its heading."""
    if not any(h.get("val_miou") is not None or h.get("holdout_miou") is not None
               for h in history):
        return "no frame is scored while training: every split is trained on"
    every = config.get("val_every", 1)
    return (f"mIoU at {config['height']}x{config['width']}, "
            + ("every epoch" if every == 1 else f"every {every} epochs")
            + "; held out: the drives left out of training")


def held_out_row(report: dict | None, schedule_run: Path | None = None) -> list[str]:
    """The header table's held-out figure: the robustness report's clean frames, scored
    with ``schedule_run``'s weights when the card's own run trained on those drives."""
    if not report or not report.get("drives"):
        return []
    clean = report["results"]["clean"]
    drives = ", ".join(report["drives"])
    whose = (f"scored with `{schedule_run.name}`, the same recipe and schedule trained without "
             f"{drives}: these weights trained on it" if schedule_run is not None else
             "a drive the scored weights never trained on")
    return [f"| held-out drive mIoU | **{100 * clean['mean_iou']:.2f} %** "
            f"({report['frames']} frames of {drives}, {whose}; pixel accuracy "
            f"{100 * clean['pixel_accuracy']:.2f} %) |"]


def schedule_section(run_dir: Path, state: dict) -> list[str]:
    """The held-out curve of the schedule's twin run (the same recipe and epochs without the
    held-out drive): how the fixed schedule was judged."""
    scored = [h for h in state.get("history", []) if h.get("holdout_miou") is not None]
    if not scored:
        return []
    return ["## The schedule on a held-out drive", "",
            f"`{run_dir.as_posix()}` trained the same recipe and schedule without the held-out "
            "drive; its held-out mIoU by epoch shows where the schedule ends "
            "(still rising or flat: the last epoch is a sound choice):", "",
            "| epoch | held-out mIoU (%) |", "|---:|---:|",
            *(f"| {h['epoch']} | {percent(h['holdout_miou'])} |" for h in scored), ""]


def robustness_section(report: dict, schedule_run: Path | None = None) -> list[str]:
    """The card's robustness table from a ``fanet-robustness --output`` report (of
    ``schedule_run``'s export when given)."""
    from fanet_ros.evaluation.robustness import markdown_table

    where = (f"{report['split']} frames of drive(s) {', '.join(report['drives'])}"
             if report.get("drives") else f"the {report['split']} split")
    model = report["model"]
    if schedule_run is not None:
        model = f"{schedule_run.as_posix()}/{model}"
        where += (f", by `{schedule_run.name}` (`fanet-export {schedule_run.as_posix()} "
                  f"--output {model}`)")
    return ["## Robustness", "",
            f"mIoU on {report['frames']} {where}, as they are and degraded "
            f"(`fanet-robustness {model} --dataset-root /data/camvid --split "
            f"{report['split']}" + (f" --drives {','.join(report['drives'])}"
                                    if report.get("drives") else "") + "`):",
            "", markdown_table(report), ""]


def pixels_text(normalization) -> str:
    """What the model's input pixels are, from its metadata's normalisation."""
    if normalization == Normalization():
        return "RGB in [0, 1]"
    return (f"RGB as (pixel x {normalization.scale:g} - mean) / std, mean "
            f"{list(normalization.mean)}, std {list(normalization.std)}")


def input_size_text(meta) -> str:
    """``384x512``, or for a dynamic model the default size and the rule."""
    size = f"{meta.input_height}x{meta.input_width}"
    if not meta.dynamic_size:
        return size
    return (f"{size} by default (any HxW whose sides are multiples of {meta.size_multiple}: "
            "node parameters input_height / input_width)")


RESOLUTION_BLOCK = "resolution_table"
"""The card's generated block that ``python -m bench.resolution_table --card`` and
``python -m bench.render_performance`` rewrite."""


def resolution_section(data: dict) -> str:
    """The input resolution -> val mIoU and CPU ms table of a ``bench.resolution_table``
    result (``bench/results/resolution_<model>.json``)."""
    holdout = data.get("holdout")
    rows = [
        f"| {row['input']}{' (default)' if row['input'] == data['native_size'] else ''} | "
        f"{100 * row['val_miou']:.2f} | "
        + (f"{100 * row['holdout_miou']:.2f} | " if holdout else "")
        + f"{row['inference_ms']:.1f} | {row['frame_ms']:.1f} |"
        for row in data["sizes"]
    ]
    held = (f" Held-out mIoU: `{Path(holdout['model']).parent.name}`, the same recipe trained "
            f"without drive {holdout['drives']}, on that drive's {holdout['frames']} frames "
            "at each size (val's drive is trained on; this one never was)." if holdout else "")
    return "\n".join([
        f"Val mIoU over {data['val_frames']} val frames ({data['frame_size']}, labels scored at "
        "that resolution) and CPU milliseconds (ONNX Runtime, medians of "
        f"{data['rounds']} x {data['runs']} runs per size in one run, sizes alternating; "
        f"{data['machine']['cores']} cores of a shared {data['machine']['cpu']}). `inference`: the "
        "ONNX Runtime run; `frame`: the whole `Segmenter` call (resize, inference, labels at "
        f"{data['frame_size']}). Sides must be multiples of 32.{held} `{data['command']}`",
        "",
        "| input (HxW) | val mIoU (%) | " + ("held-out mIoU (%) | " if holdout else "")
        + "inference ms | frame ms |",
        "|---|---:|" + ("---:|" if holdout else "") + "---:|---:|",
        *rows,
    ])


def card_facts(card: Path) -> dict[str, str]:
    """What :func:`card_markdown` put at the top of a card: its ``title`` and the rows of
    its header table (``data``, ``epochs``, ``hardware``, ``val mIoU``, ...)."""
    lines = card.read_text().splitlines()
    facts = {"title": lines[0].removeprefix("# ").strip()}
    start = lines.index("| | |") + 2
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        key, value = (cell.strip() for cell in line.strip("|").split("|", 1))
        facts[key] = value
    return facts


def card_figure(value: str) -> str:
    """The bold figure of a card row (``**57.99 %** (fanet-evaluate ...)`` -> ``57.99 %``)."""
    return value.split("**")[1] if value.count("**") >= 2 else value


def shipped_models_table(models_dir: Path, link_prefix: str = "") -> str:
    """The README's table of the shipped models, from each ONNX file's metadata and its
    card (``<name>.md`` beside it); ``link_prefix``: the cards' folder as the README
    links it."""
    import onnx

    from fanet_ros.model_metadata import metadata_of_proto

    rows = []
    for path in sorted(models_dir.glob("*.onnx")):
        card = path.with_suffix(".md")
        if not card.is_file():
            continue
        facts = card_facts(card)
        meta = metadata_of_proto(onnx.load(str(path), load_external_data=False), path)
        role = facts["title"].rsplit("(", 1)[1].rstrip(")") if facts["title"].endswith(")") \
            else ""
        size = f"{meta.input_height}x{meta.input_width}" + (
            f", any multiple of {meta.size_multiple}" if meta.dynamic_size else "")
        epochs = facts.get("epochs", "-").split(" of ")[0]
        held_out = facts.get("held-out drive mIoU")
        rows.append([f"`{path.name}`" + (f" ({role})" if role else ""),
                     f"{meta.model}, {meta.dataset}, {meta.num_classes} classes", size,
                     f"{epochs} epochs, {facts.get('hardware', '-')}",
                     card_figure(facts.get("val mIoU", "-")),
                     *([card_figure(held_out)] if held_out else []),
                     f"[{card.name}]({link_prefix}{card.name})"])
    held_out = any(len(row) == 7 for row in rows)
    header = ["file", "model, dataset", "input", "trained", "val mIoU",
              *(["held-out drive mIoU"] if held_out else []), "card"]
    if held_out:
        rows = [row if len(row) == 7 else [*row[:5], "-", row[5]] for row in rows]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(row) + " |" for row in rows)])


def card_markdown(run_dir: Path, metrics: dict, onnx_path: Path, title: str, hardware: str,
                  data_note: str, export_command: str, notes: str = "",
                  robustness: dict | None = None, extra_sections: str = "",
                  resolution: dict | None = None, schedule_run: Path | None = None) -> str:
    from fanet_training import run_state  # imports Keras: only where a card is written

    config = portable_folders(run_state.read_json(run_dir / run_state.CONFIG))
    state = run_state.read_json(run_dir / run_state.STATE)
    _, meta = load_session(onnx_path)
    history = state.get("history", [])
    epoch_s = [h.get("seconds", 0.0) for h in history] or [0.0]
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    split = metrics.get("split", "val")
    lines = [
        f"# {title}",
        "",
        f"`{onnx_path.name}`: {meta.model} with {meta.num_classes} classes "
        f"({', '.join(meta.class_names)}), input {input_size_text(meta)} "
        f"{pixels_text(meta.normalization)}, output {meta.output}. sha256 `{digest[:16]}…`, "
        f"{onnx_path.stat().st_size / 1e6:.1f} MB.",
        "",
        "| | |",
        "|---|---|",
        f"| data | {data_note} |",
        f"| training resolution | {config['height']}x{config['width']}"
        + (f", random {config['crop_height']}x{config['crop_width']} crops at that scale"
           if config.get("crop_height") else "") + " |",
        f"| epochs | {state.get('epoch')} of {config['epochs']} planned "
        f"(weights of epoch {state.get('best_epoch')}, {chosen_by(state)}) |",
        f"| training wall time | {sum(epoch_s) / 60:.0f} min (median epoch "
        f"{statistics.median(epoch_s):.0f} s) |",
        f"| hardware | {hardware} |",
        f"| {split} mIoU | **{100 * metrics['mean_iou']:.2f} %** "
        f"(fanet-evaluate, {metrics['input_size'][0]}x{metrics['input_size'][1]} input, "
        f"scored at the labels' resolution) |",
        f"| {split} pixel accuracy | {100 * metrics['pixel_accuracy']:.2f} % |",
        *held_out_row(robustness, schedule_run),
        "",
        f"## {split.capitalize()} IoU per class",
        "",
        "| class | IoU (%) |",
        "|---|---:|",
        *(f"| {name} | {'n/a' if iou is None else f'{100 * iou:.2f}'} |"
          for name, iou in metrics["class_iou"].items()),
        "",
        f"## Per epoch ({per_epoch_scoring(config, history)})",
        "",
        "| epoch | loss | val mIoU (%) | held-out mIoU (%) | seconds |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {h['epoch']} | {h.get('loss', float('nan')):.3f} | "
          f"{percent(h.get('val_miou'))} | {percent(h.get('holdout_miou'))} | "
          f"{h.get('seconds', 0):.0f} |"
          for h in history),
        "",
        "## Reproduce",
        "",
        "```bash",
        train_command(config),
        f"fanet-evaluate {config['run_dir']} --dataset-root {config['dataset_root']} "
        f"--output-dir {config['run_dir']}/eval",
        export_command,
        "```",
        "",
    ]
    if resolution is not None:
        lines += ["## Input resolution", "", f"<!-- {RESOLUTION_BLOCK}:start -->",
                  resolution_section(resolution), f"<!-- {RESOLUTION_BLOCK}:end -->", ""]
    if schedule_run is not None:
        lines += schedule_section(schedule_run,
                                  run_state.read_json(schedule_run / run_state.STATE))
    if robustness:
        lines += robustness_section(robustness, schedule_run)
    if extra_sections:
        lines += [extra_sections.strip(), ""]
    if notes:
        lines += ["## Limitations", "", notes, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--metrics", type=Path, required=True, help="fanet-evaluate metrics.json")
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--data-note", required=True, help="the data and its licence")
    parser.add_argument("--export-command", required=True)
    parser.add_argument("--hardware", default=this_machine())
    parser.add_argument("--notes", default="", help="limitations and intended use")
    parser.add_argument("--robustness", type=Path, help="fanet-robustness --output report")
    parser.add_argument("--extra-sections", type=Path,
                        help="Markdown file appended before the limitations (sections that "
                             "a command wrote)")
    parser.add_argument("--schedule-run", type=Path,
                        help="the schedule's twin run without the held-out drive: adds its "
                             "held-out mIoU by epoch")
    parser.add_argument("--resolution-table", type=Path,
                        help="bench.resolution_table's result JSON: adds the input "
                             "resolution -> val mIoU and CPU ms table")
    args = parser.parse_args(argv)
    metrics = json.loads(args.metrics.read_text())
    resolution = (json.loads(args.resolution_table.read_text()) if args.resolution_table
                  else None)
    args.output.write_text(card_markdown(args.run_dir, metrics, args.onnx, args.title,
                                         args.hardware, args.data_note, args.export_command,
                                         args.notes,
                                         json.loads(args.robustness.read_text())
                                         if args.robustness else None,
                                         args.extra_sections.read_text()
                                         if args.extra_sections else "", resolution,
                                         args.schedule_run))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
