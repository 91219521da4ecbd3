"""Cached TensorRT engines: naming, atomic writes and the rebuild decision.

Plain Python with no TensorRT import: what the engine depends on (the graph
parsed from the ONNX file, the TensorRT version, the GPU, precision and input shape) is data in an
:class:`EngineKey`, and building or deserialising are functions passed in.

On disk, each engine ``NAME.engine`` has a sidecar ``NAME.json`` recording its
key and the engine's sha256. Both are written atomically (temporary file in
the same folder, fsync, rename), the engine first, so a crash never leaves a
partial file under a final name and an engine without its sidecar is rebuilt.
A build holds an exclusive ``flock`` on ``NAME.lock`` beside the engine, so
two processes that need the same engine (two nodes on one GPU) build it once:
the second waits, then loads what the first stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from fanet_ros.runtime.base import ModelLoadError

KEY_SCHEMA = 5
"""Bump when the build settings change, so that older engines are rebuilt.

2: the GPU's multiprocessor count and memory joined the key; the engine is
built from the graph :mod:`fanet_ros.onnx.tensorrt_graph` prepares.
3: the INT8 calibration's identity joined the key; TensorRT 11 builds fp16
from a graph converted to fp16 (:mod:`fanet_ros.onnx.fp16`).
4: fp32 engines are built without TF32 (TensorRT enables it by default on Ampere and
later GPUs, where "fp32" engines then multiplied in TF32); TensorRT 8.x builds leave out
cuBLAS and cuDNN tactics (:data:`fanet_ros.tensorrt.builder.LIBRARY_TACTICS`).
5: the key holds the sha256 of the graph the parser is given instead of the ONNX file's, so a
change to how the graph is prepared rebuilds engines without a schema bump.
"""

T = TypeVar("T")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fanet_ros/engines``, by default ``~/.cache/fanet_ros/engines``."""
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "fanet_ros" / "engines"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class EnvironmentFacts:
    """What an engine is bound to besides the model: TensorRT and the GPU.

    Jetson Orin modules share the name "Orin" and compute capability 8.7 but
    differ in multiprocessors and memory, and TensorRT picks kernels for those.
    """

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    multiprocessor_count: int
    total_memory_mb: int


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialised engine depends on."""

    model_name: str
    graph_sha256: str
    """sha256 of the graph TensorRT's parser is given (the ONNX file as prepared for it)."""
    precision: str
    input_height: int
    input_width: int
    environment: EnvironmentFacts
    calibration: str = ""
    """INT8: sha256 of the calibration cache the engine was built with; empty otherwise."""
    schema: int = KEY_SCHEMA

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def file_stem(self) -> str:
        """Readable and unique: model, shape, precision, GPU, TensorRT, key digest."""
        env = self.environment
        parts = (
            self.model_name,
            f"{self.input_height}x{self.input_width}",
            self.precision,
            env.gpu_name,
            f"sm{env.compute_capability}",
            f"trt{env.tensorrt_version}",
            self.digest()[:12],
        )
        return "_".join(slug(p) for p in parts)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"


def key_differences(recorded: dict, wanted: dict, prefix: str = "") -> list[str]:
    """Human-readable fields where two key dictionaries differ."""
    differences = []
    for name in sorted(set(recorded) | set(wanted)):
        old, new = recorded.get(name), wanted.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += key_differences(old, new, f"{prefix}{name}.")
        elif old != new:
            differences.append(f"{prefix}{name} {old!r} -> {new!r}")
    return differences


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or all of ``data``.

    The file gets the mode the umask allows (0644 with the usual 022), like any
    file the user creates, so that an engine built by one user (a provisioning
    script, a container) can be read by the node's user.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


