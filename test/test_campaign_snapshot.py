"""scripts/campaign_snapshot.sh commits a training run's resumable state from a worktree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "campaign_snapshot.sh"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def _write_epoch(run: Path, epoch: int) -> None:
    """What fanet-train writes at an epoch's end, state.json last."""
    (run / "checkpoint.weights.h5").write_bytes(b"c%d" % epoch)
    (run / "ema.npz").write_bytes(b"e%d" % epoch)
    (run / "best.weights.h5").write_bytes(b"b%d" % epoch)
    time.sleep(0.02)
    (run / "state.json").write_text(json.dumps({"epoch": epoch}))


def _snapshot(repo: Path, source: Path) -> str:
    result = subprocess.run(["bash", str(repo / "scripts" / "campaign_snapshot.sh"), str(source)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def checkouts(tmp_path: Path):
    """A repository with the script and an old run folder, and a worktree training it on."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts")
    (repo / ".gitignore").write_text("campaign/*/*.h5\ncampaign/*/*.npz\n")
    run = repo / "campaign" / "stage"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"epochs": 300, "select": "last"}))
    (run / "class_weights.json").write_text("{}")
    (run / "train.log").write_text("epoch 1\n")
    _write_epoch(run, 1)
    (run / "best.weights.h5").unlink()
    (run / "optimizer.npz").write_bytes(b"o")  # as older fanet-train wrote it
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "t")
    _git(repo, "config", "user.email", "t@t")
    _git(repo, "add", ".")
    _git(repo, "add", "-f", "campaign")
    _git(repo, "commit", "-q", "-m", "start")
    worktree = tmp_path / "worktree"
    _git(repo, "worktree", "add", "-q", "--detach", str(worktree))
    trainer = subprocess.Popen(["sleep", "60"])
    (worktree / "campaign" / "RUNNING").write_text(f"{trainer.pid} stage\n")
    yield repo, worktree, trainer
    trainer.kill()
    trainer.wait()


def test_a_newer_epoch_is_committed_and_the_run_keeps_going(checkouts) -> None:
    repo, worktree, trainer = checkouts
    _write_epoch(worktree / "campaign" / "stage", 7)
    assert "stage: epoch 7 committed" in _snapshot(repo, worktree)
    files = set(_git(repo, "ls-tree", "--name-only", "HEAD", "campaign/stage/").split())
    assert files == {f"campaign/stage/{f}" for f in (
        "config.json", "class_weights.json", "state.json", "train.log",
        "checkpoint.weights.h5", "ema.npz")}  # no optimizer.npz, no best weights (select last)
    assert _git(repo, "show", "HEAD:campaign/stage/checkpoint.weights.h5") == "c7"
    assert "epoch 7" in _git(repo, "log", "-1", "--format=%s")
    stat = Path(f"/proc/{trainer.pid}/stat")
    if stat.exists():  # resumed after the copy: not left stopped
        assert stat.read_text().rsplit(")", 1)[1].split()[0] != "T"
    assert "nothing newer" in _snapshot(repo, worktree)


def test_an_epoch_still_moving_its_files_into_place_is_waited_for(checkouts) -> None:
    repo, worktree, _ = checkouts
    run = worktree / "campaign" / "stage"
    moving = ["checkpoint.weights.h5", "ema.npz"]  # what fanet-train's commit_epoch leaves
    for name in moving:
        (run / f"tmp.{name}").write_bytes(b"n9")
    time.sleep(0.02)
    (run / "state.json").write_text(json.dumps({"epoch": 9, "pending": moving}))

    def finish_commit() -> None:
        time.sleep(3)
        for name in moving:
            os.replace(run / f"tmp.{name}", run / name)
        (run / "state.json").write_text(json.dumps({"epoch": 9}))

    mover = threading.Thread(target=finish_commit)
    mover.start()
    try:
        assert "stage: epoch 9 committed" in _snapshot(repo, worktree)
    finally:
        mover.join()
    assert _git(repo, "show", "HEAD:campaign/stage/checkpoint.weights.h5") == "n9"
    assert "pending" not in json.loads(_git(repo, "show", "HEAD:campaign/stage/state.json"))


def test_staged_changes_of_the_user_are_left_alone(checkouts) -> None:
    repo, worktree, _ = checkouts
    (repo / "notes.txt").write_text("mine")
    _git(repo, "add", "notes.txt")
    _write_epoch(worktree / "campaign" / "stage", 8)
    result = subprocess.run(["bash", str(repo / "scripts" / "campaign_snapshot.sh"),
                             str(worktree)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "staged changes" in result.stderr
    assert json.loads(_git(repo, "show", "HEAD:campaign/stage/state.json"))["epoch"] == 1
