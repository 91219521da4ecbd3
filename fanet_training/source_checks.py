"""``--init-from`` and ``--distill-from`` sources must not have trained on what the run scores.

A run that holds drives out (``--holdout``) scores them as streets it has never seen. Weights
or a teacher trained on those frames carry what they learnt of them into the run, and the
held-out score would overstate unseen streets. The same goes for val: a source trained on val
makes the run's val figures optimistic, and must not steer ``--select best``, which picks the
epoch by val. The source's run folder (its ``config.json``, beside the weights or the exported
``.onnx``) says which frames it trained on; a source without one cannot be checked and gets a
warning.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fanet_training import run_state


def held_out_drives(holdout: str) -> tuple[str, ...]:
    """``--holdout``'s drive name prefixes (``"0006R0,0001TP"`` -> two)."""
    return tuple(d for d in holdout.split(",") if d)


def check_source(option: str, path: Path, layout: str, drives: tuple[str, ...],
                 scores_val: bool = False, val_selects: bool = False) -> None:
    """Refuse a source whose run config says it trained on any of ``drives`` of ``layout``,
    or on val when val picks this run's epoch (``val_selects``); warn when it trained on val
    and this run only scores it (``scores_val``).

    ``path``: a run folder, or a file in one. Another layout (dataset) shares no frames; a
    source without a run config is allowed with a warning on stderr.
    """
    scores_val = scores_val or val_selects
    if not drives and not scores_val:
        return
    config_path = (path if path.is_dir() else path.parent) / run_state.CONFIG
    scored = [f"drive {', '.join(drives)}"] * bool(drives) + ["val"] * scores_val
    if not config_path.is_file():
        print(f"warning: {option} '{path}': no {run_state.CONFIG} beside it says which frames "
              f"it trained on; if they include {' or '.join(scored)}, this run's score of them "
              "is optimistic", file=sys.stderr, flush=True)
        return
    config = run_state.read_json(config_path)
    if config.get("layout") != layout:
        return
    left_out = held_out_drives(config.get("holdout", ""))
    trained = [d for d in drives if not any(d.startswith(out) for out in left_out)]
    if trained:
        raise ValueError(
            f"{option} '{path}' trained on drive {', '.join(trained)} ({config_path} holds out "
            f"{', '.join(left_out) or 'nothing'}), which this run holds out: what it learnt of "
            "those streets would leak into the held-out score; use a source trained with "
            f"--holdout {','.join(drives)}, or drop --holdout")
    if not scores_val or "val" not in config.get("train_splits", "train").split(","):
        return
    if val_selects:
        raise ValueError(
            f"{option} '{path}' trained on val ({config_path}: --train-splits "
            f"{config['train_splits']}), and --select best picks this run's epoch by val mIoU: "
            "use --select last, or a source trained without val")
    print(f"warning: {option} '{path}' trained on val ({config_path}: --train-splits "
          f"{config['train_splits']}): this run's val mIoU is optimistic; judge it by a "
          "held-out drive", file=sys.stderr, flush=True)
