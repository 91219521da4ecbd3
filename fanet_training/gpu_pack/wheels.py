"""The wheels of a GPU pack: Keras and the small wheels it needs that a torch/JAX box may lack.

Three sources, all ending in one folder of ``.whl`` files for the target Python:
- :func:`download`: ``pip download --no-deps --only-binary=:all:`` for the target
  Python version and manylinux platform (needs an index),
- :func:`pick_from_folder`: wheels already downloaded (offline),
- :func:`repack_installed`: the running interpreter's installed distributions
  zipped back into wheels (offline; only for a target with the same Python).

``always`` wheels (Keras and what only Keras uses) are installed on the box even
when it has the module, so the tested versions win; the others only when the
box lacks the module. NumPy and OpenCV are not shipped: they must match the
box's own builds (and OpenCV alone would take most of the 64 MiB).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version


class WheelError(RuntimeError):
    """A wheel that cannot be found, downloaded or repacked; the message says which."""


@dataclass(frozen=True)
class WheelSpec:
    distribution: str
    """Name on PyPI."""
    module: str
    """Import name, checked on the box."""
    always: bool
    """Install even when the box has the module (and the pack fails without it)."""


WHEELS = (
    WheelSpec("keras", "keras", True),
    WheelSpec("namex", "namex", True),
    WheelSpec("optree", "optree", True),
    WheelSpec("absl-py", "absl", False),
    WheelSpec("rich", "rich", False),
    WheelSpec("markdown-it-py", "markdown_it", False),
    WheelSpec("mdurl", "mdurl", False),
    WheelSpec("pygments", "pygments", False),
    WheelSpec("packaging", "packaging", False),
    WheelSpec("typing-extensions", "typing_extensions", False),
    WheelSpec("h5py", "h5py", False),
    WheelSpec("ml-dtypes", "ml_dtypes", False),
)


@dataclass(frozen=True)
class PackedWheel:
    """One wheel in the pack, as ``wheels/manifest.json`` lists it."""

    file: str
    distribution: str
    version: str
    module: str
    always: bool

    def to_dict(self) -> dict:
        return asdict(self)


def canonical_name(name: str) -> str:
    """``ml-dtypes``, ``ml_dtypes`` and ``ML.dtypes`` -> ``ml_dtypes`` (wheel file spelling)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def platforms(arch: str) -> list[str]:
    """manylinux platform tags pip may pick for ``arch`` (newest first)."""
    return [f"manylinux_2_28_{arch}", f"manylinux_2_17_{arch}", f"manylinux2014_{arch}"]


