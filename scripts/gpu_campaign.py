#!/usr/bin/env python3
"""Run campaign stages on a GPU box through the offline GPU pack, against a deadline.

    python3 scripts/gpu_campaign.py PACK WORK OUT [--stages fsffnet_final ...] \\
        [--deadline-s 470] [--snapshot-every 60] [--max-files 8] [--max-mib 62]

Each stage (``scripts/campaign_stages.sh``: the same fanet-train flags as the CPU campaign,
data from the pack, mixed precision off so a run can resume on a CPU) trains side by side
with the others, one ``PACK/run.py`` each, into ``WORK/<stage>``. Every ``--snapshot-every``
seconds and at the end, ``OUT`` gets what is needed to go on elsewhere, sized for a transfer
limit (``--max-files`` files of at most ``--part-mib``, ``--max-mib`` in all):
``logs.tar.gz`` (every log and state.json), then per stage a tar split into
``<stage>.tar.NN`` parts: a finished run's ``best.weights.h5`` and state, an unfinished run's
checkpoint and optimizer (resumable with ``scripts/campaign.sh`` once unpacked into
``campaign/<stage>``). Finished runs go first, then the runs with the most epochs (what would
cost most to redo); a stage that does not fit is left out and says so. At the deadline the
runs are interrupted (a run loses at most the epoch in progress). Standard library only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_FILES = ("state.json", "config.json", "class_weights.json")
UNFINISHED_FILES = ("checkpoint.weights.h5", "ema.npz")  # checkpoint: optimizer too; ema: --ema
FINISHED_FILES = ("best.weights.h5",)
MIB = 1 << 20


def stage_args(stage: str) -> list[str]:
    """The stage's fanet-train arguments, from scripts/campaign_stages.sh."""
    result = subprocess.run(["bash", str(REPO / "scripts" / "campaign_stages.sh"), stage],
                            capture_output=True, text=True, check=True)
    return result.stdout.split("\n")[:-1]


def flag(args: list[str], name: str) -> str:
    return args[len(args) - 1 - args[::-1].index(name) + 1]


def campaign_order() -> list[str]:
    """The stages in scripts/campaign_stages.sh's ORDER."""
    result = subprocess.run(
        ["bash", "-c", f'source "{REPO / "scripts" / "campaign_stages.sh"}"; echo "${{ORDER[@]}}"'],
        capture_output=True, text=True, check=True)
    return result.stdout.split()


CPU_ONLY_FLAGS = ("--extra-train-root",)
"""Stages with these train on the CPU only: the pack carries no generated streets."""


def unfinished_stages(campaign: Path, limit: int = 4) -> list[str]:
    """The first ``limit`` stages of ORDER whose run in ``campaign`` has not finished (and
    that the pack can train: none with :data:`CPU_ONLY_FLAGS`)."""
    stages = []
    for stage in campaign_order():
        epoch, epochs = read_epoch(campaign / stage)
        if (not epochs or epoch < epochs) and not set(CPU_ONLY_FLAGS) & set(stage_args(stage)):
            stages.append(stage)
    return stages[:limit]


def seed_from_campaign(campaign: Path, work: Path, stage: str) -> str:
    """Copy a stage's unfinished CPU run (``campaign/<stage>``) into its GPU run folder, so
    fanet-train resumes it there (a run may resume under another dataset root and layout)
    instead of starting again; returns what was done. A GPU run already there is kept."""
    source, target = campaign / stage, run_dir(work, stage)
    epoch, epochs = read_epoch(source)
    if (target / "state.json").is_file() or not epoch:
        return "starts from its GPU run folder" if (target / "state.json").is_file() else \
            "starts from epoch 0"
    if json.loads((source / "state.json").read_text()).get("pending"):
        raise SystemExit(f"{source}: its state names files still to move (a killed run): "
                         "resume it once on the CPU first")
    target.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES + UNFINISHED_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    return f"resumes after epoch {epoch} of {epochs} (from {source})"


def launch(pack: Path, work: Path, stage: str, workers: int, backend: str,
           env: dict[str, str], extra: list[str]) -> subprocess.Popen:
    args = stage_args(stage) + extra
    command = [sys.executable, str(pack / "run.py"), str(work / stage),
               "--models", flag(args, "--model"), "--jobs", "1", "--workers", str(workers),
               "--backend", backend, "--mixed-precision", "off", "--no-evaluate",
               "--require-gpu",  # a backend that sees no GPU exits (then torch is tried)
               "--", *args, "--dataset-root", str(pack / "data"), "--layout", "folder"]
    log = open(work / f"{stage}.driver.log", "a")
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def run_dir(work: Path, stage: str) -> Path:
    return work / stage / "runs" / flag(stage_args(stage), "--model")


