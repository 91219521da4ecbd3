"""Which launch file ros2 launch was given: its package's share folder, links and all."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("launch_ros")


def test_a_file_of_a_symlink_install_lies_in_its_packages_share(tmp_path, monkeypatch):
    from fanet_ros.launching.launch_actions import _in_share_of

    prefix, source = tmp_path / "install", tmp_path / "src" / "pkgx" / "launch"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "pkgx").write_text("")
    (prefix / "share" / "pkgx" / "launch").mkdir(parents=True)
    source.mkdir(parents=True)
    (source / "x.launch.py").write_text("")
    installed = prefix / "share" / "pkgx" / "launch" / "x.launch.py"
    installed.symlink_to(source / "x.launch.py")  # colcon build --symlink-install
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert _in_share_of("pkgx", installed)
    assert not _in_share_of("pkgx", source / "x.launch.py")  # the source tree itself: no
    assert not _in_share_of("no_such_package", installed)
    assert not _in_share_of("pkgx", Path("/elsewhere/x.launch.py"))
