"""``python -m fanet_training.campaign_report``: the campaign's tables from its run folders.

Reads ``campaign/*/config.json`` and ``state.json`` (written by ``fanet-train``) and
prints, or writes into the ``campaign-recipes`` and ``campaign-runs`` blocks of
docs/training.md, one row per run: the recipe, epochs done, the last validation's val
and held-out-drive mIoU, the held-out mIoU averaged over the last three validations
(one validation moves by a point or two; for ``--ema`` runs the average's, with the raw
weights' beside the last), the mean held-out mIoU over
``fanet-robustness``'s degradations (dark, low contrast, blur, noise, JPEG) where the
run folder has its ``robustness.json``, and the thin classes' held-out IoU.

Example::

    python -m fanet_training.campaign_report campaign --docs docs/training.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from fanet_ros.tooling.markdown_blocks import update_file_block

THIN = ("pole", "signsymbol", "fence", "pedestrian", "bicyclist")
RECIPE_KEYS = (("augment", "legacy"), ("optimizer", "adam"), ("learning_rate", 0.002),
               ("end_learning_rate", 0.0001),
               ("aux_loss_weight", 0.0), ("class_weighting", "none"),
               ("ohem", None), ("weight_decay", 0.0), ("copy_paste", 0.0), ("class_mix", 0.0),
               ("ema", None), ("distill_from", None), ("distill_weight", 1.0),
               ("lovasz_weight", 0.0), ("head_dropout", None), ("pad_fill", "black"),
               ("extra_train_root", ""),
               ("height", 384), ("width", 512),
               ("crop_height", 288), ("crop_width", 384), ("seed", 0))


def recipe(config: dict) -> str:
    """What a run changes from the first shipped model's recipe (and from the campaign's
    288x384 crops and its Adam 2e-3 decaying to 1e-4 in 40 epochs), in fanet-train's flags."""
    parts = [f"--augment {config.get('augment', 'legacy')}"]
    for key, default in RECIPE_KEYS[1:]:
        if config.get(key, default) != default:
            parts.append(f"--{key.replace('_', '-')} {config[key]}")
    return " ".join(parts)


def scored_epochs(history: list[dict]) -> list[dict]:
    """The epoch records that hold validation figures."""
    return [h for h in history if "val_miou" in h or "holdout_miou" in h]


def mean_of_last(records: list[dict], key: str, count: int = 3) -> float | None:
    """Mean of ``key`` over the last ``count`` records that have it (steadier than one)."""
    values = [r[key] for r in records if key in r][-count:]
    return statistics.fmean(values) if values else None


def degraded_mean(robustness: dict | None) -> float | None:
    """Mean held-out mIoU over the degradations of a ``fanet-robustness`` report."""
    if not robustness:
        return None
    return statistics.fmean(r["mean_iou"] for name, r in robustness["results"].items()
                            if name != "clean")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def holdout_cell(record: dict) -> str:
    """The held-out mIoU in bold; for ``--ema`` runs (the average's) with the raw weights'."""
    cell = f"**{percent(record.get('holdout_miou'))}**"
    if "holdout_raw_miou" in record:
        cell += f" (raw {percent(record['holdout_raw_miou'])})"
    return cell


def run_row(run_dir: Path) -> tuple[str, list[str]] | None:
    """``(stage name, table cells)`` of one run folder, or None when it has no state yet."""
    if not (run_dir / "state.json").is_file():
        return None
    config = json.loads((run_dir / "config.json").read_text())
    state = json.loads((run_dir / "state.json").read_text())
    history = state.get("history", [])
    records = scored_epochs(history)
    scored = records[-1] if records else {}
    seconds = [h["seconds"] for h in history if "seconds" in h]
    robustness = (json.loads((run_dir / "robustness.json").read_text())
                  if (run_dir / "robustness.json").is_file() else None)
    cells = [f"`{run_dir.name}`", config["model"], f"`{recipe(config)}`",
             f"{state['epoch']} / {config['epochs']}",
             f"{statistics.median(seconds):.0f}" if seconds else "-",
             str(scored.get("epoch", "-")),
             percent(scored.get("val_miou")), holdout_cell(scored),
             percent(mean_of_last(records, "holdout_miou")), percent(degraded_mean(robustness)),
             *(percent(scored.get(f"holdout_iou_{c}")) for c in THIN)]
    return run_dir.name, cells


def table(rows: list[list[str]]) -> str:
    if not rows:
        return "(no run yet)"
    header = ["run", "model", "recipe", "epochs", "s / epoch", "scored at", "val mIoU",
              "held-out mIoU", "held-out, mean of last 3", "held-out degraded",
              *(f"held-out {c}" for c in THIN)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("campaign", type=Path, help="the folder of the campaign's run folders")
    parser.add_argument("--docs", type=Path, help="Markdown file whose campaign-recipes and "
                                                  "campaign-runs blocks to rewrite")
    args = parser.parse_args(argv)
    rows = [row for d in sorted(args.campaign.iterdir()) if d.is_dir() and (row := run_row(d))]
    if not rows:
        print(f"campaign_report: error: no run with a state.json in '{args.campaign}'",
              file=sys.stderr)
        return 2
    recipes = table([cells for name, cells in rows if name.startswith("recipe_")])
    long_runs = table([cells for name, cells in rows if not name.startswith("recipe_")])
    print(recipes, long_runs, sep="\n\n")
    if args.docs:
        update_file_block(args.docs, "campaign-recipes", recipes)
        update_file_block(args.docs, "campaign-runs", long_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