def read_epoch(run: Path) -> tuple[int, int]:
    """(finished epochs, epochs asked for) of a run folder; (0, 0) before its first epoch."""
    try:
        state = json.loads((run / "state.json").read_text())
        config = json.loads((run / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return 0, 0
    return int(state.get("epoch", 0)), int(config.get("epochs", 0))


def stage_tar(run: Path) -> tuple[bytes, int, int] | None:
    """A consistent tar of what a run needs to go on: (bytes, epoch, epochs)."""
    for _ in range(5):
        epoch, epochs = read_epoch(run)
        if not epoch:
            return None
        if json.loads((run / "state.json").read_text()).get("pending"):
            time.sleep(2)  # an epoch's files are being moved into place
            continue
        names = RUN_FILES + (FINISHED_FILES if epoch >= epochs else UNFINISHED_FILES + (
            FINISHED_FILES if selects_best(run) else ()))  # its best epoch may be behind it
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name in names:
                if (run / name).is_file():
                    tar.add(run / name, arcname=name)
        if read_epoch(run)[0] == epoch:
            return buffer.getvalue(), epoch, epochs
        time.sleep(2)  # an epoch ended while copying: take it again
    return None


def selects_best(run: Path) -> bool:
    """Whether the run ships its best validated epoch (``--select best``), not its last."""
    try:
        return json.loads((run / "config.json").read_text()).get("select", "best") == "best"
    except (OSError, json.JSONDecodeError):
        return False


def logs_tar(work: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(work.rglob("*")):
            if path.is_file() and (path.suffix == ".log" or path.name == "state.json") \
                    and "site" not in path.relative_to(work).parts:
                tar.add(path, arcname=str(path.relative_to(work)))
    return buffer.getvalue()


def snapshot(work: Path, out: Path, stages: list[str], args: argparse.Namespace) -> list[str]:
    """Rewrite OUT within the limits; returns one status line per stage."""
    part = args.part_mib * MIB
    files = {"logs.tar.gz": logs_tar(work)}
    lines, packed_stages = [], []
    for stage in stages:
        packed = stage_tar(run_dir(work, stage))
        if packed is None:
            lines.append(f"{stage}: no finished epoch yet")
        else:
            packed_stages.append((stage, *packed))
    # Finished runs first (small), then the most epochs: what would cost most to redo.
    packed_stages.sort(key=lambda item: (item[2] < item[3], -item[2]))
    for stage, data, epoch, epochs in packed_stages:
        parts = {f"{stage}.tar.{i // part:02d}": data[i:i + part]
                 for i in range(0, len(data), part)}
        used = sum(len(v) for v in files.values())
        if len(files) + len(parts) > args.max_files or used + len(data) > args.max_mib * MIB:
            lines.append(f"{stage}: epoch {epoch}/{epochs}, LEFT OUT ({len(data) / MIB:.1f} MiB "
                         "does not fit)")
            continue
        files.update(parts)
        lines.append(f"{stage}: epoch {epoch}/{epochs}, {len(data) / MIB:.1f} MiB in "
                     f"{len(parts)} part(s)")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.name not in files:
            stale.unlink()
    for name, data in files.items():
        tmp = out / f"tmp.{name}"
        tmp.write_bytes(data)
        os.replace(tmp, out / name)
    return lines


def stop(processes: dict[str, subprocess.Popen], grace_s: float = 30.0) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    end = time.time() + grace_s
    for process in processes.values():
        try:
            process.wait(max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pack", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--stages", nargs="+",
                        help="default: the first unfinished stages of ORDER (up to 4), each "
                             "resuming from its run in campaign/")
    parser.add_argument("--campaign", type=Path, default=REPO / "campaign",
                        help="the CPU campaign's run folders (finished stages are skipped, "
                             "unfinished ones resume from them)")
    parser.add_argument("--deadline-s", type=float, default=470)
    parser.add_argument("--snapshot-every", type=float, default=60)
    parser.add_argument("--max-files", type=int, default=8)
    parser.add_argument("--max-mib", type=float, default=62)
    parser.add_argument("--part-mib", type=int, default=15)
    parser.add_argument("--backend", default="jax", choices=("jax", "torch"))
    parser.add_argument("--extra", default="",
                        help="more fanet-train flags after the stage's (a smoke test: "
                             "'--epochs 2 --steps-per-epoch 2')")
    args = parser.parse_args()
    started = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stages is None:
        args.stages = unfinished_stages(args.campaign)
    for stage in list(args.stages):
        epoch, epochs = read_epoch(args.campaign / stage)
        if epochs and epoch >= epochs:
            print(f"[gpu-campaign] {stage}: finished in {args.campaign} ({epoch}/{epochs}), "
                  "skipped", flush=True)
            args.stages.remove(stage)
        else:
            print(f"[gpu-campaign] {stage}: "
                  f"{seed_from_campaign(args.campaign, args.work, stage)}", flush=True)
    if not args.stages:
        print("[gpu-campaign] nothing to train", flush=True)
        return 0
    workers = max(2, min(8, (os.cpu_count() or 2) // len(args.stages)))
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               XLA_PYTHON_CLIENT_MEM_FRACTION=f"{0.8 / len(args.stages):.2f}")
    processes = {s: launch(args.pack, args.work, s, workers, args.backend, env, args.extra.split())
                 for s in args.stages}
    backends = dict.fromkeys(args.stages, args.backend)
    next_snapshot = started + args.snapshot_every
    while time.time() - started < args.deadline_s:
        time.sleep(2)
        for stage, process in processes.items():
            if process.poll() not in (None, 0) and backends[stage] == "jax":
                print(f"[gpu-campaign] {stage} exited {process.returncode} on jax: "
                      "again with torch", flush=True)
                backends[stage] = "torch"
                processes[stage] = launch(args.pack, args.work, stage, workers, "torch", env,
                                           args.extra.split())
        if all(p.poll() is not None for p in processes.values()):
            break
        if time.time() >= next_snapshot:
            next_snapshot += args.snapshot_every
            elapsed = time.time() - started
            for line in snapshot(args.work, args.out, args.stages, args):
                print(f"[gpu-campaign] {elapsed:.0f} s {line}", flush=True)
    stop(processes)
    elapsed = time.time() - started
    for line in snapshot(args.work, args.out, args.stages, args):
        print(f"[gpu-campaign] final {elapsed:.0f} s {line}", flush=True)
    for stage, process in processes.items():
        print(f"[gpu-campaign] {stage}: exit {process.returncode} ({backends[stage]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
