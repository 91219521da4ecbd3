"""The Python packages rosdep does not install (requirements.txt): named, with the command
that installs them, before an import deep in the package fails with a bare traceback."""

from __future__ import annotations

import importlib.util

INSTALL = "pip install -r $(ros2 pkg prefix fanet_ros)/share/fanet_ros/requirements.txt"
"""requirements.txt is installed beside package.xml (in a checkout: its root)."""


def require_pip_packages(*modules: str) -> None:
    """Raise ``ModuleNotFoundError`` naming every missing module of ``modules`` and the fix."""
    missing = [name for name in modules if not _findable(name)]
    if missing:
        raise ModuleNotFoundError(
            f"fanet_ros needs the Python package{'s' * (len(missing) > 1)} "
            f"{', '.join(missing)}, which rosdep does not install: {INSTALL}",
            name=missing[0])


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken install
        return False
