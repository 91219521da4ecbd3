"""Engine cache: names, atomic writes and rebuild decisions, on real files without a GPU.

TensorRT cannot build here, so the build function is a stand-in that returns
bytes derived from the key; everything else (keys from real ONNX files, the
cache folder, sidecars, hashing, rebuilds) is the code the node runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from fanet_ros.runtime import BackendConfig, ModelLoadError
from fanet_ros.tensorrt.engine_cache import (
    KEY_SCHEMA,
    EngineCache,
    EnvironmentFacts,
    atomic_write_bytes,
    default_cache_dir,
    load_or_build,
)
from fanet_ros.tensorrt.engine_spec import EngineSpec

ORIN = EnvironmentFacts("8.6.2.3", "Orin", "8.7", 16, 62841)  # AGX Orin 64GB
ORIN_NX = EnvironmentFacts("8.6.2.3", "Orin", "8.7", 8, 15389)  # Orin NX 16GB: same name and cc
RTX = EnvironmentFacts("8.6.2.3", "NVIDIA GeForce RTX 3090", "8.6", 82, 24259)


class FakeTensorRT:
    """Counts builds; 'engines' are bytes naming the key they were built for."""

    def __init__(self) -> None:
        self.builds = 0
        self.messages: list[str] = []

    def build_for(self, key):
        def build() -> bytes:
            self.builds += 1
            return b"ENGINE " + key.digest().encode() + b"\0" * 4096
        return build

    @staticmethod
    def deserialize(data: bytes) -> bytes | None:
        return data if data.startswith(b"ENGINE ") else None

    def load(self, cache: EngineCache, key, **kwargs):
        return load_or_build(
            cache, key, self.build_for(key), kwargs.pop("deserialize", self.deserialize),
            self.messages.append, **kwargs,
        )


@pytest.fixture
def spec(tiny_model, tmp_path) -> EngineSpec:
    return EngineSpec.from_config(
        BackendConfig(model_path=tiny_model, engine_cache_dir=str(tmp_path / "engines"))
    )


def test_engine_names_say_what_they_are_for_and_differ_per_setup(spec):
    key = spec.key(ORIN)
    stem = key.file_stem()
    assert stem.startswith("tiny_64x96_fp16_orin_sm8.7_trt8.6.2.3_")
    assert EngineCache(spec.cache_dir).engine_path(key).name == stem + ".engine"
    assert stem == spec.key(ORIN).file_stem()  # deterministic
    assert "nvidia-geforce-rtx-3090" in spec.key(RTX).file_stem()
    others = {
        spec.key(RTX).file_stem(),
        spec.key(replace(ORIN, tensorrt_version="10.3.0")).file_stem(),
        replace(spec, precision="fp32").key(ORIN).file_stem(),
        replace(spec, input_height=128).key(ORIN).file_stem(),
        replace(spec, graph_sha256="0" * 64).key(ORIN).file_stem(),
    }
    assert stem not in others and len(others) == 5


def test_spec_reads_size_and_hash_from_the_onnx_file(tiny_model, tmp_path):
    spec = EngineSpec.from_config(
        BackendConfig(model_path=tiny_model, input_height=128, input_width=160, precision="int8")
    )
    assert (spec.input_height, spec.input_width) == (128, 160)
    assert spec.metadata.model == "tiny" and len(spec.onnx_sha256) == 64
    assert spec.cache_dir == default_cache_dir()
    assert spec.calibration_cache_path.name == (
        f"tiny_128x160_trt{spec.tensorrt_version}_{spec.onnx_sha256[:12]}.calib"
    )
    fixed = build_tiny_model(tmp_path / "fixed.onnx", dynamic=False)
    with pytest.raises(ModelLoadError, match="fixed input of 64x96"):
        EngineSpec.from_config(BackendConfig(model_path=fixed, input_height=128, input_width=128))


def test_build_once_then_load_from_the_cache(spec):
    trt, cache, key = FakeTensorRT(), EngineCache(spec.cache_dir), spec.key(ORIN)
    engine, path = trt.load(cache, key)
    assert trt.builds == 1 and path == cache.engine_path(key) and engine == path.read_bytes()
    sidecar = json.loads(cache.sidecar_path(key).read_text())
    assert sidecar["key"]["graph_sha256"] == spec.graph_sha256
    assert sidecar["key"]["environment"] == {
        "tensorrt_version": "8.6.2.3", "gpu_name": "Orin", "compute_capability": "8.7",
        "multiprocessor_count": 16, "total_memory_mb": 62841,
    }
    assert sidecar["key"]["precision"] == "fp16" and sidecar["key"]["input_height"] == 64
    again, _ = trt.load(cache, key)
    assert trt.builds == 1 and again == engine
    assert trt.messages[-1].startswith("loaded cached engine")
    trt.load(cache, key, force=True)
    assert trt.builds == 2


@pytest.mark.parametrize(
    "changed",
    [replace(ORIN, tensorrt_version="10.3.0"), RTX, replace(ORIN, compute_capability="8.9"),
     ORIN_NX, replace(ORIN, total_memory_mb=30536)],
    ids=["tensorrt-version", "gpu", "compute-capability", "orin-module", "memory"],
)
def test_a_new_tensorrt_or_gpu_gets_its_own_engine(spec, changed):
    trt, cache = FakeTensorRT(), EngineCache(spec.cache_dir)
    first, first_path = trt.load(cache, spec.key(ORIN))
    second, second_path = trt.load(cache, spec.key(changed))
    assert trt.builds == 2 and second != first and second_path != first_path
    assert "no cached engine" in trt.messages[-2]
    assert first_path.read_bytes() == first  # a shared cache keeps both


def test_a_changed_onnx_file_is_rebuilt(tiny_model, tmp_path):
    model = tmp_path / "model.onnx"
    config = BackendConfig(model_path=model, engine_cache_dir=str(tmp_path / "engines"))
    trt = FakeTensorRT()
    build_tiny_model(model, seed=0)
    old = EngineSpec.from_config(config)
    trt.load(EngineCache(old.cache_dir), old.key(ORIN))
    build_tiny_model(model, seed=1)  # retrained, same file name
    new = EngineSpec.from_config(config)
    assert new.onnx_sha256 != old.onnx_sha256 and new.graph_sha256 != old.graph_sha256
    trt.load(EngineCache(new.cache_dir), new.key(ORIN))
    assert trt.builds == 2


def test_a_change_in_how_the_graph_is_prepared_rebuilds_the_engine(tiny_model, tmp_path,
                                                                    monkeypatch):
    """An upgrade of fanet_ros that prepares the graph for the parser otherwise rebuilds the
    engines cached for the same ONNX file, without anyone bumping KEY_SCHEMA."""
    from fanet_ros.tensorrt import engine_spec

    config = BackendConfig(model_path=tiny_model, engine_cache_dir=str(tmp_path / "engines"))
    trt = FakeTensorRT()
    old = EngineSpec.from_config(config)
    trt.load(EngineCache(old.cache_dir), old.key(ORIN))
    prepare = engine_spec.prepare_for_tensorrt

    def prepared_otherwise(model):
        graph, changes = prepare(model)
        graph.graph.node[0].name += "_renamed"
        return graph, changes

    monkeypatch.setattr(engine_spec, "prepare_for_tensorrt", prepared_otherwise)
    new = EngineSpec.from_config(config)
    assert new.onnx_sha256 == old.onnx_sha256 and new.graph_sha256 != old.graph_sha256
    trt.load(EngineCache(new.cache_dir), new.key(ORIN))
    assert trt.builds == 2


def test_a_truncated_engine_file_is_rebuilt(spec):
    trt, cache, key = FakeTensorRT(), EngineCache(spec.cache_dir), spec.key(ORIN)
    engine, path = trt.load(cache, key)
    path.write_bytes(engine[: len(engine) // 2])
    rebuilt, _ = trt.load(cache, key)
    assert trt.builds == 2 and rebuilt == engine and path.read_bytes() == engine
    assert "truncated or corrupt" in trt.messages[-2]


def test_an_engine_that_fails_to_deserialise_is_rebuilt(spec):
    trt, cache, key = FakeTensorRT(), EngineCache(spec.cache_dir), spec.key(ORIN)
    trt.load(cache, key)
    calls = []

    def refuse_once(data: bytes) -> bytes | None:
        calls.append(data)
        return None if len(calls) == 1 else data

    engine, _ = trt.load(cache, key, deserialize=refuse_once)
    assert trt.builds == 2 and engine.startswith(b"ENGINE")
    assert "failed to deserialise" in trt.messages[-2]


def test_a_fresh_engine_that_cannot_load_is_an_error(spec):
    trt = FakeTensorRT()
    with pytest.raises(RuntimeError, match="freshly built engine .* cannot be deserialised"):
        trt.load(EngineCache(spec.cache_dir), spec.key(ORIN), deserialize=lambda data: None)


def test_an_engine_copied_under_another_name_or_without_sidecar_is_rebuilt(spec):
    trt, cache = FakeTensorRT(), EngineCache(spec.cache_dir)
    rtx_key, orin_key = spec.key(RTX), spec.key(ORIN)
    trt.load(cache, rtx_key)
    # someone copies the RTX engine and sidecar over the Orin names
    cache.engine_path(orin_key).write_bytes(cache.engine_path(rtx_key).read_bytes())
    cache.sidecar_path(orin_key).write_text(cache.sidecar_path(rtx_key).read_text())
    trt.load(cache, orin_key)
    assert trt.builds == 2
    assert "built for another setup" in trt.messages[-2]
    assert "environment.gpu_name 'NVIDIA GeForce RTX 3090' -> 'Orin'" in trt.messages[-2]
    cache.sidecar_path(orin_key).unlink()
    trt.load(cache, orin_key)
    assert trt.builds == 3 and "no readable sidecar" in trt.messages[-2]


def test_atomic_write_failing_midway_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "model.engine"
    atomic_write_bytes(target, b"old engine")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new engine" * 1000)
    assert target.read_bytes() == b"old engine"
    assert [p.name for p in tmp_path.iterdir()] == ["model.engine"]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "overwrite"])
def test_a_process_killed_mid_write_leaves_no_partial_engine(spec, existing):
    """The writer dies (os._exit, no clean-up) after writing, before the rename."""
    trt, cache, key = FakeTensorRT(), EngineCache(spec.cache_dir), spec.key(ORIN)
    if existing:
        good, _ = trt.load(cache, key)
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from fanet_ros.tensorrt.engine_cache import atomic_write_bytes\n"
        "os.fsync = lambda fd: os._exit(3)\n"
        "atomic_write_bytes(Path(sys.argv[1]), b'partial' * 100000)\n"
    )
    path = cache.engine_path(key)
    proc = subprocess.run([sys.executable, "-c", script, str(path)], timeout=60)
    assert proc.returncode == 3
    if existing:
        assert path.read_bytes() == good
        assert trt.load(cache, key)[0] == good and trt.builds == 1
    else:
        assert not path.exists()
        assert trt.load(cache, key)[0].startswith(b"ENGINE") and trt.builds == 1
    leftovers = [p for p in Path(spec.cache_dir).iterdir() if p.suffix == ".tmp"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".")  # hidden, never loaded


def test_orin_modules_that_share_name_and_compute_capability_say_how_they_differ(spec):
    trt, cache = FakeTensorRT(), EngineCache(spec.cache_dir)
    trt.load(cache, spec.key(ORIN))
    orin_key, nx_key = spec.key(ORIN), spec.key(ORIN_NX)
    # the AGX engine copied to an Orin NX under the NX's name is not loaded there
    cache.engine_path(nx_key).write_bytes(cache.engine_path(orin_key).read_bytes())
    cache.sidecar_path(nx_key).write_text(cache.sidecar_path(orin_key).read_text())
    trt.load(cache, nx_key)
    assert trt.builds == 2
    assert "environment.multiprocessor_count 16 -> 8" in trt.messages[-2]
    assert "environment.total_memory_mb 62841 -> 15389" in trt.messages[-2]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_cache_files_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    """mkstemp made every engine 0600: unreadable to the node's user when another user built it."""
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "model.engine", b"engine")
        atomic_write_bytes(tmp_path / "model.engine", b"engine, rebuilt")
    finally:
        os.umask(old)
    assert (tmp_path / "model.engine").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["model.engine"]


