"""``--init-from`` and ``--distill-from`` sources must not have trained on the held-out drives.

A run that holds drives out (``--holdout``) scores them as streets it has never seen. Weights
or a teacher trained on those frames carry what they learnt of them into the run, and the
held-out score would overstate unseen streets. The source's run folder (its ``config.json``,
beside the weights or the exported ``.onnx``) says which drives it left out; a source without
one cannot be checked and gets a warning.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fanet_training import run_state


def held_out_drives(holdout: str) -> tuple[str, ...]:
    """``--holdout``'s drive name prefixes (``"0006R0,0001TP"`` -> two)."""
    return tuple(d for d in holdout.split(",") if d)


def check_source_held_out(option: str, path: Path, layout: str,
                          drives: tuple[str, ...]) -> None:
    """Refuse a source whose run config says it trained on any of ``drives`` of ``layout``.

    ``path``: a run folder, or a file in one. Another layout (dataset) shares no frames; a
    source without a run config is allowed with a warning on stderr.
    """
    if not drives:
        return
    config_path = (path if path.is_dir() else path.parent) / run_state.CONFIG
    if not config_path.is_file():
        print(f"warning: {option} '{path}': no {run_state.CONFIG} beside it says which frames "
              f"it trained on; if they include drive {', '.join(drives)}, the held-out score "
              "overstates unseen streets", file=sys.stderr, flush=True)
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