@contextlib.contextmanager
def exclusive_lock(path: Path, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing), calling ``on_wait``
    first if another process holds it.

    The lock file stays: removing it would let a third process lock a new
    file while the second still holds the old one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EngineCache:
    """A folder of ``.engine`` files and their ``.json`` sidecars."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).expanduser()

    def engine_path(self, key: EngineKey) -> Path:
        return self.directory / f"{key.file_stem()}.engine"

    def sidecar_path(self, key: EngineKey) -> Path:
        return self.directory / f"{key.file_stem()}.json"

    def lock_path(self, key: EngineKey) -> Path:
        return self.directory / f"{key.file_stem()}.lock"

    def timing_cache_path(self, environment: EnvironmentFacts) -> Path:
        """TensorRT's kernel timings for one GPU model and TensorRT version, shared by builds."""
        env = environment
        parts = (env.gpu_name, f"sm{env.compute_capability}", f"{env.multiprocessor_count}sms",
                 f"trt{env.tensorrt_version}")
        return self.directory / f"timing_{'_'.join(slug(p) for p in parts)}.cache"

    def build_lock(self, key: EngineKey, log: Callable[[str], None]
                   ) -> contextlib.AbstractContextManager[None]:
        """Hold the exclusive inter-process lock of ``key``'s engine (waits for another holder)."""
        return exclusive_lock(self.lock_path(key), lambda: log(
            f"waiting for another process that is building {self.engine_path(key).name}"))

    def lookup(self, key: EngineKey) -> tuple[bytes | None, str]:
        """The cached engine's bytes, or ``None`` and why it cannot be used."""
        engine, sidecar = self.engine_path(key), self.sidecar_path(key)
        if not engine.is_file():
            return None, f"no cached engine {engine.name} in {self.directory}"
        try:
            record = json.loads(sidecar.read_text())
            recorded_key, recorded_sha = record["key"], record["engine_sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            return None, f"engine {engine} has no readable sidecar {sidecar.name}"
        differences = key_differences(recorded_key, key.to_dict())
        if differences:
            return None, f"engine {engine} was built for another setup ({'; '.join(differences)})"
        try:
            data = engine.read_bytes()
        except OSError as exc:
            return None, f"engine {engine} cannot be read ({exc.strerror})"
        if hashlib.sha256(data).hexdigest() != recorded_sha:
            return None, f"engine {engine} is truncated or corrupt (sha256 mismatch)"
        return data, f"cached engine {engine}"

    def store(self, key: EngineKey, data: bytes) -> Path:
        """Write the engine, then its sidecar, each atomically; return the engine's path."""
        engine = self.engine_path(key)
        atomic_write_bytes(engine, data)
        record = {
            "key": key.to_dict(),
            "engine_sha256": hashlib.sha256(data).hexdigest(),
            "engine_bytes": len(data),
        }
        atomic_write_bytes(self.sidecar_path(key), json.dumps(record, indent=2).encode())
        return engine


def load_or_build(
    cache: EngineCache,
    key: EngineKey,
    build: Callable[[], bytes | memoryview],
    deserialize: Callable[[bytes], T | None],
    log: Callable[[str], None],
    force: bool = False,
) -> tuple[T, Path]:
    """The engine for ``key``: the cached one if it is valid and loads, else a fresh build.

    ``deserialize`` returns ``None`` or raises when an engine cannot be loaded
    (its message is logged as the reason for the rebuild); a ``ModelLoadError``
    from it ends the call, as a rebuild would not help. A fresh build that
    cannot be loaded raises ``RuntimeError``. The build runs under
    :meth:`EngineCache.build_lock`; whoever waited for it looks in the cache
    again before building. Without a writable cache folder, the ``OSError``
    says why a build was needed.
    """
    why, seen = "rebuild forced", None
    if not force:
        seen, why = cache.lookup(key)
        engine, why = _load(cache, key, seen, why, deserialize)
        if engine is not None:
            log(f"loaded {why}")
            return engine, cache.engine_path(key)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(cache.build_lock(key, log))
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror or exc}; needed to build: {why}") from exc
        if not force:  # another process may have stored a new engine meanwhile
            data, new_why = cache.lookup(key)
            if data is not None and data != seen:
                engine, why = _load(cache, key, data, new_why, deserialize)
                if engine is not None:
                    log(f"loaded {why} (built by another process meanwhile)")
                    return engine, cache.engine_path(key)
        log(f"building TensorRT engine: {why}; this takes a while once per model, GPU and "
            "TensorRT version")
        fresh = bytes(build())
        path = cache.store(key, fresh)
    engine, reason = _try_deserialize(deserialize, fresh)
    if engine is None:
        raise RuntimeError(
            f"the freshly built engine {path} cannot be deserialised ({reason}); usually too "
            "little free GPU memory: free GPU memory (other processes on this GPU) and start "
            "again, or use backend onnxruntime"
        )
    log(f"built and cached {path}")
    return engine, path


def _load(
    cache: EngineCache, key: EngineKey, data: bytes | None, why: str,
    deserialize: Callable[[bytes], T | None],
) -> tuple[T | None, str]:
    if data is None:
        return None, why
    engine, reason = _try_deserialize(deserialize, data)
    if engine is None:
        return None, f"cached engine {cache.engine_path(key)} failed to deserialise ({reason})"
    return engine, why


def _try_deserialize(deserialize: Callable[[bytes], T | None], data: bytes
                     ) -> tuple[T | None, str]:
    """``(engine, "")``, or ``(None, why not)``; a ``ModelLoadError`` propagates."""
    try:
        engine = deserialize(data)
    except ModelLoadError:
        raise
    except Exception as exc:  # TensorRT raises several types for engines it rejects
        return None, str(exc) or type(exc).__name__
    return engine, "" if engine is not None else "TensorRT returned no engine"
