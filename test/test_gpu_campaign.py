"""scripts/gpu_campaign.py: what a GPU session brings back fits the transfer limit and
keeps the runs that would cost most to redo."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20


@pytest.fixture(scope="module")
def gpu_campaign():
    spec = importlib.util.spec_from_file_location("gpu_campaign",
                                                  REPO / "scripts" / "gpu_campaign.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(work: Path, stage: str, model: str, epoch: int, mib: float) -> None:
    run = work / stage / "runs" / model
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"epochs": 150, "model": model,
                                                 "select": "last"}))
    (run / "state.json").write_text(json.dumps({"epoch": epoch}))
    (run / "class_weights.json").write_text("{}")
    (run / "checkpoint.weights.h5").write_bytes(b"c" * int(mib * 0.6 * MIB))
    (run / "ema.npz").write_bytes(b"e" * int(mib * 0.4 * MIB))
    (run / "best.weights.h5").write_bytes(b"b" * MIB)
    (work / stage / "logs").mkdir()
    (work / stage / "logs" / f"{model}.log").write_text(f"epoch {epoch}\n")


def test_stage_args_come_from_the_campaign_stages(gpu_campaign):
    args = gpu_campaign.stage_args("fsffnet_schedule")
    assert gpu_campaign.flag(args, "--model") == "fsffnet"
    assert gpu_campaign.flag(args, "--holdout") == "0006R0"
    assert gpu_campaign.flag(args, "--epochs") == "100"
    assert gpu_campaign.flag(args, "--copy-paste") == "0.5"


def test_every_stage_is_a_valid_fanet_train_command(gpu_campaign):
    from dataclasses import replace

    pytest.importorskip("keras")

    from fanet_training.train import config_from_args, parse_args

    order = gpu_campaign.campaign_order()
    assert "fanet_schedule_300" in order
    configs = {stage: config_from_args(parse_args([*gpu_campaign.stage_args(stage),
                                                   "--run-dir", f"campaign/{stage}"]))
               for stage in order}
    assert all(config.epochs >= 40 for config in configs.values())
    long_run = configs["fanet_schedule_300"]
    assert (long_run.epochs, long_run.ema, long_run.holdout) == (300, 0.999, "0006R0")
    # distillation's comparison: the same as its baseline but for the teacher
    baseline, distilled = configs["recipe_i"], configs["recipe_j"]
    assert distilled.distill_from == "campaign/fsffnet_schedule/heldout.onnx"
    assert replace(distilled, distill_from=None, run_dir="") == replace(baseline, run_dir="")



def test_the_stages_left_to_run_pass_fanet_trains_source_checks(gpu_campaign, monkeypatch):
    """A stage campaign.sh would still start is not refused at its start (a teacher that trained
    on val with --select best was, an hour after it was queued)."""
    pytest.importorskip("keras")

    from fanet_training.train import check_sources, config_from_args, parse_args

    monkeypatch.chdir(REPO)  # stage paths (teachers) are relative to the repository
    left = gpu_campaign.unfinished_stages(REPO / "campaign", limit=1000)
    for stage in left:
        check_sources(config_from_args(parse_args([*gpu_campaign.stage_args(stage),
                                                   "--run-dir", f"campaign/{stage}"])))

def test_snapshot_keeps_the_most_advanced_runs_within_the_limit(gpu_campaign, tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    _run(work, "fsffnet_final", "fsffnet", 6, 24)
    _run(work, "fanet_final", "fanet", 84, 22)
    _run(work, "fanet_schedule", "fanet", 150, 22)  # finished: best weights only
    limits = argparse.Namespace(part_mib=15, max_files=8, max_mib=40)
    lines = gpu_campaign.snapshot(work, out, ["fsffnet_final", "fanet_final",
                                              "fanet_schedule"], limits)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fanet_final.tar.00", "fanet_final.tar.01", "fanet_schedule.tar.00",
                     "logs.tar.gz"]
    assert sum(p.stat().st_size for p in out.iterdir()) <= 40 * MIB
    assert all(p.stat().st_size <= 15 * MIB for p in out.iterdir())
    assert any("fsffnet_final: epoch 6/150, LEFT OUT" in line for line in lines)
    parts = b"".join((out / n).read_bytes() for n in names if n.startswith("fanet_final"))
    (tmp_path / "fanet_final.tar").write_bytes(parts)
    with tarfile.open(tmp_path / "fanet_final.tar") as tar:
        assert sorted(tar.getnames()) == ["checkpoint.weights.h5", "class_weights.json",
                                          "config.json", "ema.npz", "state.json"]
    with tarfile.open(out / "fanet_schedule.tar.00") as tar:
        assert "best.weights.h5" in tar.getnames() and "ema.npz" not in tar.getnames()
    with tarfile.open(out / "logs.tar.gz") as tar:
        assert "fsffnet_final/logs/fsffnet.log" in tar.getnames()


def _campaign_run(campaign: Path, stage: str, epoch: int, epochs: int) -> Path:
    run = campaign / stage
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"epochs": epochs}))
    (run / "state.json").write_text(json.dumps({"epoch": epoch}))
    (run / "class_weights.json").write_text("{}")
    (run / "checkpoint.weights.h5").write_bytes(b"c")
    (run / "ema.npz").write_bytes(b"e")
    return run


def test_by_default_the_unfinished_stages_train_resuming_from_the_campaign(gpu_campaign,
                                                                           tmp_path: Path):
    order = gpu_campaign.campaign_order()
    campaign, work = tmp_path / "campaign", tmp_path / "work"
    for stage in order:
        _campaign_run(campaign, stage, 100, 100)
    packable = [stage for stage in order if not set(gpu_campaign.CPU_ONLY_FLAGS)
                & set(gpu_campaign.stage_args(stage))]
    assert "recipe_r" not in packable  # the pack carries no generated streets
    last = packable[-1]
    for stage in set(order) - set(packable):
        (campaign / stage / "state.json").write_text(json.dumps({"epoch": 3}))
    (campaign / last / "state.json").write_text(json.dumps({"epoch": 96}))
    (campaign / last / "config.json").write_text(json.dumps({"epochs": 300}))
    assert gpu_campaign.unfinished_stages(campaign) == [last]
    assert gpu_campaign.seed_from_campaign(campaign, work, last).startswith(
        "resumes after epoch 96 of 300")
    run = gpu_campaign.run_dir(work, last)
    assert json.loads((run / "state.json").read_text())["epoch"] == 96
    assert (run / "checkpoint.weights.h5").read_bytes() == b"c"
    (run / "state.json").write_text(json.dumps({"epoch": 120}))  # the GPU went on: kept
    assert gpu_campaign.seed_from_campaign(campaign, work, last) == \
        "starts from its GPU run folder"


def test_an_unfinished_run_that_selects_its_best_epoch_brings_its_best_weights(gpu_campaign,
                                                                             tmp_path: Path):
    """Without them the CPU resume wrote best weights only on a better epoch: none, when
    the GPU's best stayed best, and the stage then had no weights to score."""
    run = _campaign_run(tmp_path, "stage", 7, 40)
    (run / "best.weights.h5").write_bytes(b"b")
    data, _, _ = gpu_campaign.stage_tar(run)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "best.weights.h5" in tar.getnames()


def test_a_run_whose_epoch_is_being_committed_is_not_packed_half(gpu_campaign, tmp_path: Path,
                                                                 monkeypatch):
    run = _campaign_run(tmp_path, "stage", 7, 300)
    (run / "state.json").write_text(json.dumps({"epoch": 7, "pending": ["ema.npz"]}))
    monkeypatch.setattr(gpu_campaign.time, "sleep", lambda s: None)
    assert gpu_campaign.stage_tar(run) is None  # never a state with files still to move
    (run / "state.json").write_text(json.dumps({"epoch": 7}))
    assert gpu_campaign.stage_tar(run)[1:] == (7, 300)
