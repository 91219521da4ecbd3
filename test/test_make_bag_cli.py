"""fanet-make-bag refuses unusable arguments and output paths in one line, and a signal at any
point of writing leaves no scratch folder behind (SIGKILL's is removed by the next run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanet_ros.evaluation import make_bag
from fanet_ros.evaluation.scratch_folder import LOCK_NAME, MARK

SLOW_WRITER = """
import signal, sys, time
# Ctrl-C as in a terminal, whatever this suite inherited (a job started with `cmd &` in a
# script ignores SIGINT, and Python then installs no KeyboardInterrupt handler)
signal.signal(signal.SIGINT, signal.default_int_handler)
from fanet_ros.evaluation import make_bag
dataset_frames = make_bag.frames_from_dataset

def one_then_wait(*args, **kwargs):  # a dataset that stalls after its first frame
    for frame in dataset_frames(*args, **kwargs):
        yield frame
        print("first frame written", flush=True)
        time.sleep(120)

make_bag.frames_from_dataset = one_then_wait
sys.exit(make_bag.main(sys.argv[1:]))
"""


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(root / "images" / f"f{i}.png"), np.full((8, 8, 3), i, np.uint8))
    return root


def _scratch(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{MARK}*"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--fps", "inf"], "fps must be a number from 0.001 to 1e+06, not inf"),
        (["--fps", "nan"], "not nan"),
        (["--fps", "1e-300"], "not 1e-300"),
        (["--fps", "0"], "not 0"),
        (["--fps", "ten"], "fps must be a number, not 'ten'"),
        (["--limit", "-5"], "limit must be a whole number >= 0 (0: all frames), not '-5'"),
    ],
)
def test_unusable_arguments_are_usage_errors(dataset, tmp_path, capsys, args, expected):
    with pytest.raises(SystemExit) as info:
        make_bag.main([str(dataset), str(tmp_path / "bag"), "--layout", "folder", *args])
    assert info.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "bag").exists()


def test_output_paths_that_cannot_hold_a_bag_are_one_line_errors(dataset, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a bag")
    not_a_bag = tmp_path / "photos"
    not_a_bag.mkdir()
    for output, expected, extra in (
        (a_file, f"'{a_file}' is a file, not a bag folder", ["--overwrite"]),
        (a_file / "bag", f"'{a_file}' is a file", []),
        (Path("/proc/fanet_bag"), "cannot write a bag at '/proc/fanet_bag'", []),
        (not_a_bag, "is a folder but no bag (no metadata.yaml)", ["--overwrite"]),
    ):
        code = make_bag.main([str(dataset), str(output), "--layout", "folder", *extra])
        err = capsys.readouterr().err
        assert code == 2 and expected in err and err.count("\n") == 1, err
    assert a_file.read_text() == "not a bag" and not_a_bag.is_dir()
    assert make_bag.main([str(dataset), str(tmp_path / "bag"), "--layout", "folder"]) == 0


def _start_slow_writer(dataset: Path, out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(dataset), str(out), "--layout", "folder"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "first frame written"
    assert len(list(out.parent.glob(f".{out.name}{MARK}*"))) == 1
    return proc


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_writer_says_so_in_one_line_and_leaves_nothing(dataset, tmp_path, signum,
                                                                 code):
    out = tmp_path / "bags" / "drive"
    proc = _start_slow_writer(dataset, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert err == f"make_bag: interrupted (exit {code}); no bag written to '{out}'\n"
    assert list(out.parent.iterdir()) == []


def test_a_killed_writers_scratch_is_removed_by_the_next_run(dataset, tmp_path, capsys):
    out = tmp_path / "bags" / "drive"
    live = _start_slow_writer(dataset, tmp_path / "bags" / "other")  # still writing: kept
    proc = _start_slow_writer(dataset, out)
    proc.kill()
    proc.wait(timeout=30)
    (left,) = out.parent.glob(f".drive{MARK}*")
    for scratch in _scratch(out.parent):  # both older than a writer needs to take its lock
        os.utime(scratch / LOCK_NAME, (time.time() - 60, time.time() - 60))
    try:
        assert make_bag.main([str(dataset), str(out), "--layout", "folder"]) == 0
        assert f"removed '{left}', the scratch folder of an earlier run" in capsys.readouterr().out
        remaining = _scratch(out.parent)
        assert len(remaining) == 1 and remaining[0].name.startswith(".other")
    finally:
        live.kill()
        live.wait(timeout=30)
    assert out.is_dir() and (out / "metadata.yaml").exists()