def parse_wheel_name(filename: str) -> tuple[str, str, list[str], list[str], list[str]]:
    """``name, version, python tags, abi tags, platform tags`` of a wheel file name."""
    parts = filename[:-len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise WheelError(f"'{filename}' is not a wheel file name")
    name, version, python, abi, platform = parts[0], parts[1], *parts[-3:]
    return name, version, python.split("."), abi.split("."), platform.split(".")


def is_compatible(filename: str, python_version: str, arch: str) -> bool:
    """Whether the wheel installs on CPython ``python_version`` (``3.12``) on Linux ``arch``."""
    _, _, pythons, abis, plats = parse_wheel_name(filename)
    major, minor = (int(x) for x in python_version.split(".")[:2])
    cp = f"cp{major}{minor}"
    platform_ok = any(p == "any" or (p.startswith("manylinux") and p.endswith(f"_{arch}"))
                      for p in plats)
    if not platform_ok:
        return False
    if "abi3" in abis:
        return any(p.startswith(f"cp{major}") and int(p[3:] or 0) <= minor for p in pythons)
    return any(p in (f"py{major}", f"py{major}{minor}", cp) for p in pythons) and any(
        a in ("none", cp) for a in abis)


def _version_key(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def pick_from_folder(folder: Path, spec: WheelSpec, python_version: str, arch: str,
                     version: str | None = None) -> Path | None:
    """The newest compatible wheel of ``spec`` in ``folder`` (of ``version`` if given)."""
    found = []
    for path in folder.glob("*.whl"):
        name, wheel_version, *_ = parse_wheel_name(path.name)
        if canonical_name(name) != canonical_name(spec.distribution):
            continue
        if version and wheel_version != version:
            continue
        if is_compatible(path.name, python_version, arch):
            found.append((_version_key(wheel_version), path))
    return max(found)[1] if found else None


def download(spec: WheelSpec, dest: Path, python_version: str, arch: str,
             version: str | None = None) -> Path:
    """``pip download`` one wheel of ``spec`` for the target into ``dest``."""
    requirement = f"{spec.distribution}=={version}" if version else spec.distribution
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--python-version", python_version, "--implementation", "cp",
                   *[f"--platform={p}" for p in platforms(arch)], "--dest", tmp, requirement]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode or len(wheels) != 1:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise WheelError(f"pip download {requirement} for Python {python_version} {arch} "
                             f"failed: {' / '.join(tail)}")
        return Path(shutil.copy2(wheels[0], dest))


def repack_installed(spec: WheelSpec, dest: Path) -> Path:
    """Zip the running interpreter's installed ``spec`` back into a wheel in ``dest``.

    Takes the files its ``RECORD`` lists inside site-packages (no byte code, no
    scripts outside it) and writes a fresh ``RECORD`` with their hashes.
    """
    try:
        dist = metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError:
        raise WheelError(f"'{spec.distribution}' is not installed in {sys.prefix}") from None
    wheel_info = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_info.splitlines()
            if line.startswith("Tag:")]
    if not tags or dist.files is None:
        raise WheelError(f"installed '{spec.distribution}' has no WHEEL tags or RECORD to repack")
    name, version = canonical_name(dist.metadata["Name"]), dist.version
    info_dir = next(f.parts[0] for f in dist.files if f.parts[0].endswith(".dist-info"))
    skipped = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    path = dest / f"{name}-{version}-{tags[0]}.whl"
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files:
            parts = file.parts
            if ".." in parts or "__pycache__" in parts or file.suffix == ".pyc" or (
                    parts[0] == info_dir and parts[-1] in skipped):
                continue
            data = Path(dist.locate_file(file)).read_bytes()
            archive.writestr(file.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append((file.as_posix(), f"sha256={digest.decode()}", str(len(data))))
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([*records, (f"{info_dir}/RECORD", "", "")])
        archive.writestr(f"{info_dir}/RECORD", text.getvalue())
    return path


def collect(dest: Path, python_version: str, arch: str, wheels_dir: Path | None = None,
            from_installed: bool = False, keras_version: str | None = None,
            log=print) -> list[PackedWheel]:
    """Put every wheel of :data:`WHEELS` for the target into ``dest``.

    A missing ``always`` wheel raises :class:`WheelError`; a missing optional one
    is left out with a message (the box then needs that module itself).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if from_installed:
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        if python_version != running:
            raise WheelError(f"--wheels-from-installed repacks this Python {running}'s wheels; "
                             f"the target is {python_version}: use --wheels DIR or download")
    packed = []
    for spec in WHEELS:
        version = keras_version if spec.distribution == "keras" else None
        try:
            if wheels_dir is not None:
                path = pick_from_folder(wheels_dir, spec, python_version, arch, version)
                if path is None:
                    raise WheelError(
                        f"no {spec.distribution}{'==' + version if version else ''} wheel for "
                        f"Python {python_version} {arch} in '{wheels_dir}'")
                path = Path(shutil.copy2(path, dest))
            elif from_installed:
                path = repack_installed(spec, dest)
            else:
                path = download(spec, dest, python_version, arch, version)
        except WheelError as exc:
            if spec.always:
                raise
            log(f"left out {spec.distribution} (the GPU box must have '{spec.module}'): {exc}")
            continue
        _, wheel_version, *_ = parse_wheel_name(path.name)
        packed.append(PackedWheel(path.name, spec.distribution, wheel_version, spec.module,
                                  spec.always))
    return packed


def installed_version(distribution: str) -> str | None:
    """Version of ``distribution`` in the running interpreter, if installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