def test_two_processes_needing_one_engine_build_it_once(spec):
    """Two nodes on one GPU start together: the second waits for the first's build and loads it."""
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from fanet_ros.tensorrt.engine_cache import EngineCache, EngineKey, EnvironmentFacts,"
        " load_or_build\n"
        "key = EngineKey('tiny', 'sha', 'fp16', 64, 96, EnvironmentFacts('10.3', 'Orin', '8.7',"
        " 16, 62841))\n"
        "def build():\n"
        "    print('BUILD', flush=True)\n"
        "    time.sleep(1.5)\n"
        "    return b'ENGINE'\n"
        "ready = Path(sys.argv[2])\n"
        "(ready / str(os.getpid())).touch()\n"
        "while len(list(ready.iterdir())) < 2:\n"  # both look at the cache at the same time
        "    time.sleep(0.01)\n"
        "engine, _ = load_or_build(EngineCache(Path(sys.argv[1])), key, build, lambda d: d,"
        " lambda m: print(m, flush=True))\n"
        "assert engine == b'ENGINE'\n"
    )
    ready = spec.cache_dir.parent / "ready"
    ready.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", script, str(spec.cache_dir), str(ready)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sum(out.count("BUILD") for out in outputs) == 1, outputs
    # the other one loads the engine: usually after waiting for the build ("built by another
    # process meanwhile"), or from the cache when it looked only after the build had ended
    (other,) = [out for out in outputs if "BUILD" not in out]
    assert "loaded" in other, outputs


def test_the_calibration_is_part_of_the_key(spec):
    key = spec.key(ORIN)
    assert key.calibration == "" and key.to_dict()["schema"] == KEY_SCHEMA == 5
    assert spec.key(ORIN, "a" * 64).file_stem() != key.file_stem()
    assert spec.key(ORIN, "a" * 64).file_stem() != spec.key(ORIN, "b" * 64).file_stem()
