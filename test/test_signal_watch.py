"""A Ctrl-C during a TensorRT engine build cancels it at the next build step."""

from __future__ import annotations

import signal
import threading

import pytest

from fanet_ros.runtime import BackendConfig
from fanet_ros.tensorrt.signal_watch import SignalWatch


@pytest.fixture
def quiet_sigint():
    """SIGINT recorded by a Python handler that does nothing else (as rclpy's would not)."""
    seen = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: seen.append(number))
    yield seen
    signal.signal(signal.SIGINT, previous)


def test_a_watch_sees_sigint_at_once_and_gives_the_wakeup_fd_back(quiet_sigint):
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with SignalWatch() as watch:
        assert watch.active and not watch.arrived()
        signal.raise_signal(signal.SIGINT)
        assert watch.arrived()
    assert watch.arrived() and not watch.active  # still says so once closed
    assert signal.set_wakeup_fd(before) == before  # given back
    box = []
    thread = threading.Thread(target=lambda: box.append(SignalWatch()))
    thread.start()
    thread.join()
    assert not box[0].active and not box[0].arrived()  # only the main thread can watch


def test_sigint_during_a_build_cancels_it_and_caches_nothing(fake_gpu, tiny_model, tmp_path,
                                                             quiet_sigint):
    trt, _ = fake_gpu("10.3.0")
    from fanet_ros.shipped_models import EngineBuildInterrupted
    from fanet_ros.tensorrt.engines import open_engine

    config = BackendConfig(model_path=str(tiny_model), backend="tensorrt", precision="fp16",
                           engine_cache_dir=str(tmp_path / "engines"))
    trt.build_steps = lambda step: signal.raise_signal(signal.SIGINT) if step == 1 else None
    with pytest.raises(EngineBuildInterrupted, match="was interrupted .* nothing was cached"):
        open_engine(config, print)
    assert trt.cancelled_builds == 1 and quiet_sigint == [signal.SIGINT]
    assert not list((tmp_path / "engines").glob("*.engine"))
    trt.build_steps = lambda step: None
    open_engine(config, print)  # the next start builds it
    assert len(list((tmp_path / "engines").glob("*.engine"))) == 1


def test_backend_auto_does_not_fall_back_to_the_cpu_on_an_interrupted_build(
        fake_gpu, tiny_model, tmp_path, quiet_sigint):
    trt, _ = fake_gpu("11.0.0")
    from fanet_ros.runtime import create_backend
    from fanet_ros.shipped_models import EngineBuildInterrupted

    trt.build_steps = lambda step: signal.raise_signal(signal.SIGINT) if step == 0 else None
    warned = []
    with pytest.raises(EngineBuildInterrupted):
        create_backend(BackendConfig(model_path=str(tiny_model), backend="auto",
                                     precision="fp16", engine_cache_dir=str(tmp_path)),
                       warn=warned.append)
    assert not any("falling back" in w for w in warned)
