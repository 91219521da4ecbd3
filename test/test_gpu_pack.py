"""The offline GPU training pack: it builds from a dataset, stays under 64 MiB, and its run
script installs its wheels and trains both models with the JAX backend on a box without
TensorFlow (simulated here: TensorFlow and the editable install are hidden from the children).

What only a real GPU run covers: CUDA JAX/torch, mixed precision on a GPU, the time per epoch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fanet_ros.dataset_layouts import find_samples, read_image, read_label
from fanet_ros.synthetic.dataset import write_dataset
from fanet_training.gpu_pack import build, wheels

MIB = 2**20

# Put first on PYTHONPATH of a run: the box has no TensorFlow (or what GPU_BOX_BLOCK names),
# and this checkout's editable install is hidden, so the pack's own code must be complete.
GPU_BOX_SITECUSTOMIZE = '''
import os, sys
BLOCKED = {"tensorflow", "tf2onnx", "tensorboard", *os.environ.get("GPU_BOX_BLOCK", "").split(",")}
BLOCKED.discard("")

class NoSuchModule:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (simulated GPU box)", name=name)
        return None

sys.meta_path[:] = [NoSuchModule()] + [f for f in sys.meta_path
                                       if "editable" not in str(f).lower()]
'''


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # small: 4 train frames fill the run's 2 steps of batch 2 (compiling, not data, sets its time)
    return write_dataset(tmp_path_factory.mktemp("synthetic"), 4, 2, height=96, width=128, seed=3)


@pytest.fixture(scope="module")
def pack(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "pack"
    assert build.main(["build", str(out), "--dataset-root", str(dataset), "--layout", "camvid",
                       "--wheels-from-installed"]) == 0
    return out


def run_pack(pack: Path, output: Path, tmp_path: Path, *args: str, block: str = ""
             ) -> subprocess.CompletedProcess:
    box = tmp_path / "gpu_box"
    box.mkdir(exist_ok=True)
    (box / "sitecustomize.py").write_text(GPU_BOX_SITECUSTOMIZE)
    # run.sh calls `python3`: this interpreter's (a venv has a python3 beside python)
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PYTHONPATH=str(box), GPU_BOX_BLOCK=block, PATH=path)
    env.pop("KERAS_BACKEND", None)
    # XLA's CPU compiler without LLVM optimisation: the same steps, compiled in about half the time
    env.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    return subprocess.run([str(pack / "run.sh"), str(output), *args], env=env, text=True,
                          capture_output=True, timeout=1800)


def test_pack_is_small_and_holds_wheels_code_and_data(pack: Path, dataset: Path) -> None:
    info = json.loads((pack / "pack.json").read_text())
    total = sum(p.stat().st_size for p in pack.rglob("*") if p.is_file())
    assert total < 64 * MIB
    assert info["bytes"]["total"] == total
    manifest = json.loads((pack / "wheels" / "manifest.json").read_text())
    assert {w["distribution"] for w in manifest if w["always"]} == {"keras", "namex", "optree"}
    assert all((pack / "wheels" / w["file"]).is_file() for w in manifest)
    code = {p.relative_to(pack / "code").as_posix() for p in (pack / "code").rglob("*.py")}
    assert {"fanet_training/train.py", "fanet_training/models/fsffnet.py",
            "fanet_ros/dataset_layouts.py", "fanet_ros/labels.py"} <= code
    assert not any(name.startswith(("fanet_ros/runtime", "fanet_ros/tensorrt", "fanet_ros/node/",
                                    "fanet_ros/launching/")) for name in code)
    assert os.access(pack / "run.sh", os.X_OK) and os.access(pack / "run.py", os.X_OK)
    assert info["dataset"]["layout"] == "folder"
    for split in ("train", "val"):
        source = find_samples(dataset, "camvid", split)
        packed = find_samples(pack / "data", "folder", split)
        assert [s.name for s in packed] == [s.name for s in source]
        for original, copy in zip(source, packed):
            assert copy.image_path.suffix == ".jpg" and copy.label_path.suffix == ".png"
            assert np.array_equal(read_label(copy.label_path, "folder"),
                                  read_label(original.label_path, "camvid"))
            difference = np.abs(read_image(copy.image_path).astype(int)
                                - read_image(original.image_path).astype(int))
            assert difference.mean() < 4


def test_build_names_what_it_cannot_do(dataset: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    assert build.main(["build", str(tmp_path / "a"), "--dataset-root", str(dataset),
                       "--layout", "camvid", "--wheels", str(tmp_path)]) == 2
    assert "no keras" in capsys.readouterr().err
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "file").write_text("x")
    assert build.main(["build", str(tmp_path / "b"), "--dataset-root", str(dataset),
                       "--layout", "camvid", "--wheels-from-installed"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert build.main(["build", str(tmp_path / "c"), "--dataset-root", str(dataset),
                       "--layout", "camvid", "--wheels-from-installed", "--max-mib", "0.5"]) == 1
    assert "over --max-mib" in capsys.readouterr().err


def test_wheels_are_picked_for_the_target_python(tmp_path: Path) -> None:
    names = ["optree-0.20.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
             "optree-0.20.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
             "optree-0.19.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
             "optree-0.20.0-cp312-cp312-manylinux_2_28_aarch64.whl",
             "keras-3.15.1-py3-none-any.whl", "keras-3.14.0-py3-none-any.whl"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    optree, keras = wheels.WHEELS[2], wheels.WHEELS[0]
    assert wheels.pick_from_folder(tmp_path, optree, "3.12", "x86_64").name == names[1]
    assert wheels.pick_from_folder(tmp_path, optree, "3.12", "aarch64").name == names[3]
    assert wheels.pick_from_folder(tmp_path, optree, "3.13", "x86_64") is None
    assert wheels.pick_from_folder(tmp_path, keras, "3.12", "x86_64").name == names[4]
    assert wheels.pick_from_folder(tmp_path, keras, "3.12", "x86_64", "3.14.0").name == names[5]


def test_run_script_names_a_missing_backend(pack: Path, tmp_path: Path) -> None:
    result = run_pack(pack, tmp_path / "out", tmp_path, "--backend", "torch", block="torch")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "torch" in result.stderr and "install the pip package 'torch'" in result.stderr
    assert (tmp_path / "out" / "site" / "keras" / "__init__.py").is_file()


@pytest.mark.slow
def test_run_script_trains_both_models_with_jax_on_the_cpu(pack: Path, tmp_path: Path) -> None:
    pytest.importorskip("jax")
    output = tmp_path / "out"
    started = time.perf_counter()
    # both models side by side, as on a GPU box (--jobs defaults to 1 on a CPU): on two cores
    # the run takes about two thirds of the time of one model after the other
    result = run_pack(pack, output, tmp_path, "--epochs", "1", "--steps-per-epoch", "2",
                      "--batch-size", "2", "--height", "32", "--width", "64", "--jobs", "2")
    print(f"pack run: {time.perf_counter() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((output / "summary.json").read_text())
    assert summary["backend"] == "jax" and summary["jobs"] == 2
    assert summary["modules"]["keras"]["file"].startswith(str(output / "site"))
    assert summary["modules"]["fanet_training.train"]["file"].startswith(str(pack / "code"))
    for model in ("fanet", "fsffnet"):
        run_dir = output / "runs" / model
        state = json.loads((run_dir / "state.json").read_text())
        assert state["epoch"] == 1 and len(state["history"]) == 1
        assert np.isfinite(state["history"][0]["loss"])
        assert (run_dir / "best.weights.h5").is_file()
        assert json.loads((run_dir / "config.json").read_text())["model"] == model
        curve = (run_dir / "learning_curve.csv").read_text().splitlines()
        assert curve[0].startswith("epoch,") and len(curve) == 2
        metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
        assert 0.0 <= metrics["mean_iou"] <= 1.0
        assert summary["models"][model]["returncode"] == 0
        assert "backend jax" in (output / "logs" / f"{model}.log").read_text()
